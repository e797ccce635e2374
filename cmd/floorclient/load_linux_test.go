//go:build linux

package main

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/llmload/llmload/cmd/internal/instant"
)

func TestComplete(t *testing.T) {
	head := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n"
	for _, tt := range []struct {
		in      string
		whole   bool
		errPart string
	}{
		{head + "hello", true, ""},
		{head + "hel", false, ""},
		{head[:20], false, ""},
		{strings.Replace(head, "Content-Length", "content-length", 1) + "hello", true, ""},
		{"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", false, "503"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello", false, "Content-Length"},
	} {
		whole, err := complete([]byte(tt.in))
		if whole != tt.whole || (err == nil) != (tt.errPart == "") || (err != nil && !strings.Contains(err.Error(), tt.errPart)) {
			t.Errorf("%q: %v, %v", tt.in, whole, err)
		}
	}
}

// TestLoad runs the floor client against the instant server: every request completes.
func TestLoad(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- instant.NewServer(instant.Config{}).Serve(ctx, ln) }()
	defer func() {
		cancel()
		<-done
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	req := []byte("POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n" + `{"stream":false}` + "\n")
	n, err := load(host, port, req, 4, 1000)
	if err != nil || n != 1000 {
		t.Fatalf("%d requests: %v", n, err)
	}
	if _, err := load("10.0.0.1", port, req, 1, 1); err == nil {
		t.Error("a non-loopback host was accepted")
	}
}

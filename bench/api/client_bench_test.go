package api

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchServer answers every request on a connection at once with reply, reading requests
// into one buffer: it allocates nothing per request, so a benchmark's allocations are the
// client's.
func benchServer(b *testing.B, reply string) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	out := []byte(reply)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				have := 0
				for {
					n, err := c.Read(buf[have:])
					if err != nil {
						return
					}
					have += n
					for {
						end := bytes.Index(buf[:have], []byte("\r\n\r\n"))
						if end < 0 {
							break
						}
						size := end + 4
						if i := bytes.Index(buf[:end], []byte("Content-Length: ")); i >= 0 {
							j := i + len("Content-Length: ")
							k := j + bytes.IndexByte(buf[j:end+2], '\r')
							cl, _ := strconv.Atoi(string(buf[j:k]))
							size += cl
						}
						if have < size {
							break
						}
						if _, err := c.Write(out); err != nil {
							return
						}
						have = copy(buf, buf[size:have])
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func benchDo(b *testing.B, reply string, stream bool) {
	c := New(Config{BaseURL: benchServer(b, reply), MaxConns: 1, TotalTimeout: time.Minute, FirstByteTimeout: time.Minute, StallTimeout: time.Minute})
	if c.Sender().Name != SenderOwn {
		b.Fatalf("sender %+v", c.Sender())
	}
	req := &Request{API: OllamaGenerate, Model: "m", Prompt: "hi", MaxTokens: 8, Stream: stream}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if rec := c.Do(ctx, req); !rec.OK() {
			b.Fatalf("%s: %s", rec.Class, rec.Error)
		}
	}
}

// BenchmarkClientDo is one stream:false request on the own path against a server in this
// process that answers at once; allocations per op are the client's per request.
func BenchmarkClientDo(b *testing.B) {
	benchDo(b, jsonReply("HTTP/1.1", ""), false)
}

// BenchmarkClientDoStream is one streamed request of 8 chunks.
func BenchmarkClientDoStream(b *testing.B) {
	var body strings.Builder
	for range 8 {
		body.WriteString(`{"response":"a","done":false}` + "\n")
	}
	body.WriteString(`{"response":"","done":true,"done_reason":"length","eval_count":8,"total_duration":5}` + "\n")
	reply := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n%s", body.Len(), body.String())
	benchDo(b, reply, true)
}

package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
)

// ndjsonServer answers Ollama generate requests with a two-chunk stream (chunked, no
// "Connection: close"); with closeAfter it then drops the connection, as llama-server does after
// a stream.
func ndjsonServer(t *testing.T, closeAfter bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	body := `{"response":"a","done":false}` + "\n" + `{"response":"","done":true,"done_reason":"stop","eval_count":1}` + "\n"
	reply := "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n" +
		fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, r.Body)
					if _, err := io.WriteString(c, reply); err != nil || closeAfter {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestKeepAliveClosingServer(t *testing.T) {
	for _, closing := range []bool{true, false} {
		t.Run(fmt.Sprintf("closes=%v", closing), func(t *testing.T) {
			url := ndjsonServer(t, closing)
			client := api.New(api.Config{BaseURL: url, MaxConns: 4})
			w := prepared(t, results.Stage{Concurrency: 1, Requests: 12}, results.Stage{Concurrency: 2, Requests: 12}, results.Stage{Concurrency: 4, Requests: 12})
			run, err := RunPlan(context.Background(), w, client, Options{})
			if err != nil {
				t.Fatal(err)
			}
			fresh, reconnects := 0, 0
			for _, s := range run.Stages {
				if s.Requests.OK != 12 {
					t.Errorf("stage %s: %d of 12 ok: %v", s.Name, s.Requests.OK, s.Requests.ErrorSamples)
				}
				fresh += s.Client.NewConnections
				reconnects += s.Client.Reconnects
			}
			noted := strings.Contains(strings.Join(run.Notes, "\n"), "closes keep-alive connections")
			if closing {
				if fresh != 36 || !noted {
					t.Errorf("%d of 36 requests on new connections, noted %v: %q", fresh, noted, run.Notes)
				}
			} else if fresh > 4 || reconnects > 0 || noted {
				t.Errorf("a server that keeps connections: %d new connections, %d reconnects, notes %q", fresh, reconnects, run.Notes)
			}
			t.Logf("new connections %d, reconnects %d", fresh, reconnects)
		})
	}
}

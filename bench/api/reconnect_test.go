package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// closeAfterStream is llama-server's habit (SERVERS.md): a streamed reply, chunked, with no
// "Connection: close", and then the connection is closed. requests counts the requests the
// server read.
func closeAfterStream(requests *atomic.Int32) func(net.Conn, *bufio.Reader) {
	body := `data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}` + "\n\n" +
		`data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}` + "\n\n" +
		"data: [DONE]\n\n"
	reply := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
		fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	return func(c net.Conn, br *bufio.Reader) {
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		requests.Add(1)
		_, _ = io.WriteString(c, reply)
	}
}

func TestServerClosesAfterEveryReply(t *testing.T) {
	for _, path := range []string{"own", "net/http"} {
		t.Run(path, func(t *testing.T) {
			var requests atomic.Int32
			srv := newRawServer(t, closeAfterStream(&requests))
			url := srv.URL
			if path == "net/http" {
				url = strings.Replace(url, "http://", "http://user:secret@", 1) // credentials: net/http carries it
			}
			c := rawClient(url)
			const n = 20
			reconnected := 0
			for i := range n {
				rec := c.Do(context.Background(), &Request{API: OpenAIChat, Model: "m", Stream: true})
				checkRecord(t, rec)
				if !rec.OK() {
					t.Fatalf("request %d: class %s: %q", i, rec.Class, rec.Error)
				}
				if !rec.NewConn {
					t.Errorf("request %d went out on a kept-alive connection of a server that closes them", i)
				}
				if rec.Reconnected {
					reconnected++
				}
			}
			if got := requests.Load(); got != n {
				t.Errorf("the server read %d requests, want %d: a request sent again must not reach it twice", got, n)
			}
			if got := srv.conns.Load(); got != n {
				t.Errorf("%d connections for %d requests", got, n)
			}
			t.Logf("%s path: %d of %d requests found their kept-alive connection closed and were sent again", path, reconnected, n)
		})
	}
}

// A failure that is not a stale connection is the request's outcome: nothing is sent again.
func TestNoReconnectAfterAReplyBegan(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reply func(n int) string // "" closes without a word
	}{
		// The second request, on the kept-alive connection, gets part of a head: a reply began.
		{"partial head on a reused connection", func(n int) string {
			if n == 1 {
				return jsonReply("HTTP/1.1", "")
			}
			return "HTTP/1.1 200 OK\r\nContent-Ty"
		}},
		// The first request is on a new connection: an EOF there is the server's doing.
		{"EOF on a new connection", func(int) string { return "" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int32
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				for {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, r.Body)
					out := tt.reply(int(requests.Add(1)))
					if out == "" || !strings.HasSuffix(out, okJSON) {
						_, _ = io.WriteString(c, out)
						return
					}
					_, _ = io.WriteString(c, out)
				}
			})
			c := rawClient(srv.URL)
			var last *Record
			for range 2 {
				last = c.Do(context.Background(), &Request{API: OllamaGenerate, Model: "m"})
				checkRecord(t, last)
				if !last.OK() {
					break
				}
			}
			if last.OK() || last.Class != ClassNetwork || last.Reconnected {
				t.Errorf("class %s, reconnected %v: %q; want a network error, not sent again", last.Class, last.Reconnected, last.Error)
			}
			if got, want := requests.Load(), int32(1+strings.Count(tt.name, "reused")); got != want {
				t.Errorf("the server read %d requests, want %d", got, want)
			}
		})
	}
}

// A llama-server stream cut after its timings chunk but before [DONE] is truncated, and its
// timings are not kept: no figure comes from a reply that did not complete.
func TestTimingsOfATruncatedStreamAreDropped(t *testing.T) {
	body := `data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}` + "\n\n" +
		`data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1},"timings":{"prompt_n":3,"prompt_ms":1.5,"predicted_n":1,"predicted_ms":2.5,"cache_n":0}}` + "\n\n"
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"+body)
	})
	rec := rawClient(srv.URL).Do(context.Background(), &Request{API: OpenAIChat, Model: "m", Stream: true})
	checkRecord(t, rec)
	if rec.Class != ClassTruncated || rec.Server != nil {
		t.Errorf("class %s, server timings %+v; want truncated without timings", rec.Class, rec.Server)
	}
}

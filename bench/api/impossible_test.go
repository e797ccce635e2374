package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Counts and durations no server measured are refused as malformed, alike on both protocols:
// summed over a run they would wrap (−28.6 tok/s) or make a share absurd.
func TestImpossibleFiguresAreMalformed(t *testing.T) {
	text := `{"response":"a","done":false}` + "\n"
	sse := func(s string) string { return "data: " + s + "\n\n" }
	delta := sse(`{"choices":[{"index":0,"delta":{"content":"a"}}]}`)
	for _, tt := range []struct {
		name, ctype string
		api         API
		body        string
		errHas      string
	}{
		{"huge eval_count", "application/x-ndjson", OllamaGenerate,
			text + `{"done":true,"total_duration":1000,"eval_count":9223372036854775807}` + "\n", "eval_count 9223372036854775807 is not a token count"},
		{"negative load_duration", "application/x-ndjson", OllamaGenerate,
			text + `{"done":true,"total_duration":1000,"load_duration":-5,"eval_count":1}` + "\n", "load_duration -5 ns"},
		{"a total of a year", "application/x-ndjson", OllamaChat,
			`{"message":{"content":"a"},"done":false}` + "\n" + `{"done":true,"total_duration":31536000000000000,"eval_count":1}` + "\n", "total_duration"},
		{"huge completion_tokens", "text/event-stream", OpenAIChat,
			delta + sse(`{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":9223372036854775807}}`) + "data: [DONE]\n\n", "usage.completion_tokens is not a token count"},
		{"negative prompt_tokens", "text/event-stream", OpenAICompletions,
			sse(`{"choices":[{"text":"a"}],"usage":{"prompt_tokens":-2,"completion_tokens":1}}`) + "data: [DONE]\n\n", "usage.prompt_tokens"},
		{"negative timings", "text/event-stream", OpenAIChat,
			delta + sse(`{"choices":[],"timings":{"prompt_n":1,"prompt_ms":-4,"predicted_n":1,"predicted_ms":2}}`) + "data: [DONE]\n\n", "timings: prompt_ms -4"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := streamServer(t, tt.ctype, []string{tt.body}, 0)
			rec := testClient(srv).Do(context.Background(), &Request{API: tt.api, Model: "m", Stream: true})
			checkRecord(t, rec)
			if rec.Class != ClassMalformed || !strings.Contains(rec.Error, tt.errHas) {
				t.Errorf("class %s: %q; want malformed naming %q", rec.Class, rec.Error, tt.errHas)
			}
		})
	}
}

// A reply that reached its end marker is done: a server that then goes silent (a
// Content-Length longer than the body, [DONE] on a chunked stream left open) does not hold the
// worker for the stall timeout, and the connection is not reused.
func TestSilenceAfterTheEndMarker(t *testing.T) {
	final := `{"response":"","done":true,"done_reason":"stop","total_duration":5,"eval_count":1}` + "\n"
	for _, tt := range []struct{ name, head, body string }{
		{"content length too long", "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nContent-Length: 9999\r\n\r\n",
			`{"response":"a","done":false}` + "\n" + final},
		{"chunked stream left open", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
			fmt.Sprintf("%x\r\n%s\r\n", len("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n"), "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n")},
	} {
		for _, path := range []string{"own", "net/http"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				hold := make(chan struct{})
				defer close(hold)
				srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					_, _ = io.WriteString(c, tt.head+tt.body)
					<-hold // and nothing more
				})
				url := srv.URL
				if path == "net/http" {
					url = strings.Replace(url, "http://", "http://u:p@", 1)
				}
				const stall = 10 * time.Second
				c := rawClient(url, func(cfg *Config) { cfg.StallTimeout = stall })
				api := OllamaGenerate
				if strings.Contains(tt.head, "event-stream") {
					api = OpenAIChat
				}
				start := time.Now()
				rec := c.Do(context.Background(), &Request{API: api, Model: "m", Stream: true})
				took := time.Since(start)
				checkRecord(t, rec)
				if !rec.OK() || took > stall/4 {
					t.Errorf("class %s (%q) after %v; want ok well within the %v stall timeout", rec.Class, rec.Error, took, stall)
				}
				if rec.Done > time.Second {
					t.Errorf("the reply's own time %v counts the silence", rec.Done)
				}
				// The next request does not reuse the connection left mid-body.
				rec = c.Do(context.Background(), &Request{API: api, Model: "m", Stream: true})
				if !rec.OK() || srv.conns.Load() != 2 {
					t.Errorf("second request: class %s, %d connections (want 2)", rec.Class, srv.conns.Load())
				}
			})
		}
	}
}

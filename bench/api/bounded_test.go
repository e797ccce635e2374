package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// endless writes the head, then repeats unit until the client goes.
func endless(t *testing.T, head, unit string) *rawServer {
	return newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		if _, err := io.WriteString(c, head); err != nil {
			return
		}
		chunk := strings.Repeat(unit, max(1, 64<<10/len(unit)))
		for {
			if _, err := io.WriteString(c, chunk); err != nil {
				return
			}
		}
	})
}

// A server that never ends a line, an SSE event or a document fails the request as malformed at
// the limit, and one request's allocations stay under 64 MiB at the default limit.
func TestRepliesAreBounded(t *testing.T) {
	plain := "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nConnection: close\r\n\r\n"
	for _, tt := range []struct {
		name, head, unit string
		api              API
		stream           bool
		errHas           string
	}{
		{"a line without end", fmt.Sprintf(plain, "application/x-ndjson"), "a", OllamaGenerate, true, "a line of the reply longer than the 8 MiB limit"},
		{"data lines without a blank line", fmt.Sprintf(plain, "text/event-stream"), "data: x\n", OpenAIChat, true, "an event of the stream longer than the 8 MiB limit"},
		{"a document without end", fmt.Sprintf(plain, "application/json"), `{"a":1}` + "\n", OllamaGenerate, false, "the reply longer than the 8 MiB limit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := endless(t, tt.head, tt.unit)
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			base := ms.HeapAlloc
			// The heap's peak while the request runs, sampled: what the request holds at once.
			stop, peak := make(chan struct{}), make(chan uint64)
			go func() {
				var top uint64
				for {
					runtime.ReadMemStats(&ms)
					top = max(top, ms.HeapAlloc)
					select {
					case <-stop:
						peak <- top
						return
					case <-time.After(2 * time.Millisecond):
					}
				}
			}()
			rec := rawClient(srv.URL).Do(context.Background(), &Request{API: tt.api, Model: "m", Stream: tt.stream})
			close(stop)
			held := (<-peak - base) >> 20
			checkRecord(t, rec)
			if rec.Class != ClassMalformed || !strings.Contains(rec.Error, tt.errHas) {
				t.Errorf("class %s: %q; want malformed naming %q", rec.Class, rec.Error, tt.errHas)
			}
			if held >= 64 {
				t.Errorf("one request held up to %d MiB, want under 64", held)
			}
			t.Logf("peak heap during the request: %d MiB over the start", held)
		})
	}
}

// An endless stream of valid chunks keeps a bounded number of arrival times; every chunk is
// still counted.
func TestTokenTimesAreBounded(t *testing.T) {
	const n = MaxTokenTimes + 5000
	chunk := `{"response":"a","done":false}` + "\n"
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		w := bufio.NewWriterSize(c, 64<<10)
		fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n")
		for range n {
			_, _ = w.WriteString(chunk)
		}
		_, _ = w.WriteString(`{"response":"","done":true,"done_reason":"stop","total_duration":1,"eval_count":` + fmt.Sprint(n) + "}\n")
		_ = w.Flush()
	})
	rec := rawClient(srv.URL).Do(context.Background(), &Request{API: OllamaGenerate, Model: "m", Stream: true})
	checkRecord(t, rec)
	if !rec.OK() || rec.Chunks != n || len(rec.TokenTimes) != MaxTokenTimes || rec.OutputTokens != n {
		t.Errorf("class %s, %d chunks, %d times, %d tokens; want ok, %d, %d, %d", rec.Class, rec.Chunks, len(rec.TokenTimes), rec.OutputTokens, n, MaxTokenTimes, n)
	}
}

package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// testClient is a Client of srv as a run makes one; set, if any, changes its Config first.
func testClient(srv *httptest.Server, set ...func(*Config)) *Client {
	return rawClient(srv.URL, set...)
}

// checkRecord asserts what holds for every record whatever its class.
func checkRecord(t *testing.T, rec *Record) {
	t.Helper()
	if rec == nil {
		t.Fatal("nil record")
	}
	if rec.Sent.IsZero() {
		t.Error("Sent not set")
	}
	if rec.Headers < 0 || rec.FirstByte < 0 || rec.FirstToken < 0 || rec.Done < 0 {
		t.Errorf("negative offset: headers %v first byte %v first token %v done %v", rec.Headers, rec.FirstByte, rec.FirstToken, rec.Done)
	}
	if rec.FirstToken > rec.Done {
		t.Errorf("FirstToken %v after Done %v", rec.FirstToken, rec.Done)
	}
	if rec.FirstByte > rec.Done {
		t.Errorf("FirstByte %v after Done %v", rec.FirstByte, rec.Done)
	}
	if len(rec.TokenTimes) > 0 {
		if rec.FirstToken != rec.TokenTimes[0] {
			t.Errorf("FirstToken %v != TokenTimes[0] %v", rec.FirstToken, rec.TokenTimes[0])
		}
		if last := rec.TokenTimes[len(rec.TokenTimes)-1]; last > rec.Done {
			t.Errorf("last token %v after Done %v", last, rec.Done)
		}
	} else if rec.FirstToken != 0 {
		t.Errorf("FirstToken %v without token times", rec.FirstToken)
	}
	for i := 1; i < len(rec.TokenTimes); i++ {
		if rec.TokenTimes[i] < rec.TokenTimes[i-1] {
			t.Errorf("TokenTimes go back at %d: %v", i, rec.TokenTimes)
		}
	}
	if !rec.TokensFromServer && rec.OutputTokens != len(rec.TokenTimes) {
		t.Errorf("OutputTokens %d from chunks but %d token times", rec.OutputTokens, len(rec.TokenTimes))
	}
	if rec.Class != ClassOK && rec.Server != nil {
		t.Errorf("class %s with server timings", rec.Class)
	}
	if rec.Class == ClassOK && rec.Error != "" {
		t.Errorf("ok with error %q", rec.Error)
	}
	if rec.Class != ClassOK && rec.Error == "" {
		t.Errorf("class %s without error text", rec.Class)
	}
	if len(rec.Error) > maxErrorText {
		t.Errorf("error text %d bytes", len(rec.Error))
	}
}

func TestFixtures(t *testing.T) {
	type want = fixtureWant
	tests := []struct {
		file   string
		api    API
		stream bool
		want   want
	}{
		{"generate-stream.http", OllamaGenerate, true, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 8, prompt: 8, reason: "length", server: true, total: 40701538}},
		{"generate-nostream.http", OllamaGenerate, false, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 1, prompt: 8, reason: "length", server: true, total: 15077664}},
		{"chat-stream.http", OllamaChat, true, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 8, prompt: 8, reason: "length", server: true, total: 19294742}},
		{"chat-nostream.http", OllamaChat, false, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 1, prompt: 8, reason: "length", server: true, total: 11733011}},
		{"generate-truncated-stream.http", OllamaGenerate, true, want{class: ClassTruncated, status: 200, tokens: 40, times: 40, errHas: "done:true"}},
		{"generate-truncated-nostream.http", OllamaGenerate, false, want{class: ClassTruncated, status: 200, tokens: 1, times: 1, errHas: `"done": false`}},
		{"preload.http", OllamaGenerate, true, want{class: ClassOK, status: 200, reason: "load"}},
		{"unload.http", OllamaGenerate, false, want{class: ClassOK, status: 200, reason: "unload"}},
		{"generate-unknown-model.http", OllamaGenerate, true, want{class: ClassNotFound, status: 404, errHas: "HTTP 404: model 'no-such-model' not found"}},
		{"chat-unknown-model.http", OllamaChat, true, want{class: ClassNotFound, status: 404, errHas: "model 'no-such-model' not found"}},
		{"generate-bad-json.http", OllamaGenerate, true, want{class: ClassBadRequest, status: 400, errHas: "HTTP 400: unexpected EOF"}},
		{"generate-503-queue-full.http", OllamaGenerate, true, want{class: ClassBusy, status: 503, errHas: "server busy, please try again.  maximum pending"}},
		{"openai-chat-stream.http", OpenAIChat, true, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 8, prompt: 8, reason: "length"}},
		{"openai-chat-nostream.http", OpenAIChat, false, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 1, prompt: 8, reason: "length"}},
		{"openai-completions-stream.http", OpenAICompletions, true, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 8, prompt: 8, reason: "length"}},
		{"openai-unknown-model.http", OpenAIChat, true, want{class: ClassNotFound, status: 404, errHas: "HTTP 404: model 'no-such-model' not found"}},
		{"openai-bad-json.http", OpenAIChat, true, want{class: ClassBadRequest, status: 400, errHas: "HTTP 400: unexpected EOF"}},
		{"openai-503-queue-full.http", OpenAIChat, true, want{class: ClassBusy, status: 503, errHas: "HTTP 503: server busy"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			checkFixture(t, loadFixture(t, tt.file), tt.api, tt.stream, tt.want)
		})
	}
}

// TestRequestOnTheWire checks what a server receives: path, body, headers, no gzip.
func TestRequestOnTheWire(t *testing.T) {
	type seen struct {
		path, ctype, encoding, auth string
		body                        string
	}
	got := make(chan seen, 1)
	f := loadFixture(t, "generate-stream.http")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Accept-Encoding"), r.Header.Get("Authorization"), string(b)}
		w.Header().Set("Content-Type", "application/x-ndjson")
		_, _ = w.Write(f.body)
	}))
	defer srv.Close()
	c := testClient(srv, func(cfg *Config) {
		cfg.BaseURL += "/v1/" // as OpenAI clients are often configured
		cfg.Header = http.Header{"Authorization": {"Bearer sk-test-secret"}}
	})
	req := &Request{API: OllamaGenerate, Model: "m", Prompt: "p", Stream: true, MaxTokens: 8}
	rec := c.Do(context.Background(), req)
	if !rec.OK() {
		t.Fatalf("class %s: %s", rec.Class, rec.Error)
	}
	s := <-got
	want, _ := req.Body()
	if s.path != "/api/generate" || s.ctype != "application/json" || s.encoding != "" || s.auth != "Bearer sk-test-secret" || s.body != string(want) {
		t.Errorf("server saw %+v", s)
	}
}

func TestTokenTimesFollowArrivals(t *testing.T) {
	const gap = 50 * time.Millisecond
	const chunks = 5
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		fl := w.(http.Flusher)
		for i := range chunks {
			if i > 0 {
				time.Sleep(gap)
			}
			fmt.Fprintf(w, `{"response":"t%d","done":false}`+"\n", i)
			fl.Flush()
		}
		time.Sleep(gap)
		fmt.Fprint(w, `{"response":"","done":true,"done_reason":"stop","eval_count":5,"total_duration":1}`+"\n")
	}))
	defer srv.Close()
	rec := testClient(srv).Do(context.Background(), &Request{API: OllamaGenerate, Model: "m", Stream: true})
	checkRecord(t, rec)
	if !rec.OK() || len(rec.TokenTimes) != chunks {
		t.Fatalf("class %s, %d token times: %s", rec.Class, len(rec.TokenTimes), rec.Error)
	}
	var sum time.Duration
	for i := 1; i < chunks; i++ {
		d := rec.TokenTimes[i] - rec.TokenTimes[i-1]
		if d <= 0 {
			t.Errorf("TokenTimes not strictly increasing: %v", rec.TokenTimes)
		}
		// Generous: the scheduler may delay one chunk and hurry the next.
		if d < gap/5 || d > 20*gap {
			t.Errorf("gap %d = %v, slept %v", i, d, gap)
		}
		sum += d
	}
	if sum < (chunks-1)*gap*6/10 {
		t.Errorf("gaps add up to %v, slept %v", sum, (chunks-1)*gap)
	}
	if rec.Done-rec.TokenTimes[chunks-1] < gap/4 {
		t.Errorf("Done %v too close to the last token %v", rec.Done, rec.TokenTimes[chunks-1])
	}
}

func TestLongLine(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	for _, tt := range []struct {
		name, ctype, body string
		api               API
	}{
		{"ndjson", "application/x-ndjson", `{"response":"` + big + `","done":false}` + "\n" + `{"done":true,"eval_count":1,"total_duration":5}` + "\n", OllamaGenerate},
		{"sse", "text/event-stream", `data: {"choices":[{"delta":{"content":"` + big + `"}}]}` + "\n\ndata: [DONE]\n\n", OpenAIChat},
		{"json", "application/json", `{"response":"` + big + `","done":true,"done_reason":"stop","total_duration":7}`, OllamaGenerate},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.ctype)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			rec := testClient(srv).Do(context.Background(), &Request{API: tt.api, Model: "m", Stream: true})
			checkRecord(t, rec)
			if !rec.OK() || len(rec.TokenTimes) != 1 || rec.BytesIn != int64(len(tt.body)) {
				t.Fatalf("class %s, %d token times, %d bytes: %s", rec.Class, len(rec.TokenTimes), rec.BytesIn, rec.Error)
			}
		})
	}
}

// streamServer answers every request with the given content type and body lines, flushing
// each; then it holds the connection for hold, or until the test ends.
func streamServer(t *testing.T, ctype string, lines []string, hold time.Duration) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(http.StatusOK)
		fl := w.(http.Flusher)
		fl.Flush()
		for _, l := range lines {
			_, _ = io.WriteString(w, l)
			fl.Flush()
		}
		select {
		case <-time.After(hold):
		case <-done:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv
}

// silentServer accepts requests and never answers, like a server holding them in its queue.
func silentServer(t *testing.T) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv
}

func TestBodyFailures(t *testing.T) {
	const ndjson, sse = "application/x-ndjson", "text/event-stream"
	tests := []struct {
		name   string
		ctype  string
		api    API
		lines  []string
		class  Class
		times  int
		errHas string
	}{
		{"garbage line", ndjson, OllamaGenerate, []string{`{"response":"a","done":false}` + "\n", "<html>oops</html>\n", `{"response":"b","done":false}` + "\n"}, ClassMalformed, 1, "malformed chunk"},
		{"cut JSON line", ndjson, OllamaGenerate, []string{`{"response":"a","done":false}` + "\n", `{"response":"b","do` + "\n"}, ClassMalformed, 1, "malformed"},
		{"wrong type", ndjson, OllamaGenerate, []string{`{"response":5,"done":false}` + "\n"}, ClassMalformed, 0, "want a string"},
		{"error line", ndjson, OllamaGenerate, []string{`{"response":"a","done":false}` + "\n", `{"error":"an error was encountered while running the model: CUDA error"}` + "\n"}, ClassStreamError, 1, "error in stream: an error was encountered while running the model: CUDA error"},
		{"no done line", ndjson, OllamaChat, []string{`{"message":{"role":"assistant","content":"a"},"done":false}` + "\n"}, ClassTruncated, 1, "without a done:true line"},
		{"sse no DONE", sse, OpenAIChat, []string{"data: " + `{"choices":[{"delta":{"role":"assistant","content":"a"}}]}` + "\n\n", "data: " + `{"choices":[{"delta":{"role":"assistant","content":""}}]}` + "\n\n"}, ClassTruncated, 1, "without data: [DONE]"},
		{"sse error object", sse, OpenAIChat, []string{"data: " + `{"choices":[{"delta":{"content":"a"}}]}` + "\n\n", "data: " + `{"error":{"message":"boom","type":"server_error"}}` + "\n\n"}, ClassStreamError, 1, "error in stream: boom"},
		{"sse error event", sse, OpenAIChat, []string{"event: error\ndata: " + `{"message":"overloaded"}` + "\n\n"}, ClassStreamError, 0, "overloaded"},
		{"sse bare error line", sse, OpenAIChat, []string{`{"error":{"message":"bad things"}}` + "\n"}, ClassStreamError, 0, "bad things"},
		{"sse garbage data", sse, OpenAIChat, []string{"data: {nope}\n\n", "data: [DONE]\n\n"}, ClassMalformed, 0, "malformed"},
		{"empty 200", "application/json", OpenAIChat, nil, ClassTruncated, 0, "empty reply"},
		{"reply without choices", "application/json", OpenAIChat, []string{`{"id":"x"}`}, ClassMalformed, 0, "no choices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := streamServer(t, tt.ctype, tt.lines, 0)
			rec := testClient(srv).Do(context.Background(), &Request{API: tt.api, Model: "m", Stream: true})
			checkRecord(t, rec)
			if rec.Class != tt.class || len(rec.TokenTimes) != tt.times || !strings.Contains(rec.Error, tt.errHas) {
				t.Errorf("class %s, %d token times, error %q; want %s, %d, %q", rec.Class, len(rec.TokenTimes), rec.Error, tt.class, tt.times, tt.errHas)
			}
			if rec.Status != http.StatusOK {
				t.Errorf("status %d", rec.Status)
			}
		})
	}
}

func TestHTTPStatusClasses(t *testing.T) {
	tests := []struct {
		status int
		body   string
		class  Class
		errHas string
	}{
		{404, `{"error":"model 'x' not found"}`, ClassNotFound, "HTTP 404: model 'x' not found"},
		{400, `{"error":{"message":"bad","type":"invalid_request_error"}}`, ClassBadRequest, "HTTP 400: bad"},
		{503, `{"error":"server busy"}`, ClassBusy, "HTTP 503: server busy"},
		{429, `{"message":"slow down"}`, ClassHTTP4xx, "HTTP 429: slow down"},
		{401, ``, ClassHTTP4xx, "HTTP 401: Unauthorized"},
		{500, `{"error":"llama runner process has terminated: exit status 2"}`, ClassHTTP5xx, "HTTP 500: llama runner process has terminated"},
		{502, `<html>bad gateway</html>`, ClassHTTP5xx, "HTTP 502: <html>bad gateway</html>"},
		{304, ``, ClassRedirect, "HTTP 304"},
		{601, ``, ClassHTTPOther, "HTTP 601"},
		{500, `{"error":"` + strings.Repeat("é", 1000) + `"}`, ClassHTTP5xx, "HTTP 500: éé"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			rec := testClient(srv).Do(context.Background(), &Request{API: OllamaGenerate, Model: "m"})
			checkRecord(t, rec)
			if rec.Class != tt.class || rec.Status != tt.status || !strings.Contains(rec.Error, tt.errHas) {
				t.Errorf("class %s status %d error %q", rec.Class, rec.Status, rec.Error)
			}
			if !strings.HasSuffix(rec.Error, "…") && len(tt.body) > maxErrorText {
				t.Errorf("long error not marked as cut: %q", rec.Error)
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := New(Config{BaseURL: "http://" + addr, MaxConns: 1})
	rec := c.Do(context.Background(), &Request{API: OllamaGenerate, Model: "m", Stream: true})
	checkRecord(t, rec)
	if rec.Class != ClassConnRefused || !strings.Contains(rec.Error, "connection refused") {
		t.Errorf("class %s error %q", rec.Class, rec.Error)
	}
	// The discovery helpers fail cleanly too.
	if _, err := c.Version(context.Background()); err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Version: %v", err)
	}
}

// hijackServer runs fn on the raw connection of each request.
func hijackServer(t *testing.T, fn func(net.Conn, *bufio.ReadWriter)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fn(conn, rw)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestReset(t *testing.T) {
	tests := []struct {
		name  string
		fn    func(net.Conn, *bufio.ReadWriter)
		times int
	}{
		{"before headers", func(c net.Conn, _ *bufio.ReadWriter) {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // close with RST
			}
		}, 0},
		{"half a status line", func(c net.Conn, rw *bufio.ReadWriter) {
			_, _ = rw.WriteString("HTTP/1.1 20")
			_ = rw.Flush()
		}, 0},
		{"mid stream", func(c net.Conn, rw *bufio.ReadWriter) {
			_, _ = rw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n")
			line := `{"response":"a","done":false}` + "\n"
			fmt.Fprintf(rw, "%x\r\n%s\r\n", len(line), line)
			_ = rw.Flush()
			time.Sleep(20 * time.Millisecond)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := hijackServer(t, tt.fn)
			rec := testClient(srv).Do(context.Background(), &Request{API: OllamaGenerate, Model: "m", Stream: true})
			checkRecord(t, rec)
			if rec.Class != ClassNetwork || len(rec.TokenTimes) != tt.times {
				t.Errorf("class %s, %d token times, error %q", rec.Class, len(rec.TokenTimes), rec.Error)
			}
		})
	}
}

func TestTimeouts(t *testing.T) {
	const short = 100 * time.Millisecond
	chunk := `{"response":"a","done":false}` + "\n"
	t.Run("first byte", func(t *testing.T) {
		srv := silentServer(t) // Ollama sends headers only with the first chunk
		c := testClient(srv, func(cfg *Config) {
			cfg.FirstByteTimeout, cfg.StallTimeout, cfg.TotalTimeout = short, time.Minute, time.Minute
		})
		rec := c.Do(context.Background(), &Request{API: OllamaGenerate, Model: "m", Stream: true})
		checkRecord(t, rec)
		if rec.Class != ClassTimeoutFirstByte || rec.Done < short || rec.Done > 50*short {
			t.Errorf("class %s after %v: %q", rec.Class, rec.Done, rec.Error)
		}
	})
	t.Run("first byte after headers", func(t *testing.T) {
		srv := streamServer(t, "text/event-stream", nil, time.Minute) // headers, then nothing
		c := testClient(srv, func(cfg *Config) { cfg.FirstByteTimeout = short })
		rec := c.Do(context.Background(), &Request{API: OpenAIChat, Model: "m", Stream: true})
		checkRecord(t, rec)
		if rec.Class != ClassTimeoutFirstByte || rec.Status != 200 {
			t.Errorf("class %s status %d: %q", rec.Class, rec.Status, rec.Error)
		}
	})
	t.Run("stall", func(t *testing.T) {
		srv := streamServer(t, "application/x-ndjson", []string{chunk, chunk}, time.Minute)
		c := testClient(srv, func(cfg *Config) {
			cfg.FirstByteTimeout, cfg.StallTimeout, cfg.TotalTimeout = time.Minute, short, time.Minute
		})
		rec := c.Do(context.Background(), &Request{API: OllamaGenerate, Model: "m", Stream: true})
		checkRecord(t, rec)
		if rec.Class != ClassTimeoutStall || len(rec.TokenTimes) != 2 || rec.Done-rec.TokenTimes[1] < short {
			t.Errorf("class %s, %d token times, done %v: %q", rec.Class, len(rec.TokenTimes), rec.Done, rec.Error)
		}
		if !strings.Contains(rec.Error, "stalled") {
			t.Errorf("error %q", rec.Error)
		}
	})
	t.Run("steady stream outlives the stall timeout", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-ndjson")
			for range 8 {
				_, _ = io.WriteString(w, chunk)
				w.(http.Flusher).Flush()
				time.Sleep(short / 4)
			}
			_, _ = io.WriteString(w, `{"done":true}`+"\n")
		}))
		defer srv.Close()
		c := testClient(srv, func(cfg *Config) { cfg.StallTimeout = short })
		rec := c.Do(context.Background(), &Request{API: OllamaGenerate, Model: "m", Stream: true})
		checkRecord(t, rec)
		if !rec.OK() || len(rec.TokenTimes) != 8 || rec.Done < short {
			t.Errorf("class %s, %d token times: %q", rec.Class, len(rec.TokenTimes), rec.Error)
		}
	})
	t.Run("total", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-ndjson")
			for r.Context().Err() == nil {
				_, _ = io.WriteString(w, chunk)
				w.(http.Flusher).Flush()
				time.Sleep(10 * time.Millisecond)
			}
		}))
		defer srv.Close()
		c := testClient(srv, func(cfg *Config) {
			cfg.FirstByteTimeout, cfg.StallTimeout, cfg.TotalTimeout = time.Minute, time.Minute, short
		})
		rec := c.Do(context.Background(), &Request{API: OllamaGenerate, Model: "m", Stream: true})
		checkRecord(t, rec)
		if rec.Class != ClassTimeoutTotal || len(rec.TokenTimes) == 0 || rec.Done < short {
			t.Errorf("class %s, %d token times, done %v: %q", rec.Class, len(rec.TokenTimes), rec.Done, rec.Error)
		}
	})
}

func TestCancelIsNotTimeout(t *testing.T) {
	chunk := `{"response":"a","done":false}` + "\n"
	tests := []struct {
		name     string
		lines    []string
		timeouts [3]time.Duration // first byte, stall, total
		cancel   time.Duration    // caller cancels after; 0: never
		deadline time.Duration    // caller's deadline; 0: none
		class    Class
	}{
		{"caller cancels while queued", nil, [3]time.Duration{time.Minute, time.Minute, time.Minute}, 50 * time.Millisecond, 0, ClassCancelled},
		{"caller cancels mid-stream", []string{chunk}, [3]time.Duration{time.Minute, time.Minute, time.Minute}, 80 * time.Millisecond, 0, ClassCancelled},
		{"caller deadline", []string{chunk}, [3]time.Duration{time.Minute, time.Minute, time.Minute}, 0, 80 * time.Millisecond, ClassCancelled},
		{"timeout before caller cancels", []string{chunk}, [3]time.Duration{time.Minute, 50 * time.Millisecond, time.Minute}, 2 * time.Second, 0, ClassTimeoutStall},
		{"total timeout with a caller deadline later", []string{chunk}, [3]time.Duration{0, 0, 50 * time.Millisecond}, 0, 2 * time.Second, ClassTimeoutTotal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srv *httptest.Server
			if tt.lines == nil {
				srv = silentServer(t)
			} else {
				srv = streamServer(t, "application/x-ndjson", tt.lines, time.Minute)
			}
			c := testClient(srv, func(cfg *Config) {
				cfg.FirstByteTimeout, cfg.StallTimeout, cfg.TotalTimeout = tt.timeouts[0], tt.timeouts[1], tt.timeouts[2]
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.deadline > 0 {
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			if tt.cancel > 0 {
				time.AfterFunc(tt.cancel, cancel)
			}
			rec := c.Do(ctx, &Request{API: OllamaGenerate, Model: "m", Stream: true})
			checkRecord(t, rec)
			if rec.Class != tt.class || len(rec.TokenTimes) != len(tt.lines) {
				t.Errorf("class %s, %d token times: %q", rec.Class, len(rec.TokenTimes), rec.Error)
			}
		})
	}
}

func TestHeadersNeverLeak(t *testing.T) {
	const secret = "sk-live-0123456789abcdef"
	echo := func(r *http.Request) string { return r.Header.Get("Authorization") + " / " + r.Header.Get("X-Api-Key") }
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"error status echoing headers", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":"bad key %s"}`, echo(r))
		}},
		{"error line echoing headers", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-ndjson")
			fmt.Fprintf(w, `{"error":"bad key %s"}`+"\n", echo(r))
		}},
		{"garbage echoing headers", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-ndjson")
			fmt.Fprintf(w, "%s\n", echo(r))
		}},
		{"token only", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			_, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
			fmt.Fprintf(w, `{"error":"%s"}`, token)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c := testClient(srv, func(cfg *Config) {
				cfg.Header = http.Header{"Authorization": {"Bearer " + secret}, "X-Api-Key": {secret + "-2"}}
			})
			rec := c.Do(context.Background(), &Request{API: OllamaGenerate, Model: "m", Stream: true})
			checkRecord(t, rec)
			if rec.OK() {
				t.Fatal("want a failure")
			}
			if all := fmt.Sprintf("%+v", *rec); strings.Contains(all, secret) || strings.Contains(all, "Bearer") {
				t.Errorf("secret in record: %s", all)
			}
			if !strings.Contains(rec.Error, "[redacted]") {
				t.Errorf("error %q", rec.Error)
			}
			if _, err := c.Version(context.Background()); err == nil || strings.Contains(err.Error(), secret) {
				t.Errorf("Version error %v", err)
			}
		})
	}
}

func TestConnectionReuse(t *testing.T) {
	var conns atomic.Int32
	for _, file := range []string{"generate-stream.http", "openai-chat-stream.http", "chat-nostream.http", "generate-unknown-model.http"} {
		t.Run(file, func(t *testing.T) {
			conns.Store(0)
			srv := httptest.NewUnstartedServer(replayHandler(loadFixture(t, file), 0))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			defer srv.Close()
			c := testClient(srv)
			api := OllamaGenerate
			if strings.HasPrefix(file, "openai") {
				api = OpenAIChat
			}
			for range 5 {
				c.Do(context.Background(), &Request{API: api, Model: "m", Stream: true})
			}
			if n := conns.Load(); n != 1 {
				t.Errorf("%d connections for 5 sequential requests", n)
			}
		})
	}
}

func TestConcurrentRequests(t *testing.T) {
	srv := replay(t, loadFixture(t, "openai-chat-stream.http"), time.Millisecond)
	c := testClient(srv, func(cfg *Config) {
		cfg.StallTimeout, cfg.FirstByteTimeout, cfg.TotalTimeout = 5*time.Second, 5*time.Second, 10*time.Second
	})
	var wg sync.WaitGroup
	recs := make([]*Record, 16)
	for i := range recs {
		wg.Go(func() { recs[i] = c.Do(context.Background(), &Request{API: OpenAIChat, Model: "m", Stream: true}) })
	}
	wg.Wait()
	for _, rec := range recs {
		checkRecord(t, rec)
		if !rec.OK() || rec.OutputTokens != 8 {
			t.Errorf("class %s tokens %d: %q", rec.Class, rec.OutputTokens, rec.Error)
		}
	}
}

func TestRequestErrors(t *testing.T) {
	c := New(Config{BaseURL: "http://127.0.0.1:1"})
	for _, tt := range []struct {
		name string
		c    *Client
		req  *Request
	}{
		{"nil request", c, nil},
		{"unknown API", c, &Request{API: "grpc", Model: "m"}},
		{"options that are not JSON", c, &Request{API: OllamaGenerate, Options: map[string]any{"f": func() {}}}},
		{"bad base URL", New(Config{BaseURL: "http://user:hunter22@[::1"}), &Request{API: OllamaGenerate}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.c.Do(context.Background(), tt.req)
			checkRecord(t, rec)
			if rec.Class != ClassRequestError || strings.Contains(rec.Error, "hunter22") {
				t.Errorf("class %s error %q", rec.Class, rec.Error)
			}
		})
	}
}

// TestNoPooledClient checks a Client that keeps no connection (MaxConns 0): one-shot
// connections, still correct.
func TestNoPooledClient(t *testing.T) {
	srv := replay(t, loadFixture(t, "chat-stream.http"), 0)
	c := New(Config{BaseURL: srv.URL})
	for range 3 {
		rec := c.Do(context.Background(), &Request{API: OllamaChat, Model: "m", Stream: true})
		checkRecord(t, rec)
		if !rec.OK() {
			t.Fatalf("class %s: %s", rec.Class, rec.Error)
		}
	}
}

func TestNewTransport(t *testing.T) {
	tr := NewTransport(64)
	if tr.Proxy != nil || !tr.DisableCompression || tr.MaxConnsPerHost != 0 || tr.MaxIdleConnsPerHost < 64 ||
		tr.ForceAttemptHTTP2 || tr.Protocols == nil || tr.Protocols.HTTP2() || !tr.Protocols.HTTP1() || tr.ResponseHeaderTimeout != 0 {
		t.Errorf("transport %+v", tr)
	}
	if tr.MaxIdleConns != 0 && tr.MaxIdleConns < 64 {
		t.Errorf("MaxIdleConns %d caps the pool", tr.MaxIdleConns)
	}
	if NewTransport(0).MaxIdleConnsPerHost < 1 {
		t.Error("zero connections")
	}
}

// fixtureWant is what replaying one recorded response must give.
type fixtureWant struct {
	class      Class
	status     int
	tokens     int  // OutputTokens
	fromServer bool // TokensFromServer
	times      int  // len(TokenTimes)
	prompt     int
	reason     string
	server     bool   // Server != nil
	total      int64  // Server.Total in ns, when server (not for llama-server: see llama)
	errHas     string // substring of Error
	// When server: Server.CachedCount, and Server.PromptEval and Server.Eval in ns when not
	// zero.
	cached           int
	promptEval, eval int64
	// llama: the timings are llama-server's (FromLlamaServer): no load, and a total that is
	// the service time the client measured (Record.Done), so total is not checked.
	llama bool
}

// checkFixture replays a recorded response through the client and checks the record.
func checkFixture(t *testing.T, f fixture, api API, stream bool, w fixtureWant) {
	t.Helper()
	srv := replay(t, f, time.Millisecond)
	rec := testClient(srv).Do(context.Background(), &Request{API: api, Model: "rand-tiny", Prompt: "count to ten", MaxTokens: 8, Stream: stream})
	checkRecord(t, rec)
	if rec.Class != w.class || rec.Status != w.status {
		t.Fatalf("class %s status %d, want %s %d (error %q)", rec.Class, rec.Status, w.class, w.status, rec.Error)
	}
	if rec.OutputTokens != w.tokens || rec.TokensFromServer != w.fromServer {
		t.Errorf("output tokens %d (server %v), want %d (server %v)", rec.OutputTokens, rec.TokensFromServer, w.tokens, w.fromServer)
	}
	if len(rec.TokenTimes) != w.times {
		t.Errorf("%d token times, want %d", len(rec.TokenTimes), w.times)
	}
	if rec.PromptTokens != w.prompt {
		t.Errorf("prompt tokens %d, want %d", rec.PromptTokens, w.prompt)
	}
	if rec.DoneReason != w.reason {
		t.Errorf("done reason %q, want %q", rec.DoneReason, w.reason)
	}
	if (rec.Server != nil) != w.server {
		t.Fatalf("server timings %+v, want present=%v", rec.Server, w.server)
	}
	if w.server {
		s := rec.Server
		if s.EvalCount != w.tokens || s.PromptEvalCount != w.prompt || s.CachedCount != w.cached {
			t.Errorf("server timings %+v: want eval count %d, prompt %d, cached %d", s, w.tokens, w.prompt, w.cached)
		}
		if (w.promptEval != 0 && int64(s.PromptEval) != w.promptEval) || (w.eval != 0 && int64(s.Eval) != w.eval) {
			t.Errorf("server timings %+v: want prompt eval %d ns, eval %d ns", s, w.promptEval, w.eval)
		}
		if s.FromLlamaServer != w.llama {
			t.Errorf("server timings %+v: want FromLlamaServer %v", s, w.llama)
		}
		switch {
		case w.llama:
			if s.Total != rec.Done || s.Load != 0 || s.Eval <= 0 || s.PromptEval <= 0 {
				t.Errorf("llama-server timings %+v: want total = done (%v), no load", s, rec.Done)
			}
		default:
			if int64(s.Total) != w.total {
				t.Errorf("server timings %+v: want total %d", s, w.total)
			}
			if s.Load <= 0 || s.Eval <= 0 || s.PromptEval <= 0 || s.Residual() <= 0 {
				t.Errorf("server timings missing parts: %+v", s)
			}
		}
	}
	if !strings.Contains(rec.Error, w.errHas) {
		t.Errorf("error %q, want it to contain %q", rec.Error, w.errHas)
	}
	if w.times > 0 && (rec.FirstToken <= 0 || rec.FirstToken < rec.FirstByte) {
		t.Errorf("first token %v, first byte %v", rec.FirstToken, rec.FirstByte)
	}
	if rec.BytesIn != int64(len(f.body)) {
		t.Errorf("BytesIn %d, body is %d", rec.BytesIn, len(f.body))
	}
	if rec.FirstByte < rec.Headers && rec.BytesIn > 0 {
		t.Errorf("first byte %v before headers %v", rec.FirstByte, rec.Headers)
	}
	if rec.API != api || rec.Model != "rand-tiny" || rec.Stream != stream {
		t.Errorf("identity %s %s %v", rec.API, rec.Model, rec.Stream)
	}
}

// TestSenderChosenOnce checks that New decides the HTTP stack from the Config alone, and says
// why: nothing set later can switch a Client to the other stack.
func TestSenderChosenOnce(t *testing.T) {
	proxied := NewTransport(1)
	proxied.Proxy = http.ProxyFromEnvironment
	wrapped := NewTransport(1)
	dial := wrapped.DialContext
	wrapped.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) { return dial(ctx, network, addr) }
	for _, tt := range []struct {
		name   string
		cfg    Config
		sender string
		reason string
	}{
		{"plain http", Config{BaseURL: "http://127.0.0.1:11434", MaxConns: 8}, SenderOwn, "plain http"},
		{"plain http, /v1 base", Config{BaseURL: "http://127.0.0.1:8080/v1"}, SenderOwn, "plain http"},
		{"a wrapped dialer", Config{BaseURL: "http://127.0.0.1:1", Transport: wrapped}, SenderOwn, "plain http"},
		{"https", Config{BaseURL: "https://example.com"}, SenderNetHTTP, "https"},
		{"credentials", Config{BaseURL: "http://u:p@127.0.0.1:1"}, SenderNetHTTP, "credentials"},
		{"a proxy", Config{BaseURL: "http://127.0.0.1:1", Transport: proxied}, SenderNetHTTP, "proxy"},
		{"another transport", Config{BaseURL: "http://127.0.0.1:1", Transport: &http.Transport{}}, SenderNetHTTP, "not llmload's"},
		{"a URL that does not parse", Config{BaseURL: "http://[::1"}, SenderNetHTTP, "does not parse"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.cfg).Sender()
			if s.Name != tt.sender || !strings.Contains(s.Reason, tt.reason) {
				t.Errorf("sender %+v, want %s because of %q", s, tt.sender, tt.reason)
			}
		})
	}
}

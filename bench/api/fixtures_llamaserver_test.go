package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The recordings from a real llama.cpp llama-server, build b1-80fb11a, run with
// `-np 2 -c 4096 --metrics -t 1` (testdata/llama-server-80fb11a/README.md: the timings object
// in the last chunk, the prompt cache, the close after every streamed reply).
const fixtureDirLlama = "../../testdata/llama-server-80fb11a"

// otherLlama are the recordings that TestDiscoveryLlamaServer and
// TestLlamaServerNativeCompletion replay; TestFixturesLlamaServer replays every other one.
var otherLlama = map[string]bool{
	"health.http": true, "health-loading.http": true, "props.http": true, "v1-models.http": true,
	"slots.http": true, "metrics.http": true, "unknown-route.http": true, "get-root.http": true,
	"completion-stream.http": true,
}

func TestFixturesLlamaServer(t *testing.T) {
	type want = fixtureWant
	tests := []struct {
		file   string
		api    API
		stream bool
		want   want
	}{
		// The first chat prompt is new to the server: the 45 tokens of llama-server's ChatML
		// rendering are all evaluated (cache_n 0). The timings object rides on the last chunk,
		// the usage one after finish_reason; the first chunk has only the role (content null).
		{"openai-chat-stream.http", OpenAIChat, true, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 8, prompt: 45, reason: "length", server: true, llama: true, cached: 0, promptEval: 9082000, eval: 4358000}},
		// The same prompt again: 44 of 45 from the cache, prompt_n 1.
		{"openai-chat-stream-cached.http", OpenAIChat, true, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 8, prompt: 45, reason: "length", server: true, llama: true, cached: 44, promptEval: 993000, eval: 3910000}},
		{"openai-chat-nostream.http", OpenAIChat, false, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 1, prompt: 45, reason: "length", server: true, llama: true, cached: 44, promptEval: 789000, eval: 3275000}},
		// No separate usage chunk: usage and timings ride on the finish_reason chunk. Only the
		// BOS token is shared with the chat prompts (cache_n 1).
		{"openai-completions-stream.http", OpenAICompletions, true, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 8, prompt: 8, reason: "length", server: true, llama: true, cached: 1, promptEval: 1440000, eval: 3537000}},
		// llama-server serves its one model whatever the request names, and names its alias.
		{"openai-other-model.http", OpenAIChat, false, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 1, prompt: 45, reason: "length", server: true, llama: true, cached: 44, promptEval: 1000000, eval: 3112000}},
		// A truncated JSON body is a 500 here, not a 400.
		{"openai-bad-json.http", OpenAIChat, true, want{class: ClassHTTP5xx, status: 500, errHas: "HTTP 500: [json.exception.parse_error.101] parse error at line 1, column 33"}},
	}
	replayed := map[string]bool{}
	for _, tt := range tests {
		replayed[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			checkFixture(t, loadFixtureFrom(t, fixtureDirLlama, tt.file), tt.api, tt.stream, tt.want)
		})
	}
	checkAllReplayed(t, fixtureDirLlama, replayed, otherLlama, "TestFixturesLlamaServer or otherLlama")
}

func TestDiscoveryLlamaServer(t *testing.T) {
	load := func(name string) fixture { return loadFixtureFrom(t, fixtureDirLlama, name) }
	mux := http.NewServeMux()
	for path, file := range map[string]string{
		// Every path llama-server does not know gets the same 404 (recorded for /api/version).
		"GET /api/version": "unknown-route.http",
		"GET /api/ps":      "unknown-route.http",
		"GET /props":       "props.http",
		"GET /health":      "health.http",
		"GET /v1/models":   "v1-models.http",
		"GET /slots":       "slots.http",
		"GET /metrics":     "metrics.http",
		"GET /loading":     "health-loading.http",
		"GET /{$}":         "get-root.http",
	} {
		mux.Handle(path, replayHandler(load(file), 0))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := testClient(srv)
	ctx := context.Background()

	id := c.Identify(ctx)
	want := LlamaProps{TotalSlots: 2, ModelPath: "rand-tiny.gguf", ModelAlias: "rand-tiny", BuildInfo: "b1-80fb11a", SlotContext: 2048}
	if id.Kind != ServerLlamaServer || id.Version != "b1-80fb11a" || id.Engine != ServerLlamaServer || id.Props == nil || *id.Props != want {
		t.Errorf("Identify = %+v (props %+v), want llama-server b1-80fb11a with %+v", id, id.Props, want)
	}
	if v, err := c.Version(ctx); err == nil || v != "" || !strings.Contains(err.Error(), "GET /api/version: HTTP 404: File Not Found") {
		t.Errorf("Version: %q, %v", v, err)
	}
	if m, err := c.Loaded(ctx); err == nil || m != nil {
		t.Errorf("Loaded: %v, %v", m, err)
	}
	// No web UI in this build: GET / is a 404 too, so Ping (Ollama's readiness check) fails;
	// /health is llama-server's.
	if err := c.Ping(ctx); err == nil || !strings.Contains(err.Error(), "GET /: HTTP 404: File Not Found") {
		t.Errorf("Ping: %v", err)
	}
	if b, err := c.get(ctx, "/health"); err != nil || string(b) != `{"status":"ok"}` {
		t.Errorf("/health: %q, %v", b, err)
	}
	// While the model loads: 503, in llama-server's error shape, and the connection closed.
	if _, err := c.get(ctx, "/loading"); err == nil || !strings.Contains(err.Error(), "HTTP 503: Loading model") {
		t.Errorf("/health while loading: %v", err)
	}
	if f := load("health-loading.http"); f.status != http.StatusServiceUnavailable || f.header.Get("Connection") != "close" {
		t.Errorf("health-loading.http: status %d, Connection %q", f.status, f.header.Get("Connection"))
	}

	getJSON := func(path string, v any) {
		t.Helper()
		b, err := c.get(ctx, path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	var models struct {
		Data []struct {
			ID   string `json:"id"`
			Meta struct {
				NCtx   int `json:"n_ctx"`
				NVocab int `json:"n_vocab"`
			} `json:"meta"`
		} `json:"data"`
	}
	getJSON("/v1/models", &models)
	if len(models.Data) != 1 || models.Data[0].ID != "rand-tiny" || models.Data[0].Meta.NCtx != 2048 || models.Data[0].Meta.NVocab != 1024 {
		t.Errorf("/v1/models: %+v", models)
	}
	var slots []struct {
		ID           int  `json:"id"`
		NCtx         int  `json:"n_ctx"`
		IsProcessing bool `json:"is_processing"`
	}
	getJSON("/slots", &slots)
	if len(slots) != 2 || slots[0].NCtx != 2048 || slots[1].NCtx != 2048 || slots[0].IsProcessing || slots[1].IsProcessing {
		t.Errorf("/slots: %+v", slots)
	}
	// /metrics (with --metrics) after the recorded requests: the queue gauges are idle, the
	// counters count what the cache served apart from what was evaluated.
	b, err := c.get(ctx, "/metrics")
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	for _, line := range []string{
		"llamacpp:requests_processing 0\n", "llamacpp:requests_deferred 0\n",
		"llamacpp:prompt_tokens_total 56\n", "llamacpp:prompt_tokens_cached_total 140\n",
		"llamacpp:tokens_predicted_total 48\n",
		"# TYPE llamacpp:n_busy_slots_per_decode gauge\n",
	} {
		if !bytes.Contains(b, []byte(line)) {
			t.Errorf("/metrics has no %q", line)
		}
	}
}

// TestLlamaServerNativeCompletion replays llama-server's own /completion stream, which llmload
// does not drive: SSE events with "content", the last one "stop": true with the timings, and no
// data: [DONE]. Its timings object reads as the OpenAI endpoints' does.
func TestLlamaServerNativeCompletion(t *testing.T) {
	f := loadFixtureFrom(t, fixtureDirLlama, "completion-stream.http")
	if f.status != http.StatusOK || f.header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q", f.status, f.header.Get("Content-Type"))
	}
	type event struct {
		Content         string          `json:"content"`
		Stop            bool            `json:"stop"`
		TokensPredicted int             `json:"tokens_predicted"`
		TokensEvaluated int             `json:"tokens_evaluated"`
		Timings         json.RawMessage `json:"timings"`
	}
	var events []event
	for _, line := range f.lines() {
		data, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("data: "))
		if !ok {
			continue
		}
		if string(data) == "[DONE]" {
			t.Fatal("a data: [DONE] in /completion's stream")
		}
		var e event
		if err := json.Unmarshal(data, &e); err != nil {
			t.Fatalf("event %q: %v", snippet(data), err)
		}
		events = append(events, e)
	}
	if len(events) != 9 {
		t.Fatalf("%d events, want 8 with text and the stop one", len(events))
	}
	for i, e := range events[:8] {
		if e.Content == "" || e.Stop || e.Timings != nil || e.TokensPredicted != i+1 {
			t.Errorf("event %d: %+v", i, e)
		}
	}
	last := events[8]
	if !last.Stop || last.Content != "" || last.TokensPredicted != 8 || last.TokensEvaluated != 8 {
		t.Errorf("last event: %+v", last)
	}
	got, err := parseLlamaTimings(last.Timings)
	want := ServerTimings{PromptEval: 846 * time.Microsecond, Eval: 3016 * time.Microsecond,
		PromptEvalCount: 8, EvalCount: 8, CachedCount: 7, FromLlamaServer: true}
	if err != nil || *got != want {
		t.Errorf("timings read as %+v (%v), want %+v", got, err, want)
	}
}

// recordedWire turns a recording back into bytes as the server sent them: the head with CRLF,
// and a chunked body sent one SSE event per chunk, as llama-server does.
func recordedWire(tb testing.TB, dir, name string) string {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	head, body, ok := strings.Cut(string(raw), "\n\n")
	if !ok || !strings.Contains(head, "\nTransfer-Encoding: chunked") {
		tb.Fatalf("%s: not a chunked recording", name)
	}
	var b strings.Builder
	b.WriteString(strings.ReplaceAll(head, "\n", "\r\n") + "\r\n\r\n")
	for body != "" {
		event, rest, ok := strings.Cut(body, "\n\n")
		if ok {
			event += "\n\n"
		}
		fmt.Fprintf(&b, "%x\r\n%s\r\n", len(event), event)
		body = rest
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

// TestLlamaServerClosesAfterStream replays llama-server b1-80fb11a's habit with its recorded
// stream: the reply, chunked, says "Keep-Alive: timeout=5, max=100" and no "Connection: close",
// and then the server closes the connection. Each request after the first finds its kept-alive
// connection closed and goes out again on a new one, so all of them succeed.
func TestLlamaServerClosesAfterStream(t *testing.T) {
	reply := recordedWire(t, fixtureDirLlama, "openai-chat-stream.http")
	if strings.Contains(reply, "Connection: close") || !strings.Contains(reply, "\r\nKeep-Alive: timeout=5, max=100\r\n") {
		t.Fatalf("the recorded head is not the one this test is about:\n%s", reply[:strings.Index(reply, "\r\n\r\n")])
	}
	bodyLen := int64(len(loadFixtureFrom(t, fixtureDirLlama, "openai-chat-stream.http").body))
	for _, path := range []string{"own", "net/http"} {
		t.Run(path, func(t *testing.T) {
			var requests atomic.Int32
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				r, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, r.Body)
				requests.Add(1)
				_, _ = io.WriteString(c, reply)
				// Returning closes the connection, as llama-server does.
			})
			url := srv.URL
			if path == "net/http" {
				url = strings.Replace(url, "http://", "http://user:pw@", 1) // credentials: net/http carries it
			}
			c := rawClient(url)
			const n = 20
			reconnected := 0
			for i := range n {
				rec := c.Do(context.Background(), &Request{API: OpenAIChat, Model: "rand-tiny", Prompt: "count to ten", MaxTokens: 8, Stream: true})
				checkRecord(t, rec)
				if !rec.OK() {
					t.Fatalf("request %d: class %s: %q", i, rec.Class, rec.Error)
				}
				if !rec.NewConn {
					t.Errorf("request %d went out on a kept-alive connection the server had closed", i)
				}
				if rec.Reconnected {
					reconnected++
				}
				s := rec.Server
				if rec.OutputTokens != 8 || len(rec.TokenTimes) != 8 || rec.PromptTokens != 45 || rec.DoneReason != "length" || rec.BytesIn != bodyLen ||
					s == nil || !s.FromLlamaServer || s.PromptEval != 9082*time.Microsecond || s.Eval != 4358*time.Microsecond || s.CachedCount != 0 || s.Total != rec.Done {
					t.Errorf("request %d: tokens %d, times %d, prompt %d, reason %q, bytes %d, server %+v", i,
						rec.OutputTokens, len(rec.TokenTimes), rec.PromptTokens, rec.DoneReason, rec.BytesIn, s)
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

package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// testProfile is a small model whose costs are round numbers, so ratios are easy to reason
// about: 30 ms per decode step (3 ms at Speed 10), α = 0.1, 2 s load.
func testProfile(name string) Profile {
	return Profile{
		Name: name, Family: "llama", ParameterSize: "1B", ParameterCount: 1e9, Quantization: "Q8_0",
		Layers: 16, Heads: 32, KVHeads: 8, EmbeddingLength: 2048, FeedForward: 8192,
		VocabSize: 32000, MaxContextLength: 8192,
		WeightsMiB: 1000, OverheadMiB: 100, KVBytesPerElement: 2, ContextLength: 2048,
		LoadTime: 2 * time.Second, PrefillRate: 10000, DecodeStep: 30 * time.Millisecond,
		BatchAlpha: 0.1, DefaultTokens: 30, BusyUtilPct: 90, OffloadSlowdown: 4,
	}
}

func startServer(t testing.TB, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	// Cleanups run last-in first-out: Close the simulator first so that no handler is left
	// waiting when the HTTP server waits for its handlers.
	t.Cleanup(ts.Close)
	t.Cleanup(srv.Close)
	return srv, ts
}

// line is one NDJSON line or SSE data payload, with its arrival time.
type line struct {
	data []byte
	at   time.Time
}

// outcome is what a client saw of one request.
type outcome struct {
	status    int
	header    http.Header
	body      []byte // whole body (stream:false and errors)
	lines     []line // streamed lines, "data: " stripped for SSE, blank lines dropped
	start     time.Time
	firstByte time.Time
	end       time.Time
	readErr   error // error reading the body (reset, cut connection)
	err       error // error sending the request
}

func (o outcome) e2e() time.Duration { return o.end.Sub(o.start) }

// ollamaFinal holds every field a done line or a stream:false reply may carry.
type ollamaFinal struct {
	Model              string       `json:"model"`
	CreatedAt          string       `json:"created_at"`
	Response           *string      `json:"response"`
	Message            *chatMessage `json:"message"`
	Done               bool         `json:"done"`
	DoneReason         string       `json:"done_reason"`
	Context            []int        `json:"context"`
	TotalDuration      int64        `json:"total_duration"`
	LoadDuration       int64        `json:"load_duration"`
	PromptEvalCount    int          `json:"prompt_eval_count"`
	PromptEvalDuration int64        `json:"prompt_eval_duration"`
	EvalCount          int          `json:"eval_count"`
	EvalDuration       int64        `json:"eval_duration"`
	Error              string       `json:"error"`
}

// residual is total − load − prompt_eval − eval: slot wait plus overhead.
func (f ollamaFinal) residual() time.Duration {
	return time.Duration(f.TotalDuration - f.LoadDuration - f.PromptEvalDuration - f.EvalDuration)
}

func (f ollamaFinal) total() time.Duration { return time.Duration(f.TotalDuration) }
func (f ollamaFinal) load() time.Duration  { return time.Duration(f.LoadDuration) }

// do sends one request the way a load tester would, timestamping each line as it arrives.
func do(ctx context.Context, base, path string, body any, header map[string]string) outcome {
	var o outcome
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		js, _ := json.Marshal(b)
		rd = bytes.NewReader(js)
	}
	method := http.MethodGet
	if rd != nil {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		o.err = err
		return o
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	o.start = time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		o.err = err
		o.end = time.Now()
		return o
	}
	defer resp.Body.Close()
	o.status, o.header = resp.StatusCode, resp.Header
	o.firstByte = time.Now()
	br := bufio.NewReader(resp.Body)
	sse := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	ndjson := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-ndjson")
	var all bytes.Buffer
	for {
		l, err := br.ReadBytes('\n')
		now := time.Now()
		all.Write(l)
		if t := bytes.TrimRight(l, "\n"); len(t) > 0 && (sse || ndjson) && err == nil {
			if sse {
				t = bytes.TrimPrefix(t, []byte("data: "))
			}
			o.lines = append(o.lines, line{append([]byte(nil), t...), now})
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				o.readErr = err
			} else if len(bytes.TrimSpace(l)) > 0 && (sse || ndjson) {
				o.readErr = io.ErrUnexpectedEOF // a last line without its newline
			}
			break
		}
	}
	o.body = all.Bytes()
	o.end = time.Now()
	return o
}

// final decodes the done line of an NDJSON stream, or a stream:false body.
func (o outcome) final(t testing.TB) ollamaFinal {
	t.Helper()
	data := o.body
	if len(o.lines) > 0 {
		data = o.lines[len(o.lines)-1].data
	}
	var f ollamaFinal
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("decode final %q: %v", data, err)
	}
	return f
}

func generate(model string, extra map[string]any) map[string]any {
	b := map[string]any{"model": model, "prompt": "count to ten please"}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

// within fails unless lo ≤ v ≤ hi, naming what was checked.
func within(t testing.TB, what string, v, lo, hi float64) {
	t.Helper()
	t.Logf("%s = %.3f (want [%.2f, %.2f])", what, v, lo, hi)
	if v < lo || v > hi {
		t.Errorf("%s = %.3f, want within [%.2f, %.2f]", what, v, lo, hi)
	}
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func loadedModels(s *Server) []string {
	var names []string
	for _, m := range s.Stats().Models {
		names = append(names, m.Name+":"+m.State)
	}
	return names
}

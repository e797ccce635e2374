package sim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"
)

func faulty(t *testing.T) (*Server, string) {
	t.Helper()
	p := testProfile("m")
	p.DecodeStep = 5 * time.Millisecond
	// Debug on: the request log wraps the ResponseWriter, and flushing and hijacking must
	// still work through it.
	srv, ts := startServer(t, Config{Speed: 10, Models: []Profile{p}, Debug: true})
	if err := srv.Preload(context.Background(), "m"); err != nil {
		t.Fatal(err)
	}
	return srv, ts.URL
}

// contentLines counts streamed lines that carry generated text.
func contentLines(t *testing.T, o outcome) (n int) {
	t.Helper()
	for _, l := range o.lines {
		var v struct {
			Response *string `json:"response"`
			Done     bool    `json:"done"`
			Choices  []struct {
				Text  string `json:"text"`
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if json.Unmarshal(l.data, &v) != nil {
			continue
		}
		if (v.Response != nil && *v.Response != "" && !v.Done) || (len(v.Choices) > 0 && v.Choices[0].Delta.Content+v.Choices[0].Text != "") {
			n++
		}
	}
	return n
}

func hasDone(o outcome) bool {
	for _, l := range o.lines {
		if strings.Contains(string(l.data), `"done":true`) || string(l.data) == "[DONE]" {
			return true
		}
	}
	return false
}

func TestFaultStatus(t *testing.T) {
	t.Parallel()
	srv, base := faulty(t)
	ctx := context.Background()
	body := generate("m", map[string]any{"options": map[string]any{"num_predict": 8}})
	o := do(ctx, base, "/api/generate", body, map[string]string{FaultHeader: "status=500"})
	if o.status != 500 || !strings.HasPrefix(string(o.body), `{"error":"llama runner process has terminated`) {
		t.Errorf("status=500 on /api/generate: %d %s", o.status, o.body)
	}
	o = do(ctx, base, "/api/generate", body, map[string]string{FaultHeader: "status=503"})
	if o.status != 503 || string(o.body) != `{"error":"server busy, please try again.  maximum pending requests exceeded"}` {
		t.Errorf("status=503: %d %s", o.status, o.body)
	}
	oa := do(ctx, base, "/v1/chat/completions", map[string]any{"model": "m", "messages": []map[string]string{{"role": "user", "content": "hi"}}},
		map[string]string{FaultHeader: "status=502"})
	var e openAIErrorBody
	if oa.status != 502 || json.Unmarshal(oa.body, &e) != nil || e.Error.Message == "" || e.Error.Type != "api_error" {
		t.Errorf("status=502 on /v1: %d %s", oa.status, oa.body)
	}
	if st := srv.Stats(); st.Models[0].InUse != 0 {
		t.Errorf("a status fault took a runner reference")
	}
	bad := do(ctx, base, "/api/generate", body, map[string]string{FaultHeader: "explode"})
	if bad.status != 400 || !strings.Contains(string(bad.body), FaultHeader) {
		t.Errorf("bad fault header: %d %s", bad.status, bad.body)
	}
}

func TestFaultMidstreamError(t *testing.T) {
	t.Parallel()
	_, base := faulty(t)
	ctx := context.Background()
	body := generate("m", map[string]any{"options": map[string]any{"num_predict": 8}})
	o := do(ctx, base, "/api/generate", body, map[string]string{FaultHeader: "midstream-error@3"})
	mustOK(t, o)
	last := o.lines[len(o.lines)-1].data
	var e struct{ Error string }
	if json.Unmarshal(last, &e) != nil || e.Error == "" || contentLines(t, o) != 3 || hasDone(o) {
		t.Errorf("midstream-error@3: %d content lines, last %s, done=%v", contentLines(t, o), last, hasDone(o))
	}
	oa := do(ctx, base, "/v1/chat/completions", map[string]any{"model": "m", "stream": true, "max_tokens": 8,
		"messages": []map[string]string{{"role": "user", "content": "hi"}}}, map[string]string{FaultHeader: "midstream-error"})
	var ea openAIErrorBody
	if json.Unmarshal(oa.lines[len(oa.lines)-1].data, &ea) != nil || ea.Error.Message == "" || hasDone(oa) || contentLines(t, oa) != 4 {
		t.Errorf("/v1 midstream-error: %d content lines, body %s", contentLines(t, oa), oa.body)
	}
	// stream:false: the error becomes the status.
	ns := do(ctx, base, "/api/generate", generate("m", map[string]any{"stream": false}), map[string]string{FaultHeader: "midstream-error"})
	if ns.status != 500 {
		t.Errorf("stream:false midstream-error: %d %s", ns.status, ns.body)
	}
}

func TestFaultCut(t *testing.T) {
	t.Parallel()
	_, base := faulty(t)
	ctx := context.Background()
	o := do(ctx, base, "/api/chat", map[string]any{"model": "m", "options": map[string]any{"num_predict": 10},
		"messages": []map[string]string{{"role": "user", "content": "hi"}}}, map[string]string{FaultHeader: "cut@4"})
	mustOK(t, o) // a clean end of body under 200: only the missing done line tells
	if len(o.lines) != 4 || hasDone(o) {
		t.Errorf("cut@4: %d lines, done=%v", len(o.lines), hasDone(o))
	}
	oa := do(ctx, base, "/v1/completions", map[string]any{"model": "m", "prompt": "hi", "stream": true, "max_tokens": 10},
		map[string]string{FaultHeader: "cut"})
	mustOK(t, oa)
	if contentLines(t, oa) != 5 || hasDone(oa) {
		t.Errorf("/v1 cut: %d content lines, [DONE]=%v", contentLines(t, oa), hasDone(oa))
	}
	// stream:false: Ollama's silent truncation shape.
	ns := do(ctx, base, "/api/generate", generate("m", map[string]any{"stream": false}), map[string]string{FaultHeader: "cut"})
	mustOK(t, ns)
	f := ns.final(t)
	if f.Done || f.DoneReason != "" || f.EvalCount != 0 || f.TotalDuration != 0 || f.Response == nil || *f.Response == "" {
		t.Errorf("stream:false cut = %s, want done:false with text and no metrics", ns.body)
	}
}

func TestFaultGarbage(t *testing.T) {
	t.Parallel()
	_, base := faulty(t)
	ctx := context.Background()
	o := do(ctx, base, "/api/generate", generate("m", map[string]any{"options": map[string]any{"num_predict": 6}}),
		map[string]string{FaultHeader: "garbage@2"})
	mustOK(t, o)
	bad := 0
	for i, l := range o.lines {
		if !json.Valid(l.data) {
			bad++
			if i != 2 {
				t.Errorf("garbage line at %d, want 2", i)
			}
		}
	}
	if bad != 1 || !hasDone(o) || contentLines(t, o) != 6 {
		t.Errorf("garbage@2: %d bad lines, done=%v, %d content lines", bad, hasDone(o), contentLines(t, o))
	}
	ns := do(ctx, base, "/v1/chat/completions", map[string]any{"model": "m", "messages": []map[string]string{{"role": "user", "content": "hi"}}},
		map[string]string{FaultHeader: "garbage"})
	if ns.status != 200 || json.Valid(ns.body) {
		t.Errorf("stream:false garbage: %d %s", ns.status, ns.body)
	}
}

func TestFaultDelays(t *testing.T) {
	t.Parallel()
	_, base := faulty(t)
	ctx := context.Background()
	body := generate("m", map[string]any{"options": map[string]any{"num_predict": 6}})
	// Fault delays are wall time (not divided by Speed), so a lower bound is safe to assert.
	o := do(ctx, base, "/api/generate", body, map[string]string{FaultHeader: "slow-first-byte=300ms"})
	mustOK(t, o)
	if ttfb := o.firstByte.Sub(o.start); ttfb < 300*time.Millisecond {
		t.Errorf("slow-first-byte=300ms: first byte after %v", ttfb)
	}
	o = do(ctx, base, "/api/generate", body, map[string]string{FaultHeader: "stall=300ms@3"})
	mustOK(t, o)
	if !hasDone(o) {
		t.Errorf("stall: stream did not complete")
	}
	gap, at := time.Duration(0), -1
	for i := 1; i < len(o.lines); i++ {
		if g := o.lines[i].at.Sub(o.lines[i-1].at); g > gap {
			gap, at = g, i
		}
	}
	if gap < 300*time.Millisecond || at != 3 {
		t.Errorf("stall=300ms@3: longest gap %v before line %d", gap, at)
	}
}

func TestFaultReset(t *testing.T) {
	t.Parallel()
	_, base := faulty(t)
	ctx := context.Background()
	body := generate("m", map[string]any{"options": map[string]any{"num_predict": 8}})
	o := do(ctx, base, "/api/generate", body, map[string]string{FaultHeader: "reset@3"})
	if o.err != nil || o.status != 200 || o.readErr == nil || errors.Is(o.readErr, io.EOF) {
		t.Fatalf("reset@3: err=%v status=%d readErr=%v", o.err, o.status, o.readErr)
	}
	if !errors.Is(o.readErr, syscall.ECONNRESET) && !errors.Is(o.readErr, io.ErrUnexpectedEOF) {
		t.Errorf("reset@3: read error %v, want connection reset", o.readErr)
	}
	if len(o.lines) != 3 {
		t.Errorf("reset@3: %d lines before the reset, want 3", len(o.lines))
	}
	o = do(ctx, base, "/api/generate", body, map[string]string{FaultHeader: "reset@0"})
	if o.err == nil {
		t.Errorf("reset@0: request succeeded with status %d", o.status)
	}
}

// Configured fault rates are seeded: rate 1 always fires, rate 0 never, and a rate in between
// fires about that often.
func TestFaultRates(t *testing.T) {
	t.Parallel()
	p := testProfile("m")
	p.LoadTime, p.DecodeStep = 0, 0
	rules := []FaultRule{{Spec: "status=500", Rate: 0.3}, {Spec: "cut@0", Rate: 0}}
	_, ts := startServer(t, Config{Models: []Profile{p}, Faults: rules, Seed: 7})
	ctx := context.Background()
	errs := 0
	for range 200 {
		o := do(ctx, ts.URL, "/api/generate", generate("m", map[string]any{"options": map[string]any{"num_predict": 1}}), nil)
		switch o.status {
		case 500:
			errs++
		case 200:
			if !hasDone(o) {
				t.Fatalf("a rate-0 fault fired")
			}
		default:
			t.Fatalf("status %d", o.status)
		}
	}
	within(t, "fault fraction at rate 0.3", float64(errs)/200, 0.18, 0.42)

	r, err := ParseFaultRule("stall=2s@5:0.1")
	if err != nil || r.Spec != "stall=2s@5" || r.Rate != 0.1 {
		t.Errorf("ParseFaultRule = %+v, %v", r, err)
	}
	for _, bad := range []string{"cut", "cut:2", "nope:0.1", "stall@2:0.1", "status=200:0.1", "reset=1:0.5"} {
		if _, err := ParseFaultRule(bad); err == nil {
			t.Errorf("ParseFaultRule(%q) accepted", bad)
		}
	}
}

func TestParseFaults(t *testing.T) {
	t.Parallel()
	fs, err := parseFaults(" status=418 , slow-first-byte=1s, stall=250ms@4, cut@7, garbage, midstream-error@0, reset@9")
	if err != nil {
		t.Fatal(err)
	}
	want := faultSet{status: 418, slowFirstByte: time.Second, stall: 250 * time.Millisecond,
		stallAt: position{true, 4}, cut: position{true, 7}, garbage: position{true, -1},
		midstream: position{true, 0}, reset: position{true, 9}}
	if fs != want {
		t.Errorf("parseFaults = %+v\nwant %+v", fs, want)
	}
	if got := (position{true, -1}).resolve(9); got != 4 {
		t.Errorf("default position for 9 tokens = %d, want 4", got)
	}
	if got := (position{true, 50}).resolve(9); got != 9 {
		t.Errorf("position past the end = %d, want 9 (before the final chunk)", got)
	}
	for _, bad := range []string{"status", "status=99", "stall", "stall=fast", "cut=1", "cut@x", "slow-first-byte=1s@2", "melt"} {
		if _, err := parseFaults(bad); err == nil {
			t.Errorf("parseFaults(%q) accepted", bad)
		}
	}
}

package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The simulator's replies are compared, field by field and type by type, with responses
// recorded from a real Ollama 0.17.4.

type fixture struct {
	status int
	header http.Header
	body   []byte
}

func readFixture(t *testing.T, name string) fixture {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "ollama-0.17.4", name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	head, body, _ := bytes.Cut(data, []byte("\n\n"))
	lines := strings.Split(string(head), "\n")
	f := fixture{header: http.Header{}, body: body}
	parts := strings.Fields(lines[0])
	f.status, _ = strconv.Atoi(parts[1])
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ": ")
		f.header.Add(k, v)
	}
	return f
}

// payloads splits a stream body into its JSON payloads (NDJSON lines or SSE data).
func payloads(body []byte) [][]byte {
	var out [][]byte
	for _, l := range bytes.Split(body, []byte("\n")) {
		l = bytes.TrimPrefix(l, []byte("data: "))
		if len(bytes.TrimSpace(l)) > 0 {
			out = append(out, l)
		}
	}
	return out
}

// shape maps each JSON path to the type found there; arrays are described by their first
// element.
func shape(t *testing.T, data []byte) map[string]string {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("not JSON: %s: %v", data, err)
	}
	out := map[string]string{}
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 {
				out[path] = "{}"
			}
			for k, e := range x {
				walk(e, path+"."+k)
			}
		case []any:
			if len(x) == 0 {
				out[path] = "[]"
				return
			}
			walk(x[0], path+"[]")
		case string:
			out[path] = "string"
		case float64:
			out[path] = "number"
		case bool:
			out[path] = "bool"
		case nil:
			out[path] = "null"
		}
	}
	walk(v, "")
	return out
}

func sameShape(t *testing.T, what string, want, got []byte) {
	t.Helper()
	w, g := shape(t, want), shape(t, got)
	var diffs []string
	for k, v := range w {
		if g[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s: real %s, sim %q", k, v, g[k]))
		}
	}
	for k, v := range g {
		if _, ok := w[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: only in sim (%s)", k, v))
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 0 {
		t.Errorf("%s: shape differs from real Ollama:\n  %s\nsim: %s", what, strings.Join(diffs, "\n  "), got)
	}
}

func TestProtocolShapesMatchOllama(t *testing.T) {
	t.Parallel()
	p := testProfile("rand-tiny")
	p.LoadTime, p.DecodeStep = 0, time.Millisecond
	_, ts := startServer(t, Config{MaxQueue: 1, Models: []Profile{p}})
	ctx := context.Background()
	opts := map[string]any{"num_predict": 8, "temperature": 0, "seed": 1, "num_ctx": 2048}
	msgs := []map[string]string{{"role": "user", "content": "count to ten"}}
	gen := map[string]any{"model": "rand-tiny", "prompt": "count to ten", "options": opts}
	chat := map[string]any{"model": "rand-tiny", "messages": msgs, "options": opts}
	with := func(m map[string]any, k string, v any) map[string]any {
		c := map[string]any{}
		for kk, vv := range m {
			c[kk] = vv
		}
		c[k] = v
		return c
	}
	oaChat := map[string]any{"model": "rand-tiny", "messages": msgs, "max_tokens": 8, "seed": 1}
	oaStream := with(with(oaChat, "stream", true), "stream_options", map[string]any{"include_usage": true})
	oaComp := map[string]any{"model": "rand-tiny", "prompt": "count to ten", "max_tokens": 8, "stream": true,
		"stream_options": map[string]any{"include_usage": true}}

	type check struct {
		fixture, path string
		body          any
		stream        bool
	}
	for _, c := range []check{
		{"generate-stream.http", "/api/generate", gen, true},
		{"generate-nostream.http", "/api/generate", with(gen, "stream", false), false},
		{"chat-stream.http", "/api/chat", chat, true},
		{"chat-nostream.http", "/api/chat", with(chat, "stream", false), false},
		{"openai-chat-stream.http", "/v1/chat/completions", oaStream, true},
		{"openai-chat-nostream.http", "/v1/chat/completions", oaChat, false},
		{"openai-completions-stream.http", "/v1/completions", oaComp, true},
		{"generate-unknown-model.http", "/api/generate", with(gen, "model", "no-such-model"), false},
		{"chat-unknown-model.http", "/api/chat", with(chat, "model", "no-such-model"), false},
		{"openai-unknown-model.http", "/v1/chat/completions", with(oaChat, "model", "no-such-model"), false},
		{"generate-bad-json.http", "/api/generate", `{"model":"rand-tiny","prompt":`, false},
		{"openai-bad-json.http", "/v1/chat/completions", `{"model":"rand-tiny","messages":`, false},
		{"preload.http", "/api/generate", map[string]any{"model": "rand-tiny", "keep_alive": -1}, false},
		{"get-api-version.http", "/api/version", nil, false},
		{"get-api-tags.http", "/api/tags", nil, false},
		{"get-api-ps.http", "/api/ps", nil, false},
		{"show.http", "/api/show", map[string]any{"model": "rand-tiny"}, false},
		{"unload.http", "/api/generate", map[string]any{"model": "rand-tiny", "keep_alive": 0}, false},
		{"generate-503-queue-full.http", "/api/generate", gen, false},
		{"openai-503-queue-full.http", "/v1/chat/completions", oaChat, false},
	} {
		t.Run(c.fixture, func(t *testing.T) {
			want := readFixture(t, c.fixture)
			var hdr map[string]string
			if strings.Contains(c.fixture, "503") {
				hdr = map[string]string{FaultHeader: "status=503"}
			}
			got := do(ctx, ts.URL, c.path, c.body, hdr)
			if got.err != nil || got.readErr != nil {
				t.Fatalf("request: %v %v", got.err, got.readErr)
			}
			if got.status != want.status {
				t.Errorf("status %d, real Ollama %d", got.status, want.status)
			}
			if g, w := got.header.Get("Content-Type"), want.header.Get("Content-Type"); g != w {
				t.Errorf("Content-Type %q, real Ollama %q", g, w)
			}
			if got.header.Get(SimulatedHeader) != "true" {
				t.Errorf("no %s header", SimulatedHeader)
			}
			if !c.stream {
				if c.fixture == "show.http" {
					checkShow(t, want.body, got.body)
					return
				}
				sameShape(t, c.fixture, want.body, got.body)
				return
			}
			w, g := payloads(want.body), payloads(got.body)
			if len(w) != len(g) {
				t.Errorf("%d payloads, real Ollama %d", len(g), len(w))
			}
			// First chunk, last chunk, and (OpenAI) the finish and usage chunks.
			sameShape(t, c.fixture+" first chunk", w[0], g[0])
			if string(w[len(w)-1]) == "[DONE]" {
				if string(g[len(g)-1]) != "[DONE]" {
					t.Errorf("stream does not end with [DONE]")
				}
				sameShape(t, c.fixture+" usage chunk", w[len(w)-2], g[len(g)-2])
				sameShape(t, c.fixture+" finish chunk", w[len(w)-3], g[len(g)-3])
			} else {
				sameShape(t, c.fixture+" final chunk", w[len(w)-1], g[len(g)-1])
			}
		})
	}

	t.Run("root", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			req, _ := http.NewRequestWithContext(ctx, method, ts.URL+"/", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			resp.Body.Close()
			want := readFixture(t, strings.ToLower(method)+"-root.http")
			if resp.StatusCode != 200 || b.String() != strings.TrimRight(string(want.body), "\n") ||
				resp.Header.Get("Content-Type") != want.header.Get("Content-Type") || resp.ContentLength != 17 {
				t.Errorf("%s /: %d %q %q len %d", method, resp.StatusCode, b.String(), resp.Header.Get("Content-Type"), resp.ContentLength)
			}
		}
	})
}

// checkShow compares /api/show: the same top-level fields and details, and every model_info
// key of the real reply's architecture present with the same type.
func checkShow(t *testing.T, want, got []byte) {
	t.Helper()
	var w, g map[string]json.RawMessage
	json.Unmarshal(want, &w)
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	for k := range w {
		if _, ok := g[k]; !ok {
			t.Errorf("show: no %q", k)
		}
	}
	sameShape(t, "show details", w["details"], g["details"])
	ws, gs := shape(t, w["model_info"]), shape(t, g["model_info"])
	for k, v := range ws {
		if (strings.HasPrefix(k, ".llama.") || strings.HasPrefix(k, ".general.")) && gs[k] != v {
			t.Errorf("show model_info %s: real %s, sim %q", k, v, gs[k])
		}
	}
	var wt, gt []json.RawMessage
	json.Unmarshal(w["tensors"], &wt)
	json.Unmarshal(g["tensors"], &gt)
	sameShape(t, "show tensor", wt[0], gt[0])
}

// The text a client assembles from the chunks is the text of the stream:false reply, the
// counts agree with it, and created_at parses as Ollama's RFC 3339 time.
func TestStreamAgreesWithNoStream(t *testing.T) {
	t.Parallel()
	p := testProfile("m")
	p.LoadTime, p.DecodeStep = 0, time.Millisecond
	_, ts := startServer(t, Config{Models: []Profile{p}})
	ctx := context.Background()
	opts := map[string]any{"num_predict": 12, "seed": 42}
	o := do(ctx, ts.URL, "/api/generate", map[string]any{"model": "m", "prompt": "one two three four", "options": opts}, nil)
	mustOK(t, o)
	var text strings.Builder
	for _, l := range o.lines[:len(o.lines)-1] {
		var c struct {
			CreatedAt string `json:"created_at"`
			Response  string `json:"response"`
		}
		if err := json.Unmarshal(l.data, &c); err != nil {
			t.Fatal(err)
		}
		if _, err := time.Parse(time.RFC3339Nano, c.CreatedAt); err != nil {
			t.Errorf("created_at %q: %v", c.CreatedAt, err)
		}
		text.WriteString(c.Response)
	}
	f := o.final(t)
	if f.PromptEvalCount != 4 || f.EvalCount != 12 || len(o.lines) != 13 || len(f.Context) != 16 {
		t.Errorf("prompt_eval_count=%d eval_count=%d lines=%d context=%d, want 4, 12, 13, 16",
			f.PromptEvalCount, f.EvalCount, len(o.lines), len(f.Context))
	}
	ns := do(ctx, ts.URL, "/api/generate", map[string]any{"model": "m", "prompt": "one two three four", "options": opts, "stream": false}, nil)
	mustOK(t, ns)
	if nf := ns.final(t); *nf.Response != text.String() || !nf.Done {
		t.Errorf("stream:false text %q, streamed %q", *nf.Response, text.String())
	}
	// Same seed, same text over the OpenAI API; the usage counts match.
	oa := do(ctx, ts.URL, "/v1/completions", map[string]any{"model": "m", "prompt": "one two three four", "max_tokens": 12, "seed": 42}, nil)
	var comp struct {
		Choices []struct {
			Text   string `json:"text"`
			Finish string `json:"finish_reason"`
		} `json:"choices"`
		Usage usage `json:"usage"`
	}
	if err := json.Unmarshal(oa.body, &comp); err != nil {
		t.Fatal(err)
	}
	if comp.Choices[0].Text != text.String() || comp.Choices[0].Finish != "length" || comp.Usage != (usage{4, 12, 16}) {
		t.Errorf("/v1/completions = %s", oa.body)
	}
	// No limit: the model ends by itself after its default length ("stop").
	free := do(ctx, ts.URL, "/api/chat", map[string]any{"model": "m", "stream": false,
		"messages": []map[string]string{{"role": "user", "content": "hi there"}}}, nil)
	if f := free.final(t); f.DoneReason != "stop" || f.EvalCount != p.DefaultTokens || f.PromptEvalCount != 2+4 {
		t.Errorf("unlimited chat: done_reason=%q eval_count=%d prompt_eval_count=%d", f.DoneReason, f.EvalCount, f.PromptEvalCount)
	}
}

// An EOS probability ends some outputs early with "stop"; seeded, so the same seed repeats.
func TestEOSProbability(t *testing.T) {
	t.Parallel()
	p := testProfile("m")
	p.LoadTime, p.DecodeStep, p.EOSProbability = 0, 0, 0.05
	_, ts := startServer(t, Config{Models: []Profile{p}})
	ctx := context.Background()
	stops, lengths := 0, map[int]bool{}
	for seed := range 30 {
		o := do(ctx, ts.URL, "/api/generate", generate("m", map[string]any{"stream": false,
			"options": map[string]any{"num_predict": 40, "seed": seed}}), nil)
		f := o.final(t)
		if f.DoneReason == "stop" {
			stops++
			if f.EvalCount >= 40 {
				t.Errorf("stop after %d tokens", f.EvalCount)
			}
		}
		lengths[f.EvalCount] = true
		again := do(ctx, ts.URL, "/api/generate", generate("m", map[string]any{"stream": false,
			"options": map[string]any{"num_predict": 40, "seed": seed}}), nil).final(t)
		if again.EvalCount != f.EvalCount || *again.Response != *f.Response {
			t.Errorf("seed %d: not deterministic", seed)
		}
	}
	// P(no EOS in 40 tokens) = 0.95^40 ≈ 0.13.
	if stops < 15 || len(lengths) < 5 {
		t.Errorf("%d of 30 stopped early, %d distinct lengths", stops, len(lengths))
	}
}

// Speed divides every simulated duration, and the reported durations follow. 100 tokens, so
// that one late wake of the runner's timer (under -race on busy cores: a few ms, after which
// the loop catches up on its schedule) is a small part of the fast run's 60 ms of decode.
func TestSpeedScalesTime(t *testing.T) {
	t.Parallel()
	const tokens = 100
	run := func(speed float64) ollamaFinal {
		p := testProfile("m")
		p.LoadTime = 3 * time.Second
		_, ts := startServer(t, Config{Speed: speed, Models: []Profile{p}})
		o := do(context.Background(), ts.URL, "/api/generate", generate("m", map[string]any{"options": map[string]any{"num_predict": tokens}}), nil)
		mustOK(t, o)
		return o.final(t)
	}
	slow, fast := run(5), run(50)
	within(t, "load_duration at speed 5 / at speed 50", slow.load().Seconds()/fast.load().Seconds(), 5, 14)
	within(t, "eval_duration at speed 5 / at speed 50", float64(slow.EvalDuration)/float64(fast.EvalDuration), 5, 20)
	// 100 steps of 30 ms at speed 5: about 600 ms of decode.
	within(t, "eval_duration / expected", time.Duration(slow.EvalDuration).Seconds()/(tokens*0.030/5), 0.8, 2)
}

func TestDiscoveryEndpoints(t *testing.T) {
	t.Parallel()
	srv, ts := startServer(t, Config{NumParallel: 3})
	ctx := context.Background()
	var v struct{ Version string }
	json.Unmarshal(do(ctx, ts.URL, "/api/version", nil, nil).body, &v)
	if v.Version != Version || !strings.Contains(v.Version, "sim") {
		t.Errorf("version %q", v.Version)
	}
	var tags struct {
		Models []struct{ Name string } `json:"models"`
	}
	json.Unmarshal(do(ctx, ts.URL, "/api/tags", nil, nil).body, &tags)
	var names []string
	for _, m := range tags.Models {
		names = append(names, m.Name)
	}
	if want := []string{"codellama:7b", "instant:latest", "llama3.2:1b"}; !slices.Equal(names, want) {
		t.Errorf("tags %v, want %v", names, want)
	}
	var models struct {
		Object string
		Data   []struct{ ID string }
	}
	json.Unmarshal(do(ctx, ts.URL, "/v1/models", nil, nil).body, &models)
	if models.Object != "list" || len(models.Data) != 3 {
		t.Errorf("/v1/models = %+v", models)
	}
	if o := do(ctx, ts.URL, "/v1/models/llama3.2:1b", nil, nil); o.status != 200 {
		t.Errorf("/v1/models/llama3.2:1b: %d", o.status)
	}

	// /api/show gives what a client needs to compute KV bytes per slot, and it agrees with
	// the profile; /api/ps reports the context per slot and the memory of all slots.
	for _, p := range srv.Models() {
		var show struct {
			ModelInfo map[string]any `json:"model_info"`
		}
		json.Unmarshal(do(ctx, ts.URL, "/api/show", map[string]any{"model": p.Name}, nil).body, &show)
		n := func(k string) float64 { f, _ := show.ModelInfo[p.Family+"."+k].(float64); return f }
		perToken := n("block_count") * n("attention.head_count_kv") * 2 * (n("embedding_length") / n("attention.head_count")) * 2
		mps, _ := srv.MiBPerSlot(p.Name)
		if got := float64(p.ContextLength) * perToken / (1 << 20); got != mps {
			t.Errorf("%s: MiB/slot from /api/show %.2f, server says %.2f", p.Name, got, mps)
		}
		if show.ModelInfo["llmload.simulated"] != true {
			t.Errorf("%s: /api/show not labelled simulated", p.Name)
		}
	}
	if mps, _ := srv.MiBPerSlot("llama3.2:1b"); mps != 128 {
		t.Errorf("llama3.2:1b MiB/slot at 4096 = %v, want 128", mps)
	}
	if mps, _ := srv.MiBPerSlot("codellama:7b"); mps != 2048 {
		t.Errorf("codellama:7b MiB/slot at 4096 = %v, want 2048", mps)
	}
	if err := srv.Preload(ctx, "instant"); err != nil {
		t.Fatal(err)
	}
	var ps struct {
		Models []struct {
			Name          string `json:"name"`
			Size          int64  `json:"size"`
			SizeVRAM      int64  `json:"size_vram"`
			ContextLength int    `json:"context_length"`
		} `json:"models"`
	}
	json.Unmarshal(do(ctx, ts.URL, "/api/ps", nil, nil).body, &ps)
	inst := srv.Models()[1]
	if len(ps.Models) != 1 || ps.Models[0].Name != "instant:latest" || ps.Models[0].ContextLength != 2048 ||
		ps.Models[0].Size != mib(inst.RunnerMiB(3, 2048)) || ps.Models[0].SizeVRAM != ps.Models[0].Size {
		t.Errorf("/api/ps = %+v", ps)
	}
}

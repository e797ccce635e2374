package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// MAX_LOADED_MODELS: loading one model too many evicts the idle one unused longest; a busy
// model is evicted only when its requests end, and that wait shows in load_duration.
func TestEvictionAtMaxLoaded(t *testing.T) {
	models := []Profile{testProfile("a"), testProfile("b"), testProfile("c")}
	for i := range models {
		models[i].LoadTime = 200 * time.Millisecond // 20 ms at Speed 10
	}
	srv, ts := startServer(t, Config{MaxLoadedModels: 2, Speed: 10, Models: models})
	ctx := context.Background()
	short := map[string]any{"options": map[string]any{"num_predict": 2}}
	for _, m := range []string{"a", "b"} {
		mustOK(t, do(ctx, ts.URL, "/api/generate", generate(m, short), nil))
	}
	time.Sleep(5 * time.Millisecond)
	mustOK(t, do(ctx, ts.URL, "/api/generate", generate("b", short), nil)) // b used last
	mustOK(t, do(ctx, ts.URL, "/api/generate", generate("c", short), nil))
	if got, want := loadedModels(srv), []string{"b:latest:ready", "c:latest:ready"}; !slices.Equal(got, want) {
		t.Fatalf("loaded after c = %v, want %v (a idle longest, evicted)", got, want)
	}
	if st := srv.Stats(); st.Loads != 3 || st.Unloads != 1 {
		t.Errorf("loads=%d unloads=%d, want 3 and 1", st.Loads, st.Unloads)
	}

	// Both loaded models busy: a request for a must wait until one of them finishes.
	long := map[string]any{"options": map[string]any{"num_predict": 60}} // ~180 ms
	done := make(chan outcome, 2)
	for _, m := range []string{"b", "c"} {
		go func() { done <- do(ctx, ts.URL, "/api/generate", generate(m, long), nil) }()
	}
	eventually(t, "b and c decoding", func() bool {
		st := srv.Stats()
		return len(st.Models) == 2 && st.Models[0].Active == 1 && st.Models[1].Active == 1
	})
	a := do(ctx, ts.URL, "/api/generate", generate("a", short), nil)
	mustOK(t, a, <-done, <-done)
	// a's load_duration holds the wait for a busy model to finish plus its own load.
	if l := a.final(t).load(); l < 80*time.Millisecond {
		t.Errorf("a load_duration %v, want ≥ 80 ms (wait for a busy model + load)", l)
	}
}

// keep_alive: the server default, a request's own value (which sticks to the model), 0 to
// unload, negative to keep forever.
func TestKeepAliveExpiry(t *testing.T) {
	t.Parallel()
	p := testProfile("m")
	p.LoadTime = 0
	srv, ts := startServer(t, Config{Speed: 10, KeepAlive: "150ms", Models: []Profile{p}})
	ctx := context.Background()
	short := func(extra map[string]any) map[string]any {
		b := generate("m", map[string]any{"options": map[string]any{"num_predict": 2}})
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	mustOK(t, do(ctx, ts.URL, "/api/generate", short(nil), nil))
	if n := len(srv.Stats().Models); n != 1 {
		t.Fatalf("%d models loaded after a request, want 1", n)
	}
	st := srv.Stats().Models[0]
	if until := time.Until(st.ExpiresAt); until <= 0 || until > 150*time.Millisecond {
		t.Errorf("expires in %v, want within the 150ms keep-alive", until)
	}
	eventually(t, "the default keep-alive to unload the model", func() bool { return len(srv.Stats().Models) == 0 })

	// A request's keep_alive (seconds as a number) sticks: the model outlives the default.
	mustOK(t, do(ctx, ts.URL, "/api/generate", short(map[string]any{"keep_alive": 60}), nil))
	time.Sleep(300 * time.Millisecond)
	if n := len(srv.Stats().Models); n != 1 {
		t.Fatalf("model with keep_alive 60 unloaded after 300ms")
	}
	ps := do(ctx, ts.URL, "/api/ps", nil, nil)
	var psBody struct {
		Models []struct {
			ExpiresAt time.Time `json:"expires_at"`
		} `json:"models"`
	}
	if err := json.Unmarshal(ps.body, &psBody); err != nil || len(psBody.Models) != 1 {
		t.Fatalf("/api/ps: %v %s", err, ps.body)
	}
	if until := time.Until(psBody.Models[0].ExpiresAt); until < 50*time.Second || until > 61*time.Second {
		t.Errorf("/api/ps expires_at in %v, want about 60s", until)
	}

	// Negative: forever.
	mustOK(t, do(ctx, ts.URL, "/api/generate", short(map[string]any{"keep_alive": "-1m"}), nil))
	if exp := srv.Stats().Models[0].ExpiresAt; !exp.IsZero() {
		t.Errorf("keep_alive -1m gave expiry %v, want none", exp)
	}
	// 0 on a generation request: unloaded as soon as it ends.
	mustOK(t, do(ctx, ts.URL, "/api/generate", short(map[string]any{"keep_alive": "0s"}), nil))
	eventually(t, "keep_alive 0 to unload", func() bool { return len(srv.Stats().Models) == 0 })
}

// Preload (empty prompt / no messages) answers done_reason "load" without metrics; keep_alive 0
// with an empty prompt answers "unload" and unloads.
func TestPreloadUnload(t *testing.T) {
	t.Parallel()
	srv, ts := startServer(t, Config{Speed: 10, Models: []Profile{testProfile("m")}})
	ctx := context.Background()
	for _, tc := range []struct{ path, field string }{{"/api/generate", "prompt"}, {"/api/chat", "messages"}} {
		o := do(ctx, ts.URL, tc.path, map[string]any{"model": "m", "keep_alive": -1}, nil)
		mustOK(t, o)
		f := o.final(t)
		if !f.Done || f.DoneReason != "load" || f.TotalDuration != 0 || f.EvalCount != 0 || f.LoadDuration != 0 {
			t.Errorf("%s preload = %s, want done, done_reason load, no metrics", tc.path, o.body)
		}
		if got := loadedModels(srv); !slices.Equal(got, []string{"m:latest:ready"}) {
			t.Errorf("%s preload: loaded %v", tc.path, got)
		}
		// The preload took the load time (2 s / 10) even though it reports no metrics.
		if tc.path == "/api/generate" && o.e2e() < 150*time.Millisecond {
			t.Errorf("cold preload answered in %v, before the model could load", o.e2e())
		}
		o = do(ctx, ts.URL, tc.path, map[string]any{"model": "m", "keep_alive": 0}, nil)
		mustOK(t, o)
		if f := o.final(t); !f.Done || f.DoneReason != "unload" || f.TotalDuration != 0 {
			t.Errorf("%s unload = %s, want done, done_reason unload", tc.path, o.body)
		}
		eventually(t, "unload", func() bool { return len(srv.Stats().Models) == 0 })
	}
}

// A runner option that differs from the loaded runner's reloads the model, and the reload's
// time shows in load_duration. Sampling options do not.
func TestRunnerOptionChangeReloads(t *testing.T) {
	p := testProfile("m")
	p.LoadTime = time.Second // 100 ms at Speed 10
	srv, ts := startServer(t, Config{NumParallel: 2, Speed: 10, Models: []Profile{p}})
	ctx := context.Background()
	req := func(opts map[string]any) outcome {
		opts["num_predict"] = 2
		o := do(ctx, ts.URL, "/api/generate", generate("m", map[string]any{"options": opts}), nil)
		mustOK(t, o)
		return o
	}
	cold := req(map[string]any{"num_ctx": 2048}).final(t)
	warm := req(map[string]any{"num_ctx": 2048, "temperature": 0.7, "seed": 3}).final(t)
	memBefore := srv.GPU().MemoryUsedMiB
	reload := req(map[string]any{"num_ctx": 4096}).final(t)
	if st := srv.Stats(); st.Loads != 2 || st.Models[0].NumCtx != 4096 {
		t.Fatalf("after a num_ctx change: loads=%d num_ctx=%d, want 2 loads, 4096", st.Loads, st.Models[0].NumCtx)
	}
	within(t, "warm load / cold load", warm.load().Seconds()/cold.load().Seconds(), 0, 0.3)
	within(t, "reload load / cold load", reload.load().Seconds()/cold.load().Seconds(), 0.7, 1.5)
	// Twice the context: twice the KV cache for both slots.
	wantDelta := 2 * p.MiBPerSlot(2048)
	within(t, "memory delta / 2 slots × MiB per slot at 2048", (srv.GPU().MemoryUsedMiB-memBefore)/wantDelta, 0.999, 1.001)
	req(map[string]any{"num_ctx": 4096, "num_gpu": 10})
	if st := srv.Stats(); st.Loads != 3 {
		t.Errorf("num_gpu change: loads=%d, want 3", st.Loads)
	}
}

func TestUnknownModelAndBadRequest(t *testing.T) {
	t.Parallel()
	_, ts := startServer(t, Config{Models: []Profile{testProfile("m")}})
	ctx := context.Background()
	for _, tc := range []struct {
		path, body string
		status     int
		want       string
	}{
		{"/api/generate", `{"model":"no-such-model","prompt":"hi"}`, 404, `{"error":"model 'no-such-model' not found"}`},
		{"/api/chat", `{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}`, 404, `{"error":"model 'no-such-model' not found"}`},
		{"/api/generate", `{"model":"m","prompt":`, 400, `{"error":"unexpected EOF"}`},
		{"/api/generate", ``, 400, `{"error":"missing request body"}`},
		{"/api/generate", `{"prompt":"hi"}`, 400, `{"error":"model is required"}`},
		{"/api/generate", `{"model":"m","prompt":"hi","options":{"num_ctx":"big"}}`, 400, `{"error":"option \"num_ctx\" must be an integer"}`},
		{"/api/generate", `{"model":"m","prompt":"hi","keep_alive":"soon"}`, 400, ""},
		{"/v1/chat/completions", `{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}`, 404,
			`{"error":{"message":"model 'no-such-model' not found","type":"api_error","param":null,"code":null}}` + "\n"},
		{"/v1/completions", `{"model":"m","prompt":`, 400,
			`{"error":{"message":"unexpected EOF","type":"invalid_request_error","param":null,"code":null}}`},
		{"/api/show", `{"model":"nope"}`, 404, `{"error":"model 'nope' not found"}`},
	} {
		o := do(ctx, ts.URL, tc.path, tc.body, nil)
		if o.status != tc.status || (tc.want != "" && string(o.body) != tc.want) {
			t.Errorf("%s %s: %d %s, want %d %s", tc.path, tc.body, o.status, o.body, tc.status, tc.want)
		}
	}
}

// OLLAMA_KV_CACHE_TYPE=q8_0 halves the KV cache of every slot, and q4_0 quarters it, but only
// with flash attention on: without it Ollama keeps f16, and says so.
func TestKVCacheType(t *testing.T) {
	p := testProfile("m")
	p.LoadTime = 0
	loaded := func(cfg Config) (float64, string) {
		var log syncBuffer
		cfg.NumParallel, cfg.Speed, cfg.Models, cfg.Log = 4, 10, []Profile{p}, &log
		srv, ts := startServer(t, cfg)
		before := srv.GPU().MemoryUsedMiB
		mustOK(t, do(context.Background(), ts.URL, "/api/generate", generate("m", map[string]any{"options": map[string]any{"num_predict": 1}}), nil))
		return srv.GPU().MemoryUsedMiB - before, log.String()
	}
	f16, _ := loaded(Config{})
	kv := 4 * p.MiBPerSlot(0)
	for _, tc := range []struct {
		typ   string
		fa    bool
		ratio float64
		warn  bool
	}{{"q8_0", true, 0.5, false}, {"q4_0", true, 0.25, false}, {"f16", true, 1, false}, {"q8_0", false, 1, true}} {
		mem, log := loaded(Config{KVCacheType: tc.typ, FlashAttention: tc.fa})
		within(t, fmt.Sprintf("%s fa=%v: KV cache / f16's", tc.typ, tc.fa), (mem-(f16-kv))/kv, tc.ratio-0.001, tc.ratio+0.001)
		if warned := strings.Contains(log, "flash attention disabled"); warned != tc.warn {
			t.Errorf("%s fa=%v: warned %v", tc.typ, tc.fa, warned)
		}
	}
	if _, err := New(Config{KVCacheType: "q2"}); err == nil || !strings.Contains(err.Error(), "KVCacheType") {
		t.Errorf("q2: %v", err)
	}
	cfg, err := ConfigFromEnv(func(k string) string {
		return map[string]string{"OLLAMA_KV_CACHE_TYPE": "q8_0", "OLLAMA_FLASH_ATTENTION": "1"}[k]
	})
	if err != nil || cfg.KVCacheType != "q8_0" || !cfg.FlashAttention {
		t.Errorf("from the environment: %+v, %v", cfg, err)
	}
	for _, kv := range [][2]string{{"OLLAMA_KV_CACHE_TYPE", "q2"}, {"OLLAMA_FLASH_ATTENTION", "maybe"}} {
		if _, err := ConfigFromEnv(func(k string) string { return map[string]string{kv[0]: kv[1]}[k] }); err == nil || !strings.Contains(err.Error(), kv[0]) {
			t.Errorf("%s=%s: %v", kv[0], kv[1], err)
		}
	}
}

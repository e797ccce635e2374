package sim

import (
	"strings"
	"testing"
	"time"
)

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cfg, err := ConfigFromEnv(env())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NumParallel != 1 || cfg.MaxQueue != 512 || cfg.MaxLoadedModels != 0 || cfg.KeepAlive != "5m0s" ||
		cfg.Addr != "127.0.0.1:11434" || cfg.Debug {
		t.Errorf("defaults = %+v", cfg)
	}
	cfg, err = ConfigFromEnv(env("OLLAMA_NUM_PARALLEL", "4", "OLLAMA_MAX_QUEUE", "2", "OLLAMA_MAX_LOADED_MODELS", "1",
		"OLLAMA_KEEP_ALIVE", "-1", "OLLAMA_HOST", "127.0.0.1:8080", "OLLAMA_CONTEXT_LENGTH", "2048", "OLLAMA_DEBUG", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NumParallel != 4 || cfg.MaxQueue != 2 || cfg.MaxLoadedModels != 1 || cfg.KeepAlive != "-1" ||
		cfg.Addr != "127.0.0.1:8080" || cfg.ContextLength != 2048 || !cfg.Debug {
		t.Errorf("set = %+v", cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if srv.set.keepAlive >= 0 {
		t.Errorf("keep-alive -1 = %v, want forever (negative)", srv.set.keepAlive)
	}
	for _, tc := range []struct{ name, value string }{
		{"OLLAMA_NUM_PARALLEL", "four"},
		{"OLLAMA_NUM_PARALLEL", "-2"},
		{"OLLAMA_MAX_QUEUE", "1.5"},
		{"OLLAMA_MAX_LOADED_MODELS", "x"},
		{"OLLAMA_KEEP_ALIVE", "soon"},
		{"OLLAMA_HOST", "127.0.0.1:99999"},
		{"OLLAMA_HOST", "ftp://127.0.0.1"},
		{"OLLAMA_CONTEXT_LENGTH", "big"},
		{"OLLAMA_DEBUG", "loud"},
	} {
		_, err := ConfigFromEnv(env(tc.name, tc.value))
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s=%s: error %v, want one naming the variable", tc.name, tc.value, err)
		}
	}
}

func TestParseHostAndKeepAlive(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"127.0.0.1:11434":        "127.0.0.1:11434",
		"127.0.0.1":              "127.0.0.1:11434",
		":8080":                  "127.0.0.1:8080",
		"http://localhost:9000":  "localhost:9000",
		"http://127.0.0.1":       "127.0.0.1:11434",
		"[::1]:7000":             "[::1]:7000",
		"::1":                    "[::1]:11434",
		"https://127.0.0.1:443/": "127.0.0.1:443",
	} {
		if got, err := ParseHost(in); err != nil || got != want {
			t.Errorf("ParseHost(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]time.Duration{
		"5m": 5 * time.Minute, "300": 300 * time.Second, "0": 0, "-1": -1, "-5m": -1, "1.5": 1500 * time.Millisecond, "0s": 0,
	} {
		if got, err := ParseKeepAlive(in); err != nil || got != want {
			t.Errorf("ParseKeepAlive(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	bad := testProfile("x")
	bad.BatchAlpha = 1.5
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{NumParallel: -1}, "NumParallel"},
		{Config{MaxQueue: -1}, "MaxQueue"},
		{Config{MaxLoadedModels: -3}, "MaxLoadedModels"},
		{Config{KeepAlive: "whenever"}, "KeepAlive"},
		{Config{ContextLength: -1}, "ContextLength"},
		{Config{Speed: -2}, "Speed"},
		{Config{Models: []Profile{}}, "Models"},
		{Config{Models: []Profile{bad}}, "batch_alpha"},
		{Config{Models: []Profile{testProfile("a"), testProfile("a:latest")}}, "Models[1]"},
		{Config{GPU: GPUSpec{MemoryTotalMiB: 100, IdleW: 50, MaxW: 10}}, "MaxW"},
		{Config{Faults: []FaultRule{{Spec: "cut", Rate: 2}}}, "Faults[0]"},
		{Config{Faults: []FaultRule{{Spec: "fizz", Rate: 0.5}}}, "Faults[0]"},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("New(%+v) = %v, want an error naming %s", tc.cfg, err, tc.field)
		}
	}
	srv, err := New(Config{})
	if err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	defer srv.Close()
	if s := srv.set; s.NumParallel != 1 || s.MaxQueue != 512 || s.MaxLoadedModels != 3 || s.keepAlive != 5*time.Minute || s.Speed != 1 {
		t.Errorf("zero Config settled to %+v", s.Config)
	}
}

func TestLoadProfiles(t *testing.T) {
	t.Parallel()
	ps, err := LoadProfiles(strings.NewReader(`
models:
  - name: tiny
    from: llama3.2:1b
    decode_step: 10ms
    batch_alpha: 0.2
    kv_heads: 4
  - name: tinier
    from: tiny
    load_time: 0s
  - name: scratch:v1
    family: qwen2
    layers: 2
    heads: 2
    kv_heads: 1
    embedding_length: 128
    vocab_size: 100
    kv_bytes_per_element: 1
    context_length: 1024
    default_tokens: 5
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 || ps[0].Name != "tiny:latest" || ps[2].Name != "scratch:v1" {
		t.Fatalf("profiles = %+v", ps)
	}
	base := mustPreset(t, "llama3.2:1b")
	tiny := ps[0]
	if tiny.DecodeStep != 10*time.Millisecond || tiny.BatchAlpha != 0.2 || tiny.Layers != base.Layers || tiny.LoadTime != base.LoadTime {
		t.Errorf("tiny = %+v", tiny)
	}
	if got := tiny.MiBPerSlot(4096); got != 64 {
		t.Errorf("tiny MiB/slot = %v, want 64 (half the KV heads of llama3.2:1b)", got)
	}
	if ps[1].LoadTime != 0 || ps[1].DecodeStep != 10*time.Millisecond {
		t.Errorf("tinier = %+v", ps[1])
	}
	// 2 layers × 1 KV head × 2 × 64 dims × 1 byte × 1024 tokens = 256 KiB.
	if got := ps[2].MiBPerSlot(0); got != 0.25 {
		t.Errorf("scratch MiB/slot = %v, want 0.25", got)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"models:\n  - name: a\n    from: llama3.2:1b\n    decode_stp: 1ms\n", "decode_stp"},
		{"models:\n  - name: a\n    from: nothing\n", "nothing"},
		{"models:\n  - name: a\n    from: llama3.2:1b\n    batch_alpha: 1\n", "batch_alpha"},
		{"models:\n  - name: a\n    from: llama3.2:1b\n  - name: a:latest\n    from: llama3.2:1b\n", "twice"},
		{"models: []\n", "no models"},
		{"models:\n  - layers: 2\n", "name"},
	} {
		_, err := LoadProfiles(strings.NewReader(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadProfiles(%q) = %v, want an error mentioning %q", tc.yaml, err, tc.want)
		}
	}
	// Without a name, an entry tunes the preset it starts from under the preset's name.
	if ps, err := LoadProfiles(strings.NewReader("models:\n  - from: codellama:7b\n    batch_alpha: 0.5\n")); err != nil ||
		ps[0].Name != "codellama:7b" || ps[0].BatchAlpha != 0.5 {
		t.Errorf("tuned preset = %+v, %v", ps, err)
	}
	for _, p := range Presets() {
		if err := p.Validate(); err != nil {
			t.Errorf("preset %s: %v", p.Name, err)
		}
	}
}

func TestNormalizeModelName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"llama3.2:1b":                "llama3.2:1b",
		"instant":                    "instant:latest",
		"registry.local:5000/m":      "registry.local:5000/m:latest",
		"registry.local:5000/m:q4_0": "registry.local:5000/m:q4_0",
	} {
		if got := normalizeModelName(in); got != want {
			t.Errorf("normalizeModelName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExampleProfileFile(t *testing.T) {
	t.Parallel()
	ps, err := LoadProfileFile("testdata/profiles.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 || ps[2].Name != "instant:latest" {
		t.Fatalf("profiles = %+v", ps)
	}
	if got := ps[1].MiBPerSlot(0); got != 512 {
		t.Errorf("llama3.1:8b MiB/slot = %v, want 512 as the file's comment says", got)
	}
	srv, err := New(Config{Models: ps})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if _, err := LoadProfileFile("testdata/missing.yaml"); err == nil {
		t.Errorf("a missing file loaded")
	}
}

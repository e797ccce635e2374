package sim

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzRequestBody sends any body to every endpoint that reads one: the simulator answers with a
// status (a 4xx for what it cannot take), never a panic, and within its deadline.
func FuzzRequestBody(f *testing.F) {
	for _, seed := range []string{
		`{"model":"instant","prompt":"hi","options":{"num_predict":3}}`,
		`{"model":"instant","prompt":"hi","options":{"num_ctx":4611686018427387904,"num_predict":5}}`,
		`{"model":"instant","prompt":"hi","stream":false,"options":{"num_ctx":1e300}}`,
		`{"model":"instant","messages":[{"role":"user","content":"hi"}],"max_tokens":2}`,
		`{"model":"instant","messages":null,"keep_alive":-1}`,
		`{"model":"instant","prompt":"x","keep_alive":"-9223372036854775808s"}`,
		`{"model":"instant","prompt":["a",{"b":1}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"instant","context":[1,2,3],"prompt":"more","options":{"seed":-1}}`,
		`[`, `null`, ``,
	} {
		for _, path := range []string{"/api/generate", "/api/chat", "/v1/chat/completions", "/v1/completions", "/api/show"} {
			f.Add(path, []byte(seed))
		}
	}
	srv, err := New(Config{Speed: 1000, Models: []Profile{instantProfile()}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(srv.Close)
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		switch path {
		case "/api/generate", "/api/chat", "/v1/chat/completions", "/v1/completions", "/api/show":
		default:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code < 200 || w.Code > 599 {
			t.Fatalf("status %d", w.Code)
		}
	})
}

func instantProfile() Profile {
	for _, p := range Presets() {
		if p.Name == "instant:latest" {
			return p
		}
	}
	panic("no instant preset")
}

// FuzzProfiles: any profile file gives profiles or an error, never a panic; a simulator made
// of what it gives answers a short request within its deadline.
func FuzzProfiles(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "profiles.yaml")); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"models:\n  - {name: t, from: instant, decode_step: 1ms}",
		"models:\n  - {name: big, layers: 4611686018427387904, heads: 1, kv_heads: 1, embedding_length: 8}",
		"models:\n  - {name: ctx, from: instant, context_length: 4611686018427387904, default_tokens: -1}",
		"models:\n  - {name: nan, from: instant, batch_alpha: .nan, busy_util_pct: .inf}",
		"models:\n  - {name: x, from: instant, load_time: \"-1h\", vram_mib: 1e300}",
		"models: []", "models: [null]", "x: 1", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := LoadProfiles(bytes.NewReader(b))
		if err != nil {
			return
		}
		srv, err := New(Config{Speed: 1000, Models: ps})
		if err != nil {
			return
		}
		defer srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		body := `{"model":` + strconv.Quote(ps[0].Name) + `,"prompt":"hi","stream":false,"options":{"num_predict":2}}`
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/generate", strings.NewReader(body)))
		if w.Code < 200 || w.Code > 599 {
			t.Fatalf("status %d", w.Code)
		}
	})
}

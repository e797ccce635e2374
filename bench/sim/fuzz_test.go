package sim

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
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

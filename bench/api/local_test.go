package api

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"
)

func portOf(t *testing.T, srv *httptest.Server) int {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(u.Port())
	return p
}

func TestFindLocal(t *testing.T) {
	jsonMux := func(routes map[string]string) *httptest.Server {
		mux := http.NewServeMux()
		for path, body := range routes {
			mux.HandleFunc("GET "+path, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(body))
			})
		}
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		return srv
	}
	ollama := ollamaMux(t)
	llama := jsonMux(map[string]string{
		"/props":     `{"default_generation_settings":{"n_ctx":2048},"total_slots":4,"build_info":"b1-80fb11a"}`,
		"/v1/models": `{"object":"list","data":[{"id":"tiny.gguf"}]}`,
	})
	vllm := jsonMux(map[string]string{"/v1/models": `{"object":"list","data":[{"id":"Qwen/Qwen2.5-1.5B"},{"id":"a-lora"}]}`})
	other := jsonMux(map[string]string{"/healthz": `ok`}) // an HTTP server, not an LLM one
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	got := FindLocal(context.Background(), []int{closed, portOf(t, ollama), portOf(t, other), portOf(t, llama), portOf(t, vllm)}, 2*time.Second)
	if len(got) != 3 {
		t.Fatalf("found %d servers, want 3: %+v", len(got), got)
	}
	want := []struct {
		kind, label string
		api         API
		models      []string
	}{
		{ServerOllama, "Ollama 0.17.4-native", OllamaGenerate, []string{"rand-tiny:latest"}},
		{ServerLlamaServer, "llama-server b1-80fb11a", OpenAIChat, []string{"tiny.gguf"}},
		{ServerOpenAI, "openai-compatible", OpenAIChat, []string{"Qwen/Qwen2.5-1.5B", "a-lora"}},
	}
	for i, w := range want {
		s := got[i]
		if s.Identity.Kind != w.kind || s.Label() != w.label || s.API() != w.api || !slices.Equal(s.Models, w.models) {
			t.Errorf("server %d: %s %q %s %v; want %s %q %s %v", i, s.Identity.Kind, s.Label(), s.API(), s.Models, w.kind, w.label, w.api, w.models)
		}
	}
}

package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// ollamaMux serves the recorded discovery endpoints.
func ollamaMux(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	for path, file := range map[string]string{
		"GET /{$}":           "get-root.http",
		"GET /api/version":   "get-api-version.http",
		"GET /api/ps":        "get-api-ps.http",
		"GET /api/tags":      "get-api-tags.http",
		"POST /api/generate": "generate-stream.http",
	} {
		mux.Handle(path, replayHandler(loadFixture(t, file), 0))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestDiscovery(t *testing.T) {
	checkDiscovery(t, testClient(ollamaMux(t)), "0.17.4-native", LoadedModel{
		Name: "rand-tiny:latest", Size: 40412160, SizeVRAM: 0, ContextLength: 4096,
		ExpiresAt:     time.Date(2026, 11, 25, 1, 17, 25, 210750081, time.UTC),
		ParameterSize: "3.69M", Quantization: "F16",
	})
}

// checkDiscovery checks what a client reads from a server's discovery endpoints.
func checkDiscovery(t *testing.T, c *Client, version string, want LoadedModel) {
	t.Helper()
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if v, err := c.Version(ctx); err != nil || v != version {
		t.Errorf("Version: %q, %v; want %q", v, err, version)
	}
	models, err := c.Loaded(ctx)
	if err != nil {
		t.Fatalf("Loaded: %v", err)
	}
	if len(models) != 1 || !models[0].ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("Loaded: %+v", models)
	}
	models[0].ExpiresAt = want.ExpiresAt
	if models[0] != want {
		t.Errorf("Loaded:\n got %+v\nwant %+v", models[0], want)
	}
}

// TestDiscoveryOpenAIOnly: a server without Ollama's endpoints gives errors, not crashes.
func TestDiscoveryOpenAIOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/models":
			_, _ = w.Write([]byte(`{"data":[]}`))
		case "/api/ps":
			_, _ = w.Write([]byte(`<html>a web UI</html>`)) // servers with a web UI (LM Studio, some llama-server builds) answer unknown paths with a page
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"detail":"Not Found"}`))
		}
	}))
	defer srv.Close()
	c := testClient(srv)
	ctx := context.Background()
	if err := c.Ping(ctx); err == nil || !strings.Contains(err.Error(), "HTTP 404: Not Found") {
		t.Errorf("Ping: %v", err)
	}
	if v, err := c.Version(ctx); err == nil || v != "" {
		t.Errorf("Version: %q, %v", v, err)
	}
	if m, err := c.Loaded(ctx); err == nil || m != nil {
		t.Errorf("Loaded: %v, %v", m, err)
	}
}

func TestDiscoveryCancelled(t *testing.T) {
	c := testClient(silentServer(t))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Version(ctx); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("Version: %v", err)
	}
}

func TestIdentify(t *testing.T) {
	jsonAt := func(routes map[string]string) *Client {
		mux := http.NewServeMux()
		for path, body := range routes {
			mux.HandleFunc("GET "+path, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(body))
			})
		}
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		return testClient(srv)
	}
	props := `{"default_generation_settings":{"n_ctx":2048,"params":{}},"total_slots":2,"model_alias":"tiny","model_path":"/m/tiny.gguf","build_info":"b1-80fb11a"}`
	for _, tt := range []struct {
		name   string
		routes map[string]string
		want   Identity
	}{
		{"ollama 0.11", map[string]string{"/api/version": `{"version":"0.11.4"}`}, Identity{Kind: ServerOllama, Version: "0.11.4"}},
		{"ollama 0.34 runs llama-server", map[string]string{"/api/version": `{"version":"0.34.4"}`}, Identity{Kind: ServerOllama, Version: "0.34.4", Engine: ServerLlamaServer}},
		{"ollama from source", map[string]string{"/api/version": `{"version":"0.0.0"}`}, Identity{Kind: ServerOllama, Version: "built from source"}},
		{"simulator", map[string]string{"/api/version": `{"version":"0.17.4-llmload-sim"}`}, Identity{Kind: ServerSimulator, Version: "0.17.4-llmload-sim"}},
		{"llama-server", map[string]string{"/props": props}, Identity{Kind: ServerLlamaServer, Version: "b1-80fb11a", Engine: ServerLlamaServer,
			Props: &LlamaProps{TotalSlots: 2, ModelPath: "/m/tiny.gguf", ModelAlias: "tiny", BuildInfo: "b1-80fb11a", SlotContext: 2048}}},
		{"another OpenAI server", map[string]string{"/v1/models": `{"data":[]}`}, Identity{}},
		{"props without slots", map[string]string{"/props": `{"build_info":"x"}`}, Identity{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := jsonAt(tt.routes).Identify(context.Background())
			if got.Kind != tt.want.Kind || got.Version != tt.want.Version || got.Engine != tt.want.Engine ||
				(got.Props == nil) != (tt.want.Props == nil) || (got.Props != nil && *got.Props != *tt.want.Props) {
				t.Errorf("Identify = %+v (props %+v)\nwant %+v (props %+v)", got, got.Props, tt.want, tt.want.Props)
			}
		})
	}
}

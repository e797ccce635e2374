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
			_, _ = w.Write([]byte(`<html>a web UI</html>`)) // llama-server answers unknown paths with its UI
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

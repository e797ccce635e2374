package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
)

// The recordings from a real Ollama 0.34.4, which runs llama.cpp's llama-server as its engine
// (testdata/ollama-0.34.4/README.md lists how it differs from 0.11.4 on the wire: the final
// chunk's prompt_eval_cached_count, /api/chat rendered by llama-server's own chat template,
// one wording of "not found", cached_tokens in /v1's usage).
const fixtureDir0344 = "../../testdata/ollama-0.34.4"

// loadFixtureFrom reads a recording from another folder than fixtureDir with the package's
// fixture parser.
func loadFixtureFrom(tb testing.TB, dir, name string) fixture {
	tb.Helper()
	rel, err := filepath.Rel(fixtureDir, filepath.Join(dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return loadFixture(tb, rel)
}

// checkAllReplayed fails for a recording in dir that neither replayed nor other names: a
// recording added to the folder is replayed somewhere, not silently left out.
func checkAllReplayed(t *testing.T, dir string, replayed, other map[string]bool, where string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.http"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings in %s (%v)", dir, err)
	}
	for _, f := range files {
		if name := filepath.Base(f); !replayed[name] && !other[name] {
			t.Errorf("%s is replayed by no test: add it to %s", name, where)
		}
	}
}

// discovery0344 are the recordings of the discovery endpoints; TestDiscovery0344 replays them,
// TestFixtures0344 every other one.
var discovery0344 = map[string]bool{
	"get-root.http": true, "head-root.http": true, "get-api-version.http": true,
	"get-api-tags.http": true, "get-api-ps.http": true, "show.http": true,
}

func TestFixtures0344(t *testing.T) {
	type want = fixtureWant
	tests := []struct {
		file   string
		api    API
		stream bool
		want   want
	}{
		// The durations are llama-server's prompt_ms and predicted_ms in ns: whole microseconds,
		// or one ns short of them where Ollama's float conversion truncates (chat-stream's eval).
		// prompt_eval_count is the whole prompt, prompt_eval_cached_count the part the cache
		// served (none on the first request after the preload).
		{"generate-stream.http", OllamaGenerate, true, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 8, prompt: 8, reason: "length", server: true, total: 25671695, cached: 0, promptEval: 2921000, eval: 6978000}},
		{"generate-nostream.http", OllamaGenerate, false, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 1, prompt: 8, reason: "length", server: true, total: 10893659, cached: 7, promptEval: 779000, eval: 3254000}},
		// /api/chat goes through llama-server's chat template (ChatML, the model has none):
		// 45 prompt tokens for the same message, where /api/generate's prompt has 8.
		{"chat-stream.http", OllamaChat, true, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 8, prompt: 45, reason: "length", server: true, total: 18736745, cached: 1, promptEval: 6313000, eval: 4160999}},
		{"chat-nostream.http", OllamaChat, false, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 1, prompt: 45, reason: "length", server: true, total: 17500679, cached: 44, promptEval: 3845000, eval: 3079000}},
		{"preload.http", OllamaGenerate, true, want{class: ClassOK, status: 200, reason: "load"}},
		{"unload.http", OllamaGenerate, false, want{class: ClassOK, status: 200, reason: "unload"}},
		// One wording of "not found" on every endpoint (0.11.4 had two).
		{"generate-unknown-model.http", OllamaGenerate, true, want{class: ClassNotFound, status: 404, errHas: "HTTP 404: model 'no-such-model' not found"}},
		{"chat-unknown-model.http", OllamaChat, true, want{class: ClassNotFound, status: 404, errHas: "HTTP 404: model 'no-such-model' not found"}},
		{"generate-bad-json.http", OllamaGenerate, true, want{class: ClassBadRequest, status: 400, errHas: "HTTP 400: unexpected EOF"}},
		{"generate-503-queue-full.http", OllamaGenerate, false, want{class: ClassBusy, status: 503, errHas: "server busy, please try again.  maximum pending"}},
		// usage carries prompt_tokens_details.cached_tokens; /v1 still has no timings.
		{"openai-chat-stream.http", OpenAIChat, true, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 8, prompt: 45, reason: "length"}},
		{"openai-chat-nostream.http", OpenAIChat, false, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 1, prompt: 45, reason: "length"}},
		// Every chunk carries usage with zeros; only the last, after choices:[], counts.
		{"openai-completions-stream.http", OpenAICompletions, true, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 8, prompt: 8, reason: "length"}},
		{"openai-unknown-model.http", OpenAIChat, true, want{class: ClassNotFound, status: 404, errHas: "HTTP 404: model 'no-such-model' not found"}},
		{"openai-completions-unknown-model.http", OpenAICompletions, true, want{class: ClassNotFound, status: 404, errHas: "HTTP 404: model 'no-such-model' not found"}},
		{"openai-bad-json.http", OpenAIChat, true, want{class: ClassBadRequest, status: 400, errHas: "HTTP 400: unexpected EOF"}},
		{"openai-503-queue-full.http", OpenAIChat, false, want{class: ClassBusy, status: 503, errHas: "HTTP 503: server busy"}},
	}
	replayed := map[string]bool{}
	for _, tt := range tests {
		replayed[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			checkFixture(t, loadFixtureFrom(t, fixtureDir0344, tt.file), tt.api, tt.stream, tt.want)
		})
	}
	checkAllReplayed(t, fixtureDir0344, replayed, discovery0344, "TestFixtures0344 or discovery0344")
}

func TestDiscovery0344(t *testing.T) {
	mux := http.NewServeMux()
	for path, file := range map[string]string{
		"GET /{$}":         "get-root.http",
		"GET /api/version": "get-api-version.http",
		"GET /api/ps":      "get-api-ps.http",
		"GET /api/tags":    "get-api-tags.http",
	} {
		mux.Handle(path, replayHandler(loadFixtureFrom(t, fixtureDir0344, file), 0))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := testClient(srv)
	// keep_alive -1 shows as an expiry in the year 2319, as on 0.11.4.
	checkDiscovery(t, c, "0.34.4", LoadedModel{
		Name: "rand-tiny:latest", Size: 20468202, SizeVRAM: 0, ContextLength: 2048,
		ExpiresAt:     time.Date(2319, 3, 15, 17, 11, 17, 514553407, time.UTC),
		ParameterSize: "3.67M", Quantization: "F16",
	})
	// A release (not a source build's 0.0.0) of 0.30 or later: llama-server is its engine.
	id := c.Identify(context.Background())
	if id.Kind != ServerOllama || id.Version != "0.34.4" || id.Engine != ServerLlamaServer || id.Props != nil {
		t.Errorf("Identify = %+v, want Ollama 0.34.4 running llama-server", id)
	}
	for _, name := range []string{"head-root.http", "show.http"} {
		if f := loadFixtureFrom(t, fixtureDir0344, name); f.status != http.StatusOK {
			t.Errorf("%s: status %d", name, f.status)
		}
	}
}

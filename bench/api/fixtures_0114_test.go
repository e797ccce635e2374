package api

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
)

// The recordings from a real Ollama 0.11.4 — the version the e2e suite builds and runs
// (testdata/ollama-0.11.4/README.md lists how it differs from 0.17.4 on the wire: done_reason
// before done in /api/chat, two wordings of "not found", a usage object with zeros on every
// /v1/completions chunk).
const fixtureDir0114 = "../../testdata/ollama-0.11.4"

// loadFixture0114 reads a 0.11.4 recording with the package's fixture parser.
func loadFixture0114(tb testing.TB, name string) fixture {
	tb.Helper()
	rel, err := filepath.Rel(fixtureDir, filepath.Join(fixtureDir0114, name))
	if err != nil {
		tb.Fatal(err)
	}
	return loadFixture(tb, rel)
}

// discovery0114 are the recordings of the discovery endpoints; TestDiscovery0114 replays them,
// TestFixtures0114 every other one.
var discovery0114 = map[string]bool{
	"get-root.http": true, "head-root.http": true, "get-api-version.http": true,
	"get-api-tags.http": true, "get-api-ps.http": true, "show.http": true,
}

func TestFixtures0114(t *testing.T) {
	type want = fixtureWant
	tests := []struct {
		file   string
		api    API
		stream bool
		want   want
	}{
		{"generate-stream.http", OllamaGenerate, true, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 8, prompt: 8, reason: "length", server: true, total: 142471055}},
		{"generate-nostream.http", OllamaGenerate, false, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 1, prompt: 8, reason: "length", server: true, total: 74882582}},
		// 0.11.4's /api/chat puts done_reason before done in the final object.
		{"chat-stream.http", OllamaChat, true, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 8, prompt: 8, reason: "length", server: true, total: 31136505}},
		{"chat-nostream.http", OllamaChat, false, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 1, prompt: 8, reason: "length", server: true, total: 165707076}},
		{"preload.http", OllamaGenerate, true, want{class: ClassOK, status: 200, reason: "load"}},
		{"unload.http", OllamaGenerate, false, want{class: ClassOK, status: 200, reason: "unload"}},
		// Two wordings of "not found" in 0.11.4, one per handler.
		{"generate-unknown-model.http", OllamaGenerate, true, want{class: ClassNotFound, status: 404, errHas: "HTTP 404: model 'no-such-model' not found"}},
		{"chat-unknown-model.http", OllamaChat, true, want{class: ClassNotFound, status: 404, errHas: `HTTP 404: model "no-such-model" not found, try pulling it first`}},
		{"generate-bad-json.http", OllamaGenerate, true, want{class: ClassBadRequest, status: 400, errHas: "HTTP 400: unexpected EOF"}},
		{"generate-503-queue-full.http", OllamaGenerate, false, want{class: ClassBusy, status: 503, errHas: "server busy, please try again.  maximum pending"}},
		{"openai-chat-stream.http", OpenAIChat, true, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 8, prompt: 8, reason: "length"}},
		{"openai-chat-nostream.http", OpenAIChat, false, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 1, prompt: 8, reason: "length"}},
		// Every chunk carries usage with zeros; only the last, after choices:[], counts.
		{"openai-completions-stream.http", OpenAICompletions, true, want{class: ClassOK, status: 200, tokens: 8, fromServer: true, times: 8, prompt: 8, reason: "length"}},
		{"openai-unknown-model.http", OpenAIChat, true, want{class: ClassNotFound, status: 404, errHas: `HTTP 404: model "no-such-model" not found, try pulling it first`}},
		{"openai-completions-unknown-model.http", OpenAICompletions, true, want{class: ClassNotFound, status: 404, errHas: "HTTP 404: model 'no-such-model' not found"}},
		{"openai-bad-json.http", OpenAIChat, true, want{class: ClassBadRequest, status: 400, errHas: "HTTP 400: unexpected EOF"}},
		{"openai-503-queue-full.http", OpenAIChat, false, want{class: ClassBusy, status: 503, errHas: "HTTP 503: server busy"}},
	}
	replayed := map[string]bool{}
	for _, tt := range tests {
		replayed[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			checkFixture(t, loadFixture0114(t, tt.file), tt.api, tt.stream, tt.want)
		})
	}
	// A recording added to the folder is replayed somewhere, not silently left out.
	files, err := filepath.Glob(filepath.Join(fixtureDir0114, "*.http"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings in %s (%v)", fixtureDir0114, err)
	}
	for _, f := range files {
		if name := filepath.Base(f); !replayed[name] && !discovery0114[name] {
			t.Errorf("%s is replayed by no test: add it to TestFixtures0114 or discovery0114", name)
		}
	}
}

func TestDiscovery0114(t *testing.T) {
	mux := http.NewServeMux()
	for path, file := range map[string]string{
		"GET /{$}":         "get-root.http",
		"GET /api/version": "get-api-version.http",
		"GET /api/ps":      "get-api-ps.http",
		"GET /api/tags":    "get-api-tags.http",
	} {
		mux.Handle(path, replayHandler(loadFixture0114(t, file), 0))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	// keep_alive -1 shows as an expiry in the year 2319 on 0.11.4.
	checkDiscovery(t, testClient(srv), "0.11.4", LoadedModel{
		Name: "rand-tiny:latest", Size: 36713472, SizeVRAM: 0, ContextLength: 2048,
		ExpiresAt:     time.Date(2319, 3, 7, 1, 15, 16, 382248953, time.UTC),
		ParameterSize: "3.67M", Quantization: "F16",
	})
	for _, name := range []string{"head-root.http", "show.http"} {
		if f := loadFixture0114(t, name); f.status != http.StatusOK {
			t.Errorf("%s: status %d", name, f.status)
		}
	}
}

package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/llmload/llmload/bench/api"
)

// instantReply is a whole non-streamed Ollama reply, as small as a real one gets.
const instantReply = `{"model":"m","created_at":"2026-11-25T00:00:00Z","response":"ok","done":true,"done_reason":"stop","total_duration":1000,"load_duration":10,"prompt_eval_count":1,"prompt_eval_duration":10,"eval_count":1,"eval_duration":10}`

// BenchmarkClosedLoopInstant measures what the whole client (runner, HTTP client, parser,
// collector with full per-request metrics) sustains at c=50 against a server that answers at
// once: the ceiling above which llmload itself would be the bottleneck.
func BenchmarkClosedLoopInstant(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write([]byte(instantReply))
	}))
	defer srv.Close()
	client := &api.Client{BaseURL: srv.URL, HTTP: &http.Client{Transport: api.NewTransport(64)}, TotalTimeout: time.Minute}
	p := &Plan{
		Stages: []Stage{{Concurrency: 50, Requests: max(b.N, 50)}},
		Mix:    []*Template{{Model: "m", Prompt: "hi", MaxTokens: 1, Stream: false}},
	}
	if err := p.Prepare(""); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	run, err := RunPlan(context.Background(), p, client, Options{})
	if err != nil {
		b.Fatal(err)
	}
	st := run.Stages[0]
	if st.Requests.OK != st.Requests.Total {
		b.Fatalf("errors: %v", st.Requests.Errors)
	}
	b.ReportMetric(st.Throughput.RequestsPerS, "req/s")
}

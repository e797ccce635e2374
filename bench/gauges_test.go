package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
)

func TestGaugesSampledPerStage(t *testing.T) {
	var deferred atomic.Int64 // the server's queue, set by the test
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "# TYPE llamacpp:requests_deferred gauge\nllamacpp:requests_deferred %d\n# TYPE llamacpp:requests_processing gauge\nllamacpp:requests_processing 2\n", deferred.Load())
	}))
	defer srv.Close()
	client := api.New(api.Config{BaseURL: srv.URL})
	start := time.Now()
	g := StartGauges(context.Background(), client, api.ServerLlamaServer, 5*time.Millisecond, start)
	time.Sleep(100 * time.Millisecond) // stage 1: an empty queue
	mid := time.Since(start).Seconds()
	time.Sleep(20 * time.Millisecond) // between the stages: readings rounded to the ms fall here
	deferred.Store(3)
	time.Sleep(20 * time.Millisecond)
	mid2 := time.Since(start).Seconds()
	time.Sleep(100 * time.Millisecond) // stage 2: three waiting
	end := time.Since(start).Seconds()
	run := &results.Run{Stages: []*results.StageResult{{StartS: 0, WallS: mid}, {StartS: mid2, WallS: end - mid2}}}
	g.Finish(run)
	if run.ServerGauges == nil || !run.ServerGauges.Available || len(run.ServerGauges.Samples) < 4 {
		t.Fatalf("gauges %+v", run.ServerGauges)
	}
	q1, q2 := run.Stages[0].ServerGauges["llamacpp:requests_deferred"], run.Stages[1].ServerGauges["llamacpp:requests_deferred"]
	if q1.N == 0 || q2.N == 0 || q1.Max != 0 || q2.Max != 3 || q2.Mean < 1 || q2.Mean > 3 {
		t.Errorf("queue per stage: %+v then %+v; want 0, then up to 3", q1, q2)
	}
	if p := run.Stages[1].ServerGauges["llamacpp:requests_processing"]; p.Mean != 2 || p.Max != 2 {
		t.Errorf("in service: %+v, want 2", p)
	}
	g.Finish(run) // a second Finish is harmless
}

func TestGaugesUnavailableSaySo(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	for kind, want := range map[string]string{
		api.ServerOllama:      "Ollama exposes no metrics endpoint",
		api.ServerLlamaServer: "without --metrics",
		"":                    "HTTP 404",
	} {
		run := &results.Run{Stages: []*results.StageResult{{WallS: 1}}}
		StartGauges(context.Background(), api.New(api.Config{BaseURL: srv.URL}), kind, time.Millisecond, time.Now()).Finish(run)
		if g := run.ServerGauges; g == nil || g.Available || !strings.Contains(g.Reason, want) || run.Stages[0].ServerGauges != nil {
			t.Errorf("kind %q: gauges %+v, want unavailable saying %q", kind, g, want)
		}
	}
}

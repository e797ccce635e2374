package perf

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/llmload/llmload/bench"
	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/cmd/internal/instant"
)

// startInstant serves an instant server on a loopback port for the benchmark's length.
func startInstant(b *testing.B, cfg instant.Config) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = instant.NewServer(cfg).Serve(ctx, ln)
		close(done)
	}()
	b.Cleanup(func() {
		cancel()
		<-done
	})
	return "http://" + ln.Addr().String()
}

// runInstant runs one closed-loop stage of n requests at concurrency c against url, with full
// per-request metrics and the records file (to a discarding writer), and reports its rate.
func runInstant(b *testing.B, url string, c, n int, stream bool, tokens int) *results.StageResult {
	b.Helper()
	client := api.New(api.Config{BaseURL: url, MaxConns: c,
		TotalTimeout: 5 * time.Minute, FirstByteTimeout: 5 * time.Minute, StallTimeout: time.Minute})
	p := &results.Plan{
		Stages: []results.Stage{{Concurrency: c, Requests: max(n, c), Duration: results.Duration(10 * time.Minute)}},
		Mix:    []*results.Template{{Model: "instant", Prompt: "hi", MaxTokens: tokens, Stream: stream}},
	}
	w, err := bench.Prepare(p, "")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	run, err := bench.RunPlan(context.Background(), w, client, bench.Options{Records: discard{}})
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	st := run.Stages[0]
	if st.Requests.OK != st.Requests.Total {
		b.Fatalf("errors: %v", st.Requests.ErrorSamples)
	}
	b.ReportMetric(st.Throughput.RequestsPerS, "req/s")
	return st
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkClosedLoopInstant measures what the whole client (runner, HTTP client, parser,
// collector with full per-request metrics and records) sustains at c=50 against a server that
// answers at once, in this process: the ceiling above which llmload itself would be the
// bottleneck. One op is one request.
func BenchmarkClosedLoopInstant(b *testing.B) {
	runInstant(b, startInstant(b, instant.Config{}), 50, b.N, false, 1)
}

// BenchmarkClosedLoopInstantStream is the streaming counterpart: 256 streams of 64 chunks.
// One op is one request; chunks/s counts every chunk the client timestamped.
func BenchmarkClosedLoopInstantStream(b *testing.B) {
	st := runInstant(b, startInstant(b, instant.Config{}), 256, b.N, true, 64)
	b.ReportMetric(st.Throughput.OutputTokensPerS, "chunks/s")
}

package serve

import (
	"context"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench"
	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/bench/sim"
)

// A simulator whose decode step is shorter than any timer can keep (80 µs at speed 50; a
// timer asked for 50 µs waits at least that) carries the caveat on its instance, and every
// run a sweep makes against it carries it in its notes.
func TestSimulatorCaveatReachesEveryRun(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Speed = 50
	cfg.Models = []sim.Profile{sim.Presets()[0]}
	p := &results.Plan{Stages: []results.Stage{{Concurrency: 1, Requests: 1}},
		Mix: []*results.Template{{Model: cfg.Models[0].Name, Stream: true, MaxTokens: 4}}, Seed: 1}
	w, err := bench.Prepare(p, "")
	if err != nil {
		t.Fatal(err)
	}
	runs, err := Sweep(context.Background(), SweepConfig{
		Points:   Product([]Axis{NumParallelAxis(KindOllama, 1, 2)}),
		Launcher: &SimLauncher{Config: cfg},
		Session:  bench.SessionConfig{Workload: w, GPU: bench.GPUConfig{Mode: "off"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("%d runs, want 2", len(runs))
	}
	for _, r := range runs {
		n := strings.Join(r.Notes, "\n")
		if strings.Count(n, "timer granularity") != 1 || !strings.Contains(n, "80µs (llama3.2:1b at speed 50)") {
			t.Errorf("num_parallel=%s: notes %q, want the simulator's timer caveat once", r.Labels["num_parallel"], r.Notes)
		}
	}
}

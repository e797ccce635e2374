package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/llmload/llmload/bench/hostload/hostloadtest"
	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/bench/sim"
)

// simServer is the embedded simulator at a NUM_PARALLEL, serving testModel: a 40 ms decode
// step at speed 1 (10 ms at the speed used), so a request of 24 tokens holds its slot ~250 ms.
func simServer(t *testing.T, np int) string {
	t.Helper()
	p := sim.Presets()[0]
	p.Name, p.DecodeStep, p.BatchAlpha, p.LoadTime = "cap:latest", 40*time.Millisecond, 0.05, 0
	srv, err := sim.New(sim.Config{NumParallel: np, Speed: 4, Models: []sim.Profile{p}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(srv.Close)
	return ts.URL
}

func capacityWorkload(t *testing.T) *Workload {
	t.Helper()
	w, err := Prepare(&results.Plan{Seed: 1, Warmup: 1, Stages: []results.Stage{{Concurrency: 1, Requests: 1}},
		Mix: []*results.Template{{Model: "cap", Stream: true, MaxTokens: 24}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// ttftWithin judges a level by its TTFT p95: a request that waits for a slot waits a whole
// service time (~250 ms here), one that does not waits a few ms.
func ttftWithin(limitMs float64) func(*results.StageResult) (bool, []string, []string) {
	return func(st *results.StageResult) (bool, []string, []string) {
		p95 := st.LatencyMs[results.MetricTTFT].P95
		if st.Requests.OK == st.Requests.Total && p95 <= limitMs {
			return true, nil, nil
		}
		return false, []string{"ttft.p95"}, []string{fmt.Sprintf("ttft.p95 %.0fms > %.0fms", p95, limitMs)}
	}
}

// On a simulator with 4 slots, the users served without queueing are 4: the search finds it by
// doubling (1, 2, 4, 8) and bisecting (6, 5), and a by-hand run of each level agrees on where
// the objective breaks.
func TestFindCapacityOnTheSimulator(t *testing.T) {
	url := simServer(t, 4)
	path := filepath.Join(t.TempDir(), "capacity.json")
	out := NewResultsFile(path, results.Tool{Name: "llmload", Version: "test"})
	c, err := FindCapacity(context.Background(), CapacityConfig{
		// Other test packages share the machine: its busyness is the noise test's subject, not this one's.
		Session: SessionConfig{URL: url, Workload: capacityWorkload(t), Output: out, NoMachine: true},
		SLO:     "ttft.p95<=120ms",
		Judge:   ttftWithin(120),
	})
	if err != nil && !errors.Is(err, ErrNoisy) {
		t.Fatal(err)
	}
	if errors.Is(err, ErrNoisy) {
		t.Logf("the machine was busy: %v (the levels measured still judge the search)", c.Noise)
	}
	var users []int
	for _, s := range c.Steps {
		users = append(users, s.Users)
	}
	if err == nil && (c.MaxConcurrency != 4 || c.FirstFailing != 5 || fmt.Sprint(users) != "[1 2 4 8 6 5]") {
		t.Errorf("capacity %d, first failing %d, levels %v; want 4, 5 and [1 2 4 8 6 5]", c.MaxConcurrency, c.FirstFailing, users)
	}
	f, ferr := results.ReadFile(path)
	if ferr != nil || f.Capacity == nil || len(f.Runs) != len(c.Steps) || f.Capacity.MaxConcurrency != c.MaxConcurrency {
		t.Fatalf("results file: %v, capacity %+v, %d runs for %d levels", ferr, f.Capacity, len(f.Runs), len(c.Steps))
	}
	if err != nil {
		return
	}
	// By hand: the same levels, each a run of its own, judged the same way.
	for _, u := range []int{4, 5} {
		w := capacityWorkload(t)
		w.Plan.Stages = []results.Stage{{Name: fmt.Sprintf("c=%d", u), Concurrency: u, Requests: 3 * u}}
		runs, err := RunSession(context.Background(), SessionConfig{URL: url, Workload: w, NoMachine: true})
		if err != nil {
			t.Fatal(err)
		}
		ok, _, misses := ttftWithin(120)(runs[0].Stages[0])
		if ok != (u <= c.MaxConcurrency) {
			t.Errorf("by hand, %d users meet the objective: %v %v; the search said capacity %d", u, ok, misses, c.MaxConcurrency)
		}
	}
}

// A noisy level stops the search: the answer says why instead of guessing.
func TestFindCapacityStopsWhenNoisy(t *testing.T) {
	c, err := FindCapacity(context.Background(), CapacityConfig{
		Session: SessionConfig{URL: simServer(t, 2), Workload: capacityWorkload(t), Proc: &hostloadtest.Ticking{Busy: true}},
		SLO:     "ttft.p95<=120ms",
		Judge:   ttftWithin(120),
	})
	if !errors.Is(err, ErrNoisy) || len(c.Steps) != 1 || len(c.Noise) == 0 {
		t.Errorf("err %v, %d levels, noise %q; want ErrNoisy after the first level", err, len(c.Steps), c.Noise)
	}
}

package bench

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/hostload"
	"github.com/llmload/llmload/bench/hostload/hostloadtest"
	"github.com/llmload/llmload/bench/results"
)

func TestBusyMachineMakesARunNoisy(t *testing.T) {
	for _, busy := range []bool{true, false} {
		run, err := RunPlan(context.Background(), prepared(t, results.Stage{Concurrency: 1, Requests: 4}), newFake(1, time.Millisecond),
			Options{Machine: &hostload.Meter{FS: &hostloadtest.Ticking{Busy: busy}}})
		if err != nil {
			t.Fatal(err)
		}
		m := run.Stages[0].Machine
		noisy := strings.Contains(strings.Join(run.Noise, "\n"), "noisy: the machine was busy during stage c=1")
		if m == nil || noisy != busy || (busy && m.OthersCPUPct != 100) || (!busy && m.OthersCPUPct != 0) {
			t.Errorf("busy %v: machine %+v, noise %q", busy, m, run.Noise)
		}
	}
}

// slowOnce is a Doer whose n-th request takes much longer than the others.
type slowOnce struct {
	n    atomic.Int64
	slow int64
}

func (s *slowOnce) Do(ctx context.Context, req *api.Request) *api.Record {
	rec := &api.Record{API: req.API, Model: req.Model, Stream: req.Stream, Sent: time.Now(), Class: api.ClassOK}
	d := 2 * time.Millisecond
	if s.n.Add(1) == s.slow {
		d = 40 * time.Millisecond
	}
	time.Sleep(d)
	rec.Done = time.Since(rec.Sent)
	return rec
}

func TestOutlierAtConcurrencyOneMakesARunNoisy(t *testing.T) {
	run, err := RunPlan(context.Background(), prepared(t, results.Stage{Concurrency: 1, Requests: 6}, results.Stage{Concurrency: 2, Requests: 6}),
		&slowOnce{slow: 3}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Noise) != 1 || !strings.Contains(run.Noise[0], "noisy: at concurrency 1, where nothing queues, a request of stage c=1 took") {
		t.Errorf("noise %q, want the c=1 outlier", run.Noise)
	}
	// The same outlier in a stage with a queue is no evidence of noise.
	run, err = RunPlan(context.Background(), prepared(t, results.Stage{Concurrency: 2, Requests: 6}), &slowOnce{slow: 3}, Options{})
	if err != nil || len(run.Noise) != 0 {
		t.Errorf("c=2: noise %q, %v", run.Noise, err)
	}
}

// firstWrite notes when its first Write came.
type firstWrite struct {
	mu    sync.Mutex
	first time.Time
	n     int
}

func (w *firstWrite) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.first.IsZero() {
		w.first = time.Now()
	}
	w.n += bytes.Count(p, []byte("\n"))
	return len(p), nil
}

// The records file is written as the run goes, not at its end: a killed run keeps its records.
func TestRecordsReachTheFileDuringTheRun(t *testing.T) {
	w := &firstWrite{}
	run, err := RunPlan(context.Background(), prepared(t, results.Stage{Concurrency: 1, Requests: 12}), newFake(1, 15*time.Millisecond), Options{Records: w})
	if err != nil {
		t.Fatal(err)
	}
	if total := run.Ended.Sub(run.Started); w.n != 12 || w.first.IsZero() || run.Ended.Sub(w.first) < total/3 {
		t.Errorf("%d lines; the first written %v before the end of a %v run: want most of the run", w.n, run.Ended.Sub(w.first), total)
	}
}

// Other processes' kernels on the GPU during a stage are the machine's other work too: at
// NoisyOthersGPUPct or more the run is noisy.
func TestBusyGPUMakesARunNoisy(t *testing.T) {
	pct := func(v float64) *float64 { return &v }
	run := &results.Run{Stages: []*results.StageResult{
		{Name: "c=1", Machine: &results.MachineLoad{OthersCPUPct: 3}, GPU: &results.GPUStageSummary{GPUStats: results.GPUStats{OthersUtilizationMeanPct: pct(4)}}},
		{Name: "c=8", GPU: &results.GPUStageSummary{GPUStats: results.GPUStats{OthersUtilizationMeanPct: pct(37.5)}}},
		{Name: "c=16", GPU: &results.GPUStageSummary{}},
	}}
	othersOnTheGPU(run)
	if m := run.Stages[0].Machine; m.OthersCPUPct != 3 || m.OthersGPUUtilPct == nil || *m.OthersGPUUtilPct != 4 {
		t.Errorf("c=1: %+v", m)
	}
	if m := run.Stages[1].Machine; m == nil || *m.OthersGPUUtilPct != 37.5 || run.Stages[2].Machine != nil {
		t.Errorf("c=8: %+v, c=16: %+v", m, run.Stages[2].Machine)
	}
	if len(run.Noise) != 1 || run.Noise[0] != "noisy: the GPU was busy with other processes during stage c=8: their kernels ran 38% of its time (a quiet GPU stays under 10%)" {
		t.Errorf("noise %q", run.Noise)
	}
}

package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
)

// A plan with a closed-loop stage at concurrency 1 measures the control there, and sends no
// probe.
func TestControlFromTheLoneStage(t *testing.T) {
	f := newFake(4, 5*time.Millisecond)
	run, err := RunPlan(context.Background(), prepared(t, results.Stage{Concurrency: 1, Requests: 3}, results.Stage{Concurrency: 2, Requests: 4}), f,
		Options{ControlProbe: 5})
	if err != nil {
		t.Fatal(err)
	}
	c := run.Control
	if c == nil || c.Source != "stage c=1" || c.Metric != results.MetricDecodeTPS || c.Value != run.Stages[0].Throughput.DecodeTokensPerS || c.OK != 3 {
		t.Errorf("control %+v", c)
	}
	if n := f.n.Load(); n != 7 {
		t.Errorf("%d requests sent, want the stages' 7 and no probe", n)
	}
}

// Without such a stage the probe measures it: its requests go one at a time before the stages
// and count in no stage nor in the records file.
func TestControlProbe(t *testing.T) {
	f := newFake(4, 10*time.Millisecond)
	var recs bytes.Buffer
	run, err := RunPlan(context.Background(), prepared(t, results.Stage{Concurrency: 4, Requests: 8}), f, Options{ControlProbe: 3, Records: &recs})
	if err != nil {
		t.Fatal(err)
	}
	if n := f.n.Load(); n != 11 || f.peak.Load() > 4 {
		t.Errorf("%d requests sent (peak %d in flight), want 8 + a probe of 3", n, f.peak.Load())
	}
	if st := run.Stages[0]; st.Requests.Total != 8 || bytes.Count(recs.Bytes(), []byte("\n")) != 8 {
		t.Errorf("stage holds %d requests, records file %d lines: the probe leaked in", st.Requests.Total, bytes.Count(recs.Bytes(), []byte("\n")))
	}
	c := run.Control
	// The fake decodes 10 tokens in 9/10 of its 10 ms service: about 1100 tok/s, less the
	// scheduler's delays.
	if c == nil || c.Source != "probe" || c.Requests != 3 || c.OK != 3 || c.Metric != results.MetricDecodeTPS || c.Value < 300 || c.Value > 1200 || c.E2EP50Ms < 9 {
		t.Errorf("control %+v", c)
	}
	// No probe asked for: no control.
	run, err = RunPlan(context.Background(), prepared(t, results.Stage{Concurrency: 2, Requests: 2}), newFake(2, time.Millisecond), Options{})
	if err != nil || run.Control != nil {
		t.Errorf("control %+v without a probe (%v)", run.Control, err)
	}
}

func TestOutlierInTheControlProbeMakesARunNoisy(t *testing.T) {
	run, err := RunPlan(context.Background(), prepared(t, results.Stage{Concurrency: 2, Requests: 2}), &slowOnce{slow: 2}, Options{ControlProbe: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Noise) != 1 || !strings.Contains(run.Noise[0], "noisy: at concurrency 1, where nothing queues, a request of the control probe took") {
		t.Errorf("noise %q", run.Noise)
	}
}

// loader is a Doer whose every request reports a model load of 300 ms.
type loader struct{ fakeServer }

func (l *loader) Do(ctx context.Context, req *api.Request) *api.Record {
	rec := l.fakeServer.Do(ctx, req)
	if rec.Server != nil {
		rec.Server.Load = 300 * time.Millisecond
	}
	return rec
}

// Requests of a measured stage that loaded their model are counted, and the run says that
// its latencies hold reloads.
func TestModelLoadsInAStageAreReloadThrash(t *testing.T) {
	l := &loader{*newFake(2, time.Millisecond)}
	run, err := RunPlan(context.Background(), prepared(t, results.Stage{Concurrency: 2, Requests: 4}), l, Options{})
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(run.Notes, "\n")
	if run.Stages[0].ModelLoads != 4 || !strings.Contains(notes, "reload thrash: requests of measured stages waited for a model to load") || !strings.Contains(notes, "c=2 (4 of 4 requests)") {
		t.Errorf("loads %d, notes %q", run.Stages[0].ModelLoads, run.Notes)
	}
	run, err = RunPlan(context.Background(), prepared(t, results.Stage{Concurrency: 2, Requests: 4}), newFake(2, time.Millisecond), Options{})
	if err != nil || run.Stages[0].ModelLoads != 0 || strings.Contains(strings.Join(run.Notes, "\n"), "reload") {
		t.Errorf("a warm model: loads %d, notes %q (%v)", run.Stages[0].ModelLoads, run.Notes, err)
	}
}

// Two entries of one model with different runner options make Ollama reload it between their
// requests; different sampling options, or another model, do not.
func TestReloadNoteForRunnerOptionsThatDiffer(t *testing.T) {
	mix := func(a, b map[string]any, modelB string) *Workload {
		w, err := Prepare(&results.Plan{Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{
			{Name: "chat", Model: "m", Prompt: "p", Options: a}, {Name: "batch", Model: modelB, Prompt: "p", Options: b}}}, "")
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	w := mix(map[string]any{"num_ctx": 2048.0, "temperature": 0.0}, map[string]any{"num_ctx": 8192.0}, "m")
	if n := strings.Join(w.Notes, "\n"); !strings.Contains(n, "reload thrash: chat (num_ctx 2048) and batch (num_ctx 8192) ask m for different runner options") {
		t.Errorf("notes %q", w.Notes)
	}
	for _, w := range []*Workload{
		mix(map[string]any{"num_ctx": 2048.0, "temperature": 0.0}, map[string]any{"num_ctx": 2048.0, "temperature": 1.0}, "m"),
		mix(map[string]any{"num_ctx": 2048.0}, map[string]any{"num_ctx": 8192.0}, "other"),
	} {
		if len(w.Notes) != 0 {
			t.Errorf("notes %q", w.Notes)
		}
	}
}

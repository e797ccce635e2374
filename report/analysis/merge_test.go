package analysis

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/llmload/llmload/bench/results"
)

const resultsDir = "../../testdata/results"

// merge folds the files' runs as `llmload report --merge` does, and returns the runs.
func merge(files []*results.File, sources []string) ([]*results.Run, []string, error) {
	es, notes, err := mergeEntries(entries(files, sources))
	if err != nil {
		return nil, nil, err
	}
	var runs []*results.Run
	for _, e := range es {
		runs = append(runs, e.run)
	}
	var texts []string
	for _, n := range notes {
		texts = append(texts, n.Text)
	}
	return runs, texts, nil
}

// hostStage is a stage as one client host measured it: E2E values from..to milliseconds.
func hostStage(t *testing.T, from, to int, tps float64) *results.StageResult {
	t.Helper()
	h := hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)
	for ms := from; ms <= to; ms++ {
		if err := h.RecordValue(int64(ms) * 1000); err != nil {
			t.Fatal(err)
		}
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	n := to - from + 1
	return &results.StageResult{
		Name: "c=4", Concurrency: 4, WallS: 10,
		Requests:             results.Counts{Total: n + 1, OK: n, Errors: map[string]int{"http_503": 1}, ErrorSamples: map[string]string{"http_503": "busy"}},
		Throughput:           results.Throughput{RequestsPerS: float64(n) / 10, OutputTokensPerS: tps, DecodeTokensPerS: tps / 4},
		OutputTokens:         int64(tps * 10),
		EffectiveParallelism: 3.5,
		LatencyMs: map[string]results.Summary{
			results.MetricE2E:            results.SummarizeHistogram(h),
			results.MetricFirstTokenWait: {N: int64(n), P50: 1},
		},
		Histograms:    map[string]string{results.MetricE2E: string(enc)},
		Decomposition: &results.Decomposition{Requests: n, E2E: float64(from+to) / 2, Eval: 10, Residual: 30, Overhead: 20, QueueWait: 10},
		Timeline:      []results.TimelinePoint{{T: 0, InFlight: 2, Completed: n / 2}, {T: 1, InFlight: 1.5, Completed: n - n/2}},
	}
}

func TestMergeIsLossless(t *testing.T) {
	run := func(host string, from, to int, tps float64) *results.File {
		return &results.File{Schema: results.Schema, Runs: []*results.Run{{
			Labels:   map[string]string{"num_parallel": "4"},
			Host:     results.Host{Hostname: host, CPUs: 4},
			Baseline: &results.Baseline{ResidualMs: 20, Samples: 10},
			Stages:   []*results.StageResult{hostStage(t, from, to, tps)},
		}}}
	}
	files := []*results.File{run("a", 1, 100, 400), run("b", 101, 300, 500)}
	merged, notes, err := merge(files, []string{"a.json", "b.json"})
	if err != nil {
		t.Fatal(err)
	}
	if len(merged) != 1 {
		t.Fatalf("%d runs, want 1", len(merged))
	}
	r := merged[0]
	st := r.Stages[0]
	// What one host would have measured had it sent every request: 1..300 ms.
	all := hostStage(t, 1, 300, 0)
	want := all.LatencyMs[results.MetricE2E]
	if got := st.LatencyMs[results.MetricE2E]; got != want {
		t.Errorf("merged E2E = %+v, want %+v", got, want)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"requests", float64(st.Requests.Total), 302},
		{"ok", float64(st.Requests.OK), 300},
		{"http_503", float64(st.Requests.Errors["http_503"]), 2},
		{"output tok/s (summed over hosts)", st.Throughput.OutputTokensPerS, 900},
		{"requests/s", st.Throughput.RequestsPerS, 30},
		{"decode tok/s (weighted by requests)", st.Throughput.DecodeTokensPerS, (100*100 + 125*200) / 300.0},
		{"effective parallelism", st.EffectiveParallelism, 7},
		{"decomposition E2E (weighted)", st.Decomposition.E2E, (50.5*100 + 200.5*200) / 300},
		{"decomposition queue wait", st.Decomposition.QueueWait, 10},
		{"timeline in flight", st.Timeline[0].InFlight, 4},
		{"CPUs", float64(r.Host.CPUs), 8},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-3 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if r.Host.Hostname != "a+b" {
		t.Errorf("host = %q", r.Host.Hostname)
	}
	if _, ok := st.LatencyMs[results.MetricFirstTokenWait]; ok {
		t.Error("first-token wait has no histogram, yet was merged")
	}
	joined := strings.Join(notes, "\n")
	for _, s := range []string{"Merged num_parallel=4 from 2 files (a.json and b.json), client hosts a and b", "Not merged (the files keep no histogram for them): first_token_wait"} {
		if !strings.Contains(joined, s) {
			t.Errorf("notes lack %q:\n%s", s, joined)
		}
	}
	// The merged histogram is kept, so a merged file merges again.
	if _, err := results.DecodeHistogram(st.Histograms[results.MetricE2E]); err != nil {
		t.Error(err)
	}
}

func TestMergeRefusesDifferentPlans(t *testing.T) {
	a := &results.File{Runs: []*results.Run{{Stages: []*results.StageResult{{Name: "c=1", Concurrency: 1}}}}}
	b := &results.File{Runs: []*results.Run{{Stages: []*results.StageResult{{Name: "c=2", Concurrency: 2}}}}}
	c := &results.File{Runs: []*results.Run{{Stages: []*results.StageResult{{Name: "c=1", Concurrency: 1}, {Name: "c=2", Concurrency: 2}}}}}
	twice := &results.File{Runs: []*results.Run{{Stages: []*results.StageResult{{Name: "c=1", Concurrency: 1}}}, {Stages: []*results.StageResult{{Name: "c=1", Concurrency: 1}}}}}
	tests := []struct {
		files []*results.File
		want  string
	}{
		{[]*results.File{a, b}, "stage 1 is c=1 in a.json but c=2 in b.json: not the same plan"},
		{[]*results.File{a, c}, "a.json has 1 stages, b.json has 2: not the same plan"},
		{[]*results.File{twice}, "a.json holds two runs with these labels"},
	}
	for _, tt := range tests {
		_, _, err := merge(tt.files, []string{"a.json", "b.json"})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("merge error = %v, want %q", err, tt.want)
		}
	}
}

// Files that keep the raw first-token wait (TTFT − load − prompt_eval) as a histogram have
// their first_token_wait merged exactly: the union, less the merged baseline, as the engine
// computes it.
func TestMergeRecomputesFirstTokenWait(t *testing.T) {
	file := func(host string, from, to int) *results.File {
		st := hostStage(t, from, to, 100)
		// The raw wait: the same values as E2E, so the expected union is hostStage(1, 300)'s.
		st.Histograms[results.MetricFirstTokenWaitRaw] = st.Histograms[results.MetricE2E]
		return &results.File{Schema: results.Schema, Runs: []*results.Run{{
			Labels:   map[string]string{"num_parallel": "4"},
			Host:     results.Host{Hostname: host},
			Baseline: &results.Baseline{ResidualMs: 20, Samples: 10},
			Stages:   []*results.StageResult{st},
		}}}
	}
	merged, notes, err := merge([]*results.File{file("a", 1, 100), file("b", 101, 300)}, []string{"a.json", "b.json"})
	if err != nil {
		t.Fatal(err)
	}
	st := merged[0].Stages[0]
	want := hostStage(t, 1, 300, 0).LatencyMs[results.MetricE2E].Shift(20)
	if got, ok := st.LatencyMs[results.MetricFirstTokenWait]; !ok || got != want {
		t.Errorf("merged first_token_wait = %+v (present %v), want %+v", got, ok, want)
	}
	if _, ok := st.LatencyMs[results.MetricFirstTokenWaitRaw]; ok {
		t.Error("the raw first-token wait is shown as a latency of its own")
	}
	if strings.Contains(strings.Join(notes, "\n"), "Not merged") {
		t.Errorf("notes say something was not merged: %q", notes)
	}
	if _, err := results.DecodeHistogram(st.Histograms[results.MetricFirstTokenWaitRaw]); err != nil {
		t.Errorf("merged raw histogram not kept (a merged file must merge again): %v", err)
	}
}

func TestMergeFixtures(t *testing.T) {
	names := []string{"merge-host-a.json", "merge-host-b.json"}
	files, err := results.ReadFiles([]string{filepath.Join(resultsDir, names[0]), filepath.Join(resultsDir, names[1])})
	if err != nil {
		t.Fatal(err)
	}
	merged, _, err := merge(files, names)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range merged[0].Stages {
		var n int64
		var tps float64
		for _, f := range files {
			n += f.Runs[0].Stages[i].LatencyMs[results.MetricE2E].N
			tps += f.Runs[0].Stages[i].Throughput.OutputTokensPerS
		}
		if got := st.LatencyMs[results.MetricE2E].N; got != n {
			t.Errorf("stage %s: merged E2E n = %d, want %d", st.Name, got, n)
		}
		if math.Abs(st.Throughput.OutputTokensPerS-tps) > 1e-6 {
			t.Errorf("stage %s: merged tok/s = %v, want %v", st.Name, st.Throughput.OutputTokensPerS, tps)
		}
	}
}

// Runs made one after the other did not load the server together: merging them would add up
// their throughputs. They stay apart, and a note says why; runs that overlap are merged.
func TestMergeOnlyRunsThatRanAtOnce(t *testing.T) {
	at := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	run := func(host string, started time.Time) *results.File {
		st := hostStage(t, 1, 100, 400)
		st.StartS = 0.5
		return &results.File{Schema: results.Schema, Runs: []*results.Run{{
			Labels:  map[string]string{"num_parallel": "4"},
			Host:    results.Host{Hostname: host},
			Started: started, Ended: started.Add(11 * time.Second),
			Stages: []*results.StageResult{st},
		}}}
	}
	runs, notes, err := merge([]*results.File{run("a", at), run("b", at.Add(time.Minute))}, []string{"a.json", "b.json"})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].Stages[0].Throughput.RequestsPerS != 10 {
		t.Fatalf("%d runs (req/s %v), want the two apart", len(runs), runs[0].Stages[0].Throughput.RequestsPerS)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "Not merged: num_parallel=4 of a.json and b.json ran one after the other") || !strings.Contains(notes[0], "stage c=4 ended in a.json at 10:00:10.500, before it began in b.json at 10:01:00.500") {
		t.Errorf("notes %q", notes)
	}
	// Two seconds apart, the ten-second stages overlap: merged, throughputs summed.
	runs, _, err = merge([]*results.File{run("a", at), run("b", at.Add(2*time.Second))}, []string{"a.json", "b.json"})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Stages[0].Throughput.RequestsPerS != 20 {
		t.Errorf("%d runs, want one merged with 20 req/s", len(runs))
	}
}

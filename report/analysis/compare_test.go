package analysis

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/results"
)

// lvl is one stage of a synthetic run: known figures in, known comparison out.
type lvl struct {
	c      int
	tps    float64 // output tok/s
	ttft95 float64 // ms
	e2e95  float64 // ms
	failed int
}

func synthRun(label string, levels ...lvl) *results.Run {
	r := &results.Run{Labels: map[string]string{}, Baseline: &results.Baseline{ResidualMs: 20}}
	if label != "" {
		k, v, _ := strings.Cut(label, "=")
		r.Labels[k] = v
	}
	for _, l := range levels {
		st := &results.StageResult{
			Name: "c=" + strconv.Itoa(l.c), Concurrency: l.c, WallS: 10,
			Requests:             results.Counts{Total: 100, OK: 100 - l.failed},
			Throughput:           results.Throughput{OutputTokensPerS: l.tps, RequestsPerS: l.tps / 100, DecodeTokensPerS: 50},
			EffectiveParallelism: float64(l.c),
			LatencyMs: map[string]results.Summary{
				results.MetricTTFT: {N: 100, P50: l.ttft95 / 2, P95: l.ttft95},
				results.MetricE2E:  {N: 100, P50: l.e2e95 / 2, P95: l.e2e95},
			},
			Decomposition: &results.Decomposition{Requests: 100, E2E: l.e2e95 / 2, QueueWait: l.ttft95 / 4},
		}
		if l.e2e95 > 0 {
			st.Decomposition.QueueShare = l.ttft95 / 2 / l.e2e95
		}
		if l.failed > 0 {
			st.Requests.Errors = map[string]int{"http_503": l.failed}
		}
		r.Stages = append(r.Stages, st)
	}
	return r
}

func mustSLO(t *testing.T, s string) SLO {
	t.Helper()
	slo, err := ParseSLO(s)
	if err != nil {
		t.Fatal(err)
	}
	return slo
}

func TestCompareRecommendation(t *testing.T) {
	// Throughput at c=8 grows 100 → 180 → 300 → 310 tok/s with NUM_PARALLEL 1, 2, 4, 8; TTFT
	// p95 falls as slots stop requests queueing.
	sweep := []*results.Run{
		synthRun("num_parallel=1", lvl{c: 1, tps: 100, ttft95: 50, e2e95: 1000}, lvl{c: 8, tps: 100, ttft95: 7000, e2e95: 8000}),
		synthRun("num_parallel=2", lvl{c: 1, tps: 100, ttft95: 50, e2e95: 1000}, lvl{c: 8, tps: 180, ttft95: 3500, e2e95: 4500}),
		synthRun("num_parallel=4", lvl{c: 1, tps: 100, ttft95: 50, e2e95: 1000}, lvl{c: 8, tps: 300, ttft95: 1200, e2e95: 2700}),
		synthRun("num_parallel=8", lvl{c: 1, tps: 100, ttft95: 50, e2e95: 1000}, lvl{c: 8, tps: 310, ttft95: 80, e2e95: 2600}),
	}
	tests := []struct {
		name        string
		runs        []*results.Run
		opts        CompareOptions
		setting     string
		best        string
		knee        string
		closest     string
		fallback    string
		summaryHas  []string
		reasonsHave []string
	}{
		{
			name: "no SLO: the knee wins over a 3% gain", runs: sweep,
			setting: "4", best: "8", knee: "4",
			summaryHas:  []string{"Recommended: num_parallel=4", "300 output tok/s at c=8", "×3.00 over num_parallel=1", "no SLO given"},
			reasonsHave: []string{"num_parallel=8 gives the most throughput, but only +3.3% more", "Throughput stops growing after num_parallel=4"},
		},
		{
			name: "SLO rules out the small settings", runs: sweep, opts: CompareOptions{SLO: mustSLO(t, "ttft_p95=2s")},
			setting: "4", best: "8", knee: "4",
			summaryHas:  []string{"within the SLO (ttft_p95 ≤ 2s)"},
			reasonsHave: []string{"num_parallel=1 and 2 miss the SLO"},
		},
		{
			name: "SLO only the largest meets", runs: sweep, opts: CompareOptions{SLO: mustSLO(t, "ttft_p95=500ms")},
			setting: "8", best: "8", knee: "4",
		},
		{
			name: "a bigger knee gain changes nothing when the step is worth it", runs: sweep, opts: CompareOptions{KneeGain: 0.02},
			setting: "8", best: "8", knee: "",
			reasonsHave: []string{"Throughput still grows at num_parallel=8"},
		},
		{
			name: "no setting meets the SLO at c=8: closest and a lower load that works", runs: sweep, opts: CompareOptions{SLO: mustSLO(t, "e2e_p95=2s")},
			closest: "8", fallback: "1", knee: "4",
			summaryHas:  []string{"No num_parallel setting meets the SLO (e2e_p95 ≤ 2s) at its highest load", "num_parallel=8 at c=8, has e2e_p95 2.60 s, 30% over 2s"},
			reasonsHave: []string{"At lower load the SLO holds: num_parallel=1 at c=1 meets it with 100 output tok/s"},
		},
		{
			name: "judged at c=1 every setting is alike: the smallest wins", runs: sweep, opts: CompareOptions{Concurrency: 1},
			setting: "1", best: "1", knee: "1",
		},
		{
			name: "errors bound", opts: CompareOptions{SLO: mustSLO(t, "errors.rate=1%")},
			runs: []*results.Run{
				synthRun("num_parallel=1", lvl{c: 4, tps: 100, ttft95: 1, e2e95: 1}),
				synthRun("num_parallel=2", lvl{c: 4, tps: 190, ttft95: 1, e2e95: 1, failed: 5}),
			},
			setting: "1", best: "1",
			reasonsHave: []string{"num_parallel=2 misses the SLO"},
		},
		{
			name: "text settings: the most throughput, no knee", opts: CompareOptions{By: "engine"},
			runs: []*results.Run{
				synthRun("engine=llama.cpp", lvl{c: 4, tps: 200, ttft95: 1, e2e95: 1}),
				synthRun("engine=ollama", lvl{c: 4, tps: 205, ttft95: 1, e2e95: 1}),
				synthRun("", lvl{c: 4, tps: 900, ttft95: 1, e2e95: 1}),
			},
			setting: "ollama", best: "ollama",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := CompareWith(tt.runs, tt.opts)
			r := c.Recommendation
			if r.Setting != tt.setting || r.Best != tt.best || r.Knee != tt.knee || r.Closest != tt.closest || r.FallbackSetting != tt.fallback {
				t.Errorf("recommendation = setting %q best %q knee %q closest %q fallback %q\nwant setting %q best %q knee %q closest %q fallback %q\nsummary: %s",
					r.Setting, r.Best, r.Knee, r.Closest, r.FallbackSetting, tt.setting, tt.best, tt.knee, tt.closest, tt.fallback, r.Summary)
			}
			for _, s := range tt.summaryHas {
				if !strings.Contains(r.Summary, s) {
					t.Errorf("summary %q lacks %q", r.Summary, s)
				}
			}
			reasons := strings.Join(r.Reasons, "\n")
			for _, s := range tt.reasonsHave {
				if !strings.Contains(reasons, s) {
					t.Errorf("reasons lack %q:\n%s", s, reasons)
				}
			}
		})
	}
}

func TestCompareFigures(t *testing.T) {
	runs := []*results.Run{
		synthRun("num_parallel=1", lvl{c: 1, tps: 100, ttft95: 40, e2e95: 1000}, lvl{c: 4, tps: 110, ttft95: 3000, e2e95: 4000}),
		synthRun("num_parallel=4", lvl{c: 1, tps: 100, ttft95: 40, e2e95: 1000}, lvl{c: 4, tps: 200, ttft95: 60, e2e95: 2000}),
		// A repeat of num_parallel=4: its figures are medians over the two runs.
		synthRun("num_parallel=4", lvl{c: 1, tps: 104, ttft95: 44, e2e95: 1100}, lvl{c: 4, tps: 220, ttft95: 80, e2e95: 2200}),
		synthRun("host=other", lvl{c: 4, tps: 5}),
	}
	c := Compare(runs, "", SLO{})
	if c.By != DefaultBy || len(c.Settings) != 2 {
		t.Fatalf("by %q, %d settings; want num_parallel, 2", c.By, len(c.Settings))
	}
	if !strings.Contains(noteTexts(c.Notes), "1 run without a num_parallel label left out") {
		t.Errorf("notes = %q, want the unlabelled run mentioned", noteTexts(c.Notes))
	}
	s := c.Settings[1]
	if s.Value != "4" || s.Runs != 2 || !s.Numeric || s.Number != 4 {
		t.Errorf("setting = %+v", s)
	}
	j := s.Judged
	if j == nil || j.Concurrency != 4 {
		t.Fatalf("judged level = %+v, want c=4", j)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"output tok/s (median of 200, 220)", j.OutputTokensPerS, 210},
		{"TTFT p95 (median of 60, 80)", j.TTFTP95, 70},
		{"TTFT p50", j.TTFTP50, 35},
		{"E2E p95", j.E2EP95, 2100},
		{"queue wait mean", j.QueueWaitMean, 17.5},
		{"effective parallelism", j.EffectiveParallelism, 4},
		{"per slot", *j.ParallelismPerSlot, 1},
		{"gain over num_parallel=1", *s.GainOverPrevious, 210.0/110 - 1},
	}
	for _, ck := range checks {
		if math.Abs(ck.got-ck.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if j.Requests != 200 || j.OK != 200 || j.Runs != 2 {
		t.Errorf("counts = %d/%d over %d runs", j.OK, j.Requests, j.Runs)
	}
	if got := *c.Settings[0].Judged.ParallelismPerSlot; got != 4 {
		t.Errorf("num_parallel=1 at c=4 per slot = %v, want 4 (requests queue)", got)
	}
}

func TestMiBPerSlot(t *testing.T) {
	// GPU memory after preload measured on a real Ollama 0.17.4 (H100, an 837M-parameter
	// model, num_ctx 2048): 2427 MiB at NUM_PARALLEL=1, 2811 at 4, 3323 at 8: 128 MiB per extra
	// slot.
	mem := map[string]float64{"1": 2427, "4": 2811, "8": 3323}
	var es []*entry
	for _, np := range []string{"1", "4", "8"} {
		r := synthRun("num_parallel="+np, lvl{c: 8, tps: 100})
		v := mem[np]
		util := 50.0
		es = append(es, &entry{run: r, gpu: gpuData{stages: []*results.GPUStageSummary{{GPUStats: results.GPUStats{MemoryUsedPeakMiB: &v, UtilizationMeanPct: &util}}}}})
	}
	c := compareEntries(es, CompareOptions{})
	f := c.MiBPerSlot
	if f == nil || f.Points != 3 || math.Abs(f.Slope-128) > 1e-9 || math.Abs(f.Intercept-2299) > 1e-9 || math.Abs(f.R2-1) > 1e-12 {
		t.Fatalf("fit = %+v, want 128 MiB per slot from 2299 MiB, R² 1", f)
	}
	if !strings.Contains(strings.Join(c.Recommendation.Reasons, " "), "Each extra slot costs about 128 MiB") {
		t.Errorf("reasons = %q", c.Recommendation.Reasons)
	}
	// One setting is no line.
	if leastSquares([]float64{4}, []float64{1}) != nil || leastSquares([]float64{4, 4}, []float64{1, 2}) != nil {
		t.Error("a fit from one x value")
	}
}

func TestCompareEdgeCases(t *testing.T) {
	c := Compare(nil, "", SLO{})
	if len(c.Settings) != 0 || !strings.Contains(c.Recommendation.Summary, "nothing to compare") {
		t.Errorf("empty comparison = %+v", c.Recommendation)
	}
	// A setting whose every request failed is never recommended, nor the closest.
	runs := []*results.Run{
		synthRun("num_parallel=1", lvl{c: 2, tps: 0, failed: 100}),
		synthRun("num_parallel=2", lvl{c: 2, tps: 0, failed: 100}),
	}
	c = Compare(runs, "", SLO{})
	if c.Recommendation.Setting != "" || c.Recommendation.Closest != "" || !strings.Contains(c.Recommendation.Summary, "completed a request") {
		t.Errorf("all failed: %+v", c.Recommendation)
	}
}

func TestCompareJSONHasNoInfinity(t *testing.T) {
	// An unmeasured metric misses by +Inf, which encoding/json cannot write.
	runs := []*results.Run{synthRun("num_parallel=1", lvl{c: 1, tps: 1})}
	delete(runs[0].Stages[0].LatencyMs, results.MetricTTFT)
	c := Compare(runs, "", mustSLO(t, "ttft_p95=1s"))
	if len(c.Settings[0].Judged.Misses) != 1 {
		t.Fatalf("misses = %+v", c.Settings[0].Judged.Misses)
	}
	if _, err := json.Marshal(c); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Settings[0].Judged.Misses[0].MarshalJSON(); err != nil {
		t.Fatal(err)
	}
}

func TestCompareLeavesOutASettingTheServerDidNotApply(t *testing.T) {
	mk := func(np string, asked, observed int, tps float64) *results.Run {
		return &results.Run{
			Labels: map[string]string{"num_parallel": np},
			Server: &results.ServerInfo{Managed: true, NumParallel: asked, NumParallelObserved: observed, Verified: asked == observed, Note: "forced"},
			Stages: []*results.StageResult{{Name: "c=4", Concurrency: 4, Requests: results.Counts{Total: 10, OK: 10},
				Throughput: results.Throughput{OutputTokensPerS: tps}, LatencyMs: map[string]results.Summary{"e2e": {N: 10, P50: 1, P95: 2}}}},
		}
	}
	c := Compare([]*results.Run{mk("1", 1, 1, 100), mk("4", 4, 1, 110)}, "", SLO{})
	if len(c.Settings) != 1 || c.Settings[0].Value != "1" {
		t.Fatalf("settings = %d, want only num_parallel=1 compared", len(c.Settings))
	}
	found := false
	for _, n := range c.Notes {
		if strings.Contains(n.Text, "num_parallel=4 left out") {
			found = true
		}
	}
	if !found {
		t.Errorf("notes %q do not say why num_parallel=4 was left out", noteTexts(c.Notes))
	}
}

func noteTexts(ns []Note) string {
	var texts []string
	for _, n := range ns {
		texts = append(texts, n.Text)
	}
	return strings.Join(texts, " ")
}

// A level's figures are named in JSON by catalogue names (CSV columns), so a script can put
// what it reads there into --slo or the gate.
func TestLevelJSONNamesCatalogueMetrics(t *testing.T) {
	mem, util := 1.0, 2.0
	b, err := json.Marshal(&Level{OutputTokensPerS: 1, RequestsPerS: 1, DecodeTokensPerS: 1, TTFTP50: 1, TTFTP95: 1, E2EP50: 1, E2EP95: 1,
		EffectiveParallelism: 1, GPUMemoryPeakMiB: &mem, GPUUtilizationMean: &util, ErrorRate: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"output_tokens_per_s", "requests_per_s", "decode_tokens_per_s", "ttft_p50_ms", "ttft_p95_ms", "e2e_p50_ms", "e2e_p95_ms",
		"effective_parallelism", "gpu_memory_peak_mib", "gpu_utilization_mean_pct", "error_rate"} {
		if _, ok := fields[name]; !ok {
			t.Errorf("a level's JSON has no %s", name)
		}
		if _, ok := results.LookupMetric(name); !ok {
			t.Errorf("%s, a level's figure, is no name of the catalogue", name)
		}
	}
}

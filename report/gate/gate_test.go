package gate

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/results"
)

// stageOf is a closed-loop stage whose figures derive from one TPOT: a slower decode step
// shows as a higher TPOT and proportionally fewer tokens per second.
func stageOf(conc int, tpotMs float64) *results.StageResult {
	return &results.StageResult{
		Name: "c=" + strconv.Itoa(conc), Concurrency: conc, WallS: 2,
		Requests:   results.Counts{Total: 10, OK: 10},
		Throughput: results.Throughput{RequestsPerS: 5, OutputTokensPerS: 1000 / tpotMs},
		LatencyMs: map[string]results.Summary{
			results.MetricTPOT: {N: 10, P50: tpotMs, P95: 1.2 * tpotMs},
			results.MetricTTFT: {N: 10, P50: 30, P95: 40},
			results.MetricE2E:  {N: 10, P50: 30 + 31*tpotMs, P95: 45 + 31*1.2*tpotMs},
		},
	}
}

// runs makes one run per TPOT value (repeats), each with the given stages' concurrencies.
func runs(labels map[string]string, tpots []float64, concs ...int) []*results.Run {
	if len(concs) == 0 {
		concs = []int{2}
	}
	var out []*results.Run
	for i, tp := range tpots {
		r := &results.Run{Labels: labels, Repeat: i + 1}
		for _, c := range concs {
			r.Stages = append(r.Stages, stageOf(c, tp))
		}
		out = append(out, r)
	}
	return out
}

func input(name string, rs ...[]*results.Run) Input {
	f := &results.File{Schema: results.Schema}
	for _, r := range rs {
		f.Runs = append(f.Runs, r...)
	}
	return Input{Files: []*results.File{f}, Sources: []string{name}}
}

func mustAssert(t *testing.T, exprs ...string) []Assertion {
	t.Helper()
	var out []Assertion
	for _, e := range exprs {
		a, err := ParseAssertion(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func mustTol(t *testing.T, s string) []Tolerance {
	t.Helper()
	ts, err := ParseTolerances(s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func verdicts(r *Result) string {
	var out []string
	for _, c := range r.Checks {
		out = append(out, c.Series+" "+c.Name+"="+string(c.Verdict))
	}
	return strings.Join(out, "; ")
}

func TestAssertions(t *testing.T) {
	cur := input("cur.json", runs(nil, []float64{2, 2.2, 1.8}, 1, 8))
	cases := []struct {
		name   string
		exprs  []string
		stages []string
		want   string
	}{
		{"every stage", []string{"tpot.p50 < 2.1ms"}, nil, "c=1 tpot.p50 < 2.1ms=pass; c=8 tpot.p50 < 2.1ms=pass"},
		{"the median decides", []string{"tpot.p50 < 2ms"}, nil, "c=1 tpot.p50 < 2ms=fail; c=8 tpot.p50 < 2ms=fail"},
		{"a named stage", []string{"c=8:output_tps >= 500/s"}, nil, "c=8 c=8:output_tps >= 500/s=pass"},
		{"--stage", []string{"ttft.p95 <= 40ms", "errors.rate == 0"}, []string{"c=1"}, "c=1 ttft.p95 <= 40ms=pass; c=1 errors.rate == 0=pass"},
		{"not measured fails", []string{"c=1:queue_wait.p95 < 1s"}, nil, "c=1 c=1:queue_wait.p95 < 1s=fail"},
		{"not equal", []string{"c=1:errors.count != 0"}, nil, "c=1 c=1:errors.count != 0=fail"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Evaluate(cur, Input{}, Options{Assertions: mustAssert(t, c.exprs...), Stages: c.stages})
			if err != nil {
				t.Fatal(err)
			}
			if got := verdicts(r); got != c.want {
				t.Errorf("verdicts\n got %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestAssertionUsesMedianWithInterval(t *testing.T) {
	cur := input("cur.json", runs(nil, []float64{1, 2, 3, 4, 5, 6}))
	r, err := Evaluate(cur, Input{}, Options{Assertions: mustAssert(t, "tpot.p50 < 3.6")})
	if err != nil {
		t.Fatal(err)
	}
	c := r.Checks[0]
	if c.Current.Median != 3.5 || !c.Current.HasCI || c.Current.Lo != 1 || c.Current.Hi != 6 || c.Verdict != Pass {
		t.Errorf("check %+v", c)
	}
	if !strings.Contains(c.Reason, "median 3.5ms of 6 runs") {
		t.Errorf("reason %q", c.Reason)
	}
}

func TestBaselineComparison(t *testing.T) {
	base5 := []float64{2.00, 2.02, 1.98, 2.01, 1.99}
	cases := []struct {
		name    string
		base    []float64
		cur     []float64
		tol     string
		verdict Verdict
		p       float64 // −1: not checked
		reason  string
		note    string
	}{
		{"50% slower, 5 vs 5: significant and beyond", base5, []float64{3.0, 3.03, 2.97, 3.01, 2.99}, "tpot.p50=+10%", Fail, 2.0 / 252, "+50% (p=0.00794), beyond the +10% tolerance", ""},
		{"throughput falls with it", base5, []float64{3.0, 3.03, 2.97, 3.01, 2.99}, "output_tps=-10%", Fail, 2.0 / 252, "-33.3%", ""},
		{"5% slower: significant but within", base5, []float64{2.10, 2.12, 2.08, 2.11, 2.09}, "tpot.p50=+10%", Pass, 2.0 / 252, "within +10%", ""},
		{"same build: not significant", base5, []float64{2.005, 1.985, 2.015, 1.995, 2.025}, "tpot.p50=+10%", Pass, -1, "no significant change", ""},
		{"noisy and beyond, but not significant", []float64{1, 2, 3, 4, 5}, []float64{1.5, 2.5, 3.5, 4.5, 5.5}, "tpot.p50=+10%", Pass, -1, "not significant", ""},
		{"faster: better", base5, []float64{1.5, 1.51, 1.49, 1.52, 1.48}, "tpot.p50=+10%", Pass, 2.0 / 252, "better", ""},
		{"3 vs 3, 50% slower: tolerance alone", []float64{2, 2.01, 1.99}, []float64{3, 3.01, 2.99}, "tpot.p50=+10%", Fail, 0.1, "too few runs", "smallest p-value they can give is 0.1"},
		{"3 vs 3, 5% slower: passes on the tolerance", []float64{2, 2.01, 1.99}, []float64{2.1, 2.11, 2.09}, "tpot.p50=+10%", Pass, 0.1, "within +10%", "at least 4 runs a side"},
		{"1 vs 1", []float64{2}, []float64{2.5}, "tpot.p50=+10%", Fail, 1, "too few runs", "1 baseline and 1 current runs"},
		{"a two-sided tolerance", base5, []float64{1.5, 1.51, 1.49, 1.52, 1.48}, "tpot.p50=±10%", Fail, 2.0 / 252, "beyond the ±10% tolerance", ""},
		{"an absolute tolerance", base5, []float64{2.3, 2.31, 2.29, 2.32, 2.28}, "tpot.p50=+0.5ms", Pass, 2.0 / 252, "within +0.5ms", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Evaluate(input("cur.json", runs(nil, c.cur)), input("base.json", runs(nil, c.base)), Options{Tolerances: mustTol(t, c.tol)})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Checks) != 1 {
				t.Fatalf("%d checks: %s", len(r.Checks), verdicts(r))
			}
			ch := r.Checks[0]
			if ch.Verdict != c.verdict {
				t.Errorf("verdict %s (%s), want %s", ch.Verdict, ch.Reason, c.verdict)
			}
			if c.p >= 0 && !near(ch.Test.P, c.p, 1e-9) {
				t.Errorf("p = %v, want %v", ch.Test.P, c.p)
			}
			if !strings.Contains(ch.Reason, c.reason) {
				t.Errorf("reason %q lacks %q", ch.Reason, c.reason)
			}
			if c.note != "" && !strings.Contains(strings.Join(r.Notes, "\n"), c.note) {
				t.Errorf("notes lack %q:\n%s", c.note, strings.Join(r.Notes, "\n"))
			}
		})
	}
}

func TestBaselineMeasuredOnOneSide(t *testing.T) {
	cur := runs(nil, []float64{2, 2, 2, 2})
	base := runs(nil, []float64{2, 2, 2, 2})
	for _, r := range cur {
		delete(r.Stages[0].LatencyMs, results.MetricTTFT)
	}
	r, err := Evaluate(input("cur.json", cur), input("base.json", base), Options{Tolerances: mustTol(t, "ttft.p95=+10%,queue_wait.p95=+10%")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := verdicts(r), "c=2 ttft.p95 (+10%)=fail; c=2 queue_wait.p95 (+10%)=skip"; got != want {
		t.Errorf("verdicts %s, want %s", got, want)
	}
}

func TestDefaultTolerancesApplyWithABaseline(t *testing.T) {
	r, err := Evaluate(input("cur.json", runs(nil, []float64{2, 2.01, 1.99, 2.02})), input("base.json", runs(nil, []float64{2, 2.01, 1.99, 2.02})), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range r.Checks {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ", "); got != "e2e.p95 (+10%), ttft.p95 (+10%), tpot.p50 (+10%), output_tps (-10%)" {
		t.Errorf("default checks: %s", got)
	}
	if !r.Passed() {
		t.Errorf("identical runs failed: %s", verdicts(r))
	}
}

// Runs that differ in a label (a sweep) are compared setting by setting; a label that is
// constant on each side (a commit) does not keep them apart.
func TestSeriesFollowVaryingLabels(t *testing.T) {
	np := func(n, commit string) map[string]string {
		return map[string]string{"num_parallel": n, "commit": commit}
	}
	cur := input("cur.json", runs(np("1", "b"), []float64{2, 2, 2, 2}), runs(np("4", "b"), []float64{6, 6.1, 5.9, 6}))
	base := input("base.json", runs(np("1", "a"), []float64{2, 2, 2, 2}), runs(np("4", "a"), []float64{4, 4.1, 3.9, 4}))
	r, err := Evaluate(cur, base, Options{Tolerances: mustTol(t, "tpot.p50=+10%")})
	if err != nil {
		t.Fatal(err)
	}
	want := "num_parallel=1 c=2 tpot.p50 (+10%)=pass; num_parallel=4 c=2 tpot.p50 (+10%)=fail"
	if got := verdicts(r); got != want {
		t.Errorf("verdicts\n got %s\nwant %s", got, want)
	}
	if n := r.Checks[1].Current.N(); n != 4 {
		t.Errorf("num_parallel=4 pooled %d runs, want 4", n)
	}
}

func TestEvaluateRejectsBadInput(t *testing.T) {
	cur := input("cur.json", runs(nil, []float64{2, 2}, 1, 8))
	base := input("base.json", runs(nil, []float64{2, 2}, 4))
	cases := []struct {
		name string
		cur  Input
		base Input
		opts Options
		want string
	}{
		{"unknown --stage", cur, Input{}, Options{Stages: []string{"c=3"}, Assertions: mustAssert(t, "tpot.p50 < 1")}, `no stage "c=3" in the current runs (stages: c=1, c=8)`},
		{"assertion on an unknown stage", cur, Input{}, Options{Assertions: mustAssert(t, "c=3:tpot.p50 < 1")}, `no stage "c=3"`},
		{"tolerance on an unknown stage", cur, base, Options{Tolerances: mustTol(t, "c=3:tpot.p50=+1%")}, `no stage "c=3"`},
		{"nothing in common", cur, base, Options{}, "nothing to compare: no stage of the current runs (c=1; c=8) is in the baseline (c=4)"},
		{"no runs", Input{Files: []*results.File{{Schema: results.Schema}}}, Input{}, Options{}, "no runs"},
		{"alpha", cur, Input{}, Options{Alpha: 1.5}, "alpha must lie between 0 and 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Evaluate(c.cur, c.base, c.opts)
			var ie *results.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not a *results.InputError", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q lacks %q", err, c.want)
			}
		})
	}
}

func TestOverloadedClient(t *testing.T) {
	rs := runs(nil, []float64{2, 2, 2}, 1, 64)
	rs[1].Stages[1].Client = results.ClientCheck{Overloaded: true, Reason: "send lag p99 120ms"}
	cur := input("cur.json", rs)
	opts := Options{Assertions: mustAssert(t, "tpot.p50 < 5")}
	_, err := Evaluate(cur, Input{}, opts)
	var oe *OverloadedError
	if !errors.As(err, &oe) {
		t.Fatalf("error %v, want an *OverloadedError", err)
	}
	if want := "client overloaded: results unreliable (cur.json run 2, stage c=64: send lag p99 120ms)"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	// A stage that is not judged does not matter.
	opts.Stages = []string{"c=1"}
	if _, err := Evaluate(cur, Input{}, opts); err != nil {
		t.Errorf("c=1 alone: %v", err)
	}
	opts.Stages, opts.AllowOverloaded = nil, true
	r, err := Evaluate(cur, Input{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(r.Notes, "\n"), "client overloaded") {
		t.Errorf("allowed overload not noted: %q", r.Notes)
	}
}

func TestMetricValues(t *testing.T) {
	st := stageOf(4, 2)
	st.Requests = results.Counts{Total: 20, OK: 18, Errors: map[string]int{"http_503": 2}}
	peak := 3000.0
	st.GPU = &results.GPUStageSummary{GPUStats: results.GPUStats{MemoryUsedPeakMiB: &peak}}
	cases := []struct {
		metric string
		want   float64
		ok     bool
	}{
		{"tpot.p50", 2, true}, {"tpot.p95", 2.4, true}, {"output_tps", 500, true}, {"requests_per_s", 5, true},
		{"errors.rate", 0.1, true}, {"errors.count", 2, true}, {"errors.http_503", 2, true}, {"errors.truncated", 0, true},
		{"requests.ok", 18, true}, {"queue_wait.p95", 0, false}, {"gpu.memory_peak_mib", 3000, true}, {"gpu.energy_j", 0, false}, {"decode_tps", 0, false},
	}
	for _, c := range cases {
		m, ok := results.LookupMetric(c.metric)
		if !ok {
			t.Fatalf("no metric %s", c.metric)
		}
		v, ok := m.Value(st)
		if ok != c.ok || (ok && !near(v, c.want, 1e-9)) {
			t.Errorf("%s = %v, %v; want %v, %v", c.metric, v, ok, c.want, c.ok)
		}
	}
	if _, ok := results.LookupMetric("ttft"); ok {
		t.Error("a bare distribution is not a metric")
	}
	if m, _ := results.LookupMetric("e2e.p95"); m.Unit.Format(1234.5) != "1.23s" || m.Unit.Format(38.94) != "38.9ms" {
		t.Errorf("formats %s %s", m.Unit.Format(1234.5), m.Unit.Format(38.94))
	}
	if got := changeText(math.Inf(1)); got != "+∞" {
		t.Errorf("change from 0: %s", got)
	}
}

// A class is judged apart: when the chat class's TTFT regresses under the batch class's load,
// an assertion on chat fails and the same on batch passes.
func TestClassAssertions(t *testing.T) {
	mk := func(chatTTFT float64) []*results.Run {
		var out []*results.Run
		for i := range 3 {
			st := stageOf(8, 2)
			st.Classes = map[string]*results.Class{
				"chat":  {Requests: results.Counts{Total: 10, OK: 10}, LatencyMs: map[string]results.Summary{results.MetricTTFT: {N: 10, P95: chatTTFT + float64(i)}}},
				"batch": {Requests: results.Counts{Total: 5, OK: 5}, LatencyMs: map[string]results.Summary{results.MetricTTFT: {N: 5, P95: 300}}},
			}
			out = append(out, &results.Run{Repeat: i + 1, Stages: []*results.StageResult{st}})
		}
		return out
	}
	exprs := []string{"class=chat:ttft.p95 < 500ms", "c=8,class=batch:ttft.p95 < 500ms"}
	for _, tt := range []struct {
		chat float64
		want string
	}{
		{200, "c=8 class=chat class=chat:ttft.p95 < 500ms=pass; c=8 class=batch c=8,class=batch:ttft.p95 < 500ms=pass"},
		{900, "c=8 class=chat class=chat:ttft.p95 < 500ms=fail; c=8 class=batch c=8,class=batch:ttft.p95 < 500ms=pass"},
	} {
		r, err := Evaluate(input("cur.json", mk(tt.chat)), Input{}, Options{Assertions: mustAssert(t, exprs...)})
		if err != nil {
			t.Fatal(err)
		}
		if got := verdicts(r); got != tt.want {
			t.Errorf("chat TTFT p95 %v ms:\n got %s\nwant %s", tt.chat, got, tt.want)
		}
	}
	_, err := Evaluate(input("cur.json", mk(200)), Input{}, Options{Assertions: mustAssert(t, "class=mail:ttft.p95 < 1s")})
	if err == nil || !strings.Contains(err.Error(), `no class "mail" in the current runs (classes: batch, chat)`) {
		t.Errorf("unknown class: %v", err)
	}
	if _, err := ParseTolerances("class=chat:ttft.p95=+10%"); err == nil {
		t.Error("a tolerance on a class parsed")
	}
}

// A run with no measured stage (killed during its warm-up) is bad input, not a pass.
func TestNoMeasuredStageIsBadInput(t *testing.T) {
	for _, rs := range [][]*results.Run{
		{{Stages: nil}},
		{{Stages: []*results.StageResult{{Name: "c=1", Concurrency: 1}}}},
	} {
		_, err := Evaluate(input("cur.json", rs), Input{}, Options{Assertions: mustAssert(t, "errors.rate == 0")})
		var ie *results.InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), "nothing to judge") {
			t.Errorf("%d stages: %v, want bad input", len(rs[0].Stages), err)
		}
	}
}

// A sweep's rounds are repeats of each setting: they pool into one series per setting, as
// repeats do, and a comparison against the baseline has all of them a side.
func TestRoundsPoolLikeRepeats(t *testing.T) {
	rounds := func(n string, tpots []float64) []*results.Run {
		var out []*results.Run
		for i, tp := range tpots {
			out = append(out, runs(map[string]string{"num_parallel": n, results.LabelRound: strconv.Itoa(i + 1)}, []float64{tp})...)
		}
		return out
	}
	cur := input("cur.json", rounds("1", []float64{2, 2, 2, 2}), rounds("4", []float64{6, 6.1, 5.9, 6}))
	base := input("base.json", rounds("1", []float64{2, 2.1, 1.9, 2}), rounds("4", []float64{4, 4.1, 3.9, 4}))
	r, err := Evaluate(cur, base, Options{Tolerances: mustTol(t, "tpot.p50=+10%")})
	if err != nil {
		t.Fatal(err)
	}
	want := "num_parallel=1 c=2 tpot.p50 (+10%)=pass; num_parallel=4 c=2 tpot.p50 (+10%)=fail"
	if got := verdicts(r); got != want || r.Checks[1].Current.N() != 4 || !r.Checks[1].Significant {
		t.Errorf("verdicts %s (want %s), %d runs pooled", got, want, r.Checks[1].Current.N())
	}
}

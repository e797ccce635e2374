package analysis

import (
	"strconv"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/results"
)

// roundsSweep is a sweep of num_parallel settings in rounds: tps[setting][round] is the output
// tok/s at c=8, and every run's control decodes at control[round] tok/s.
func roundsSweep(tps map[string][]float64, control []float64) []*results.Run {
	var runs []*results.Run
	for np, vals := range tps {
		for r, v := range vals {
			run := synthRun("num_parallel="+np, lvl{c: 8, tps: v, ttft95: 100, e2e95: 1000})
			run.Labels[results.LabelRound] = strconv.Itoa(r + 1)
			run.Server = &results.ServerInfo{Managed: true, NumParallel: 0, Settings: []results.ServerSetting{{Name: "OLLAMA_NUM_PARALLEL", Label: "num_parallel", Value: np}}}
			c := 100.0
			if r < len(control) {
				c = control[r]
			}
			run.Control = &results.Control{Source: "probe", Metric: results.MetricDecodeTPS, Value: c, OK: 4, Requests: 4}
			runs = append(runs, run)
		}
	}
	return runs
}

// Five rounds that keep their order: the gain counts, with the rounds it won and its p-value,
// and each setting's tok/s has its interval over the rounds.
func TestRoundsMakeAGainSignificant(t *testing.T) {
	c := Compare(roundsSweep(map[string][]float64{
		"1": {500, 510, 490, 505, 495},
		"2": {1000, 1010, 990, 1005, 995},
		"4": {1310, 1320, 1300, 1315, 1305},
	}, nil), "", SLO{})
	r := c.Recommendation
	if r.Setting != "4" || r.Test == nil || !r.Test.Significant || r.Test.Wins != 5 || r.Test.Rounds != 5 {
		t.Fatalf("recommendation %+v, test %+v", r, r.Test)
	}
	for _, want := range []string{"How sure: num_parallel=4: +31% tok/s over num_parallel=2, better in 5 of 5 rounds, p = 0.0079."} {
		if r.Sureness != want {
			t.Errorf("sureness %q, want %q", r.Sureness, want)
		}
	}
	four := c.Settings[2]
	if iv := four.Judged.OutputTokensPerSInterval; four.Runs != 5 || four.Rounds != 5 || iv == nil || iv.Lo != 1300 || iv.Hi != 1320 || iv.Confidence != 0.9375 {
		t.Errorf("num_parallel=4: %d runs, %d rounds, interval %+v", four.Runs, four.Rounds, iv)
	}
	if g := four.GainTest; g == nil || !g.Significant || g.Cell() != "+31% (p=0.0079)" {
		t.Errorf("gain test %+v", g)
	}
}

// When the rounds cannot tell two settings apart, the smaller is recommended and the answer
// says they are not distinguishable on this machine, although one median is 12 % higher.
func TestRoundsThatOverlapAreNotDistinguishable(t *testing.T) {
	c := Compare(roundsSweep(map[string][]float64{
		"2": {1000, 1300, 900, 1250, 950},
		"4": {1200, 980, 1320, 1120, 1050},
	}, nil), "", SLO{})
	r := c.Recommendation
	if r.Setting != "2" || r.Best != "4" {
		t.Fatalf("setting %s, best %s; want 2, the best 4 not being surely better", r.Setting, r.Best)
	}
	if !strings.Contains(r.Sureness, "num_parallel=2 and num_parallel=4 are not distinguishable on this machine") || len(r.Indistinguishable) != 2 {
		t.Errorf("sureness %q, indistinguishable %v", r.Sureness, r.Indistinguishable)
	}
	if g := c.Settings[1].GainTest; g == nil || g.Significant || !g.Testable || !strings.Contains(g.Cell(), "~") {
		t.Errorf("gain test %+v", g)
	}
	if !strings.Contains(strings.Join(r.Reasons, " "), "the runs cannot tell that gain from this machine's variation") {
		t.Errorf("reasons %q", r.Reasons)
	}
}

// Three rounds can never reach p < 0.05 (the smallest p is 2/C(6,3) = 0.1): the answer says
// so, and how many it takes; the medians decide as they did before rounds.
func TestTooFewRoundsSaySo(t *testing.T) {
	c := Compare(roundsSweep(map[string][]float64{"2": {1000, 1010, 990}, "4": {1310, 1320, 1300}}, nil), "", SLO{})
	r := c.Recommendation
	want := "How sure: num_parallel=4: +31% tok/s over num_parallel=2, better in 3 of 3 rounds, p = 0.1: not tested, 3 rounds a side cannot show a difference at α = 0.05 (the smallest p-value they can give is 0.1); it takes 4 (sweep --rounds 4)."
	if r.Setting != "4" || r.Sureness != want {
		t.Errorf("setting %s, sureness\n%q\nwant\n%q", r.Setting, r.Sureness, want)
	}
}

// A busy machine, or a control that drifts between rounds, makes the comparison noisy: its
// notes lead, and the recommendation says so.
func TestNoisyRunsLeadTheAnalysis(t *testing.T) {
	runs := roundsSweep(map[string][]float64{"1": {500, 510, 490, 505}, "2": {1000, 1010, 990, 1005}}, []float64{100, 102, 99, 250})
	c := Compare(runs, "", SLO{})
	if !c.Recommendation.Noisy || len(c.Notes) == 0 || c.Notes[0].Kind != KindNoisy || !strings.Contains(c.Notes[0].Text, "the control") || len(c.Notes[0].Runs) != 2 {
		t.Fatalf("noisy %v, notes %+v", c.Recommendation.Noisy, c.Notes)
	}
	if !strings.Contains(c.Notes[0].Text, "num_parallel=1, round=4 at 250 tok/s") {
		t.Errorf("the drift names no run of round 4: %s", c.Notes[0].Text)
	}
	// The run's own noise (a busy machine) comes first in the analysis, named by its run.
	runs = roundsSweep(map[string][]float64{"1": {500, 510}, "2": {1000, 1010}}, nil)
	runs[0].Noise = []string{"noisy: the machine was busy during stage c=8: other processes used 90% of its CPUs (a quiet machine stays under 25%)"}
	runs[0].Stages[0].Machine = &results.MachineLoad{OthersCPUPct: 90}
	runs[1].Noise = []string{"noisy: at concurrency 1, where nothing queues, a request of the control probe took 900 ms against a median of 100 ms (over 5×)"}
	a, err := Analyze([]*results.File{{Schema: results.Schema, Runs: runs}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	busy := "Noisy: the machine was busy with other work during 1 of 4 runs (" + results.LabelText(runs[0].Labels) + "): other processes used 90% of its CPUs in their stages (a quiet machine stays under 25%)."
	if n := a.Notes[0]; n.Kind != KindNoisy || n.Text != busy {
		t.Errorf("first note %+v\nwant %s", n, busy)
	}
	if n := a.Notes[1]; n.Kind != KindNoisy || n.Text != "Noisy ("+results.LabelText(runs[1].Labels)+"): at concurrency 1, where nothing queues, a request of the control probe took 900 ms against a median of 100 ms (over 5×)." {
		t.Errorf("second note %+v", n)
	}
	if !a.Comparison.Recommendation.Noisy {
		t.Error("the recommendation does not say it is noisy")
	}
	// Quiet rounds: no noise.
	c = Compare(roundsSweep(map[string][]float64{"1": {500, 510}, "2": {1000, 1010}}, []float64{100, 104}), "", SLO{})
	if c.Recommendation.Noisy || len(c.Notes) > 0 && c.Notes[0].Kind == KindNoisy {
		t.Errorf("quiet sweep noisy: %+v", c.Notes)
	}
}

// A sweep of another setting is compared by it, and of several by all of them; "per slot"
// belongs to num_parallel alone.
func TestCompareBySweptSettings(t *testing.T) {
	mk := func(settings map[string]string, tps float64) *results.Run {
		r := synthRun("", lvl{c: 4, tps: tps, ttft95: 100, e2e95: 1000})
		r.Server = &results.ServerInfo{Managed: true}
		for _, k := range []string{"max_loaded_models", "num_parallel"} {
			if v, ok := settings[k]; ok {
				r.Labels[k] = v
				r.Server.Settings = append(r.Server.Settings, results.ServerSetting{Name: "OLLAMA_" + strings.ToUpper(k), Label: k, Value: v})
			}
		}
		return r
	}
	c := Compare([]*results.Run{mk(map[string]string{"max_loaded_models": "1"}, 100), mk(map[string]string{"max_loaded_models": "2"}, 900)}, "", SLO{})
	if c.By != "max_loaded_models" || c.Recommendation.Setting != "2" || c.PerSlot() || c.Settings[0].Judged.ParallelismPerSlot != nil {
		t.Errorf("by %s, setting %s, per slot %v", c.By, c.Recommendation.Setting, c.PerSlot())
	}
	var runs []*results.Run
	for _, m := range []string{"1", "2"} {
		for _, np := range []string{"2", "1"} {
			runs = append(runs, mk(map[string]string{"max_loaded_models": m, "num_parallel": np}, 100*float64(len(runs)+1)))
		}
	}
	c = Compare(runs, "", SLO{})
	var vals []string
	for _, s := range c.Settings {
		vals = append(vals, s.Value)
	}
	if c.By != "max_loaded_models,num_parallel" || strings.Join(vals, "; ") != "max_loaded_models=1 num_parallel=1; max_loaded_models=1 num_parallel=2; max_loaded_models=2 num_parallel=1; max_loaded_models=2 num_parallel=2" {
		t.Errorf("by %s: %q", c.By, vals)
	}
	if s := c.Recommendation.Summary; !strings.HasPrefix(s, "Recommended: max_loaded_models=2 num_parallel=1 — 400 output tok/s") {
		t.Errorf("summary %q", s)
	}
}

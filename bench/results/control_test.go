package results

import (
	"strings"
	"testing"
)

func controlRun(labels map[string]string, tps float64) *Run {
	r := &Run{Labels: labels}
	if tps > 0 {
		r.Control = &Control{Source: "probe", Metric: MetricDecodeTPS, Value: tps}
	}
	return r
}

// Controls within the tolerance of their median agree; a run past it drifts, and only such
// runs are named.
func TestControlDrift(t *testing.T) {
	quiet := []*Run{controlRun(nil, 200), controlRun(nil, 206), controlRun(nil, 195), controlRun(nil, 0)}
	if d := ControlDrift(quiet, []string{"a", "b", "c", "d"}); d != nil {
		t.Errorf("a 5%% spread drifted: %+v", d)
	}
	// Sixteen runs of a real server on a quiet machine: a range of 24 %, each within 12 % of
	// the median.
	var many []*Run
	for i := range 16 {
		many = append(many, controlRun(nil, 84+float64(i*24)/15))
	}
	if d := ControlDrift(many, make([]string, 16)); d != nil {
		t.Errorf("sixteen runs within 12%% of their median drifted: %+v", d)
	}
	// One run of them 22 % over the median drifts, and only it is named.
	many[15].Control.Value = 116
	if d := ControlDrift(many, []string{15: "the fast one"}); d == nil || len(d.Runs) != 1 || d.Runs[0] != 15 || !strings.Contains(d.Text, "the fast one at 116 tok/s (+") {
		t.Errorf("a run 22%% over the median: %+v", d)
	}
	if d := ControlDrift([]*Run{controlRun(nil, 100)}, []string{"a"}); d != nil {
		t.Errorf("one control drifted: %+v", d)
	}
	// The case: 107 tok/s under NUM_PARALLEL=1, 248 under 4, a median near 180.
	busy := []*Run{controlRun(nil, 107), controlRun(nil, 178), controlRun(nil, 182), controlRun(nil, 248)}
	names := []string{"num_parallel=1", "num_parallel=2", "num_parallel=3", "num_parallel=4"}
	d := ControlDrift(busy, names)
	if d == nil {
		t.Fatal("a ×2.3 spread did not drift")
	}
	if len(d.Runs) != 2 || d.Runs[0] != 0 || d.Runs[1] != 3 {
		t.Errorf("named runs %v, want 0 and 3", d.Runs)
	}
	for _, want := range []string{"noisy: the control", "num_parallel=1 at 107 tok/s (-41%)", "num_parallel=4 at 248 tok/s (+38%)", "median of 180 tok/s", "within 15%"} {
		if !strings.Contains(d.Text, want) {
			t.Errorf("text lacks %q: %s", want, d.Text)
		}
	}
	if strings.Contains(d.Text, "num_parallel=2 at") {
		t.Errorf("a run near the median is named: %s", d.Text)
	}
}

// Runs that differ in a setting which may change a lone request's speed (the KV cache type)
// are held to separate controls; num_parallel and the round do not split them.
func TestControlGroups(t *testing.T) {
	runs := []*Run{
		controlRun(map[string]string{"num_parallel": "1", "kv_cache_type": "f16", LabelRound: "1"}, 100),
		controlRun(map[string]string{"num_parallel": "2", "kv_cache_type": "q8_0", LabelRound: "1"}, 100),
		controlRun(map[string]string{"num_parallel": "2", "kv_cache_type": "f16", LabelRound: "2"}, 100),
		controlRun(map[string]string{"num_parallel": "1", "kv_cache_type": "q8_0", LabelRound: "2"}, 100),
	}
	g := ControlGroups(runs)
	if len(g) != 2 || len(g[0]) != 2 || g[0][0] != runs[0] || g[0][1] != runs[2] || g[1][0] != runs[1] || g[1][1] != runs[3] {
		t.Errorf("groups %v", g)
	}
	if !ControlNeutral("num_parallel") || !ControlNeutral("max_loaded_models") || ControlNeutral("kv_cache_type") || ControlNeutral("flash_attention") {
		t.Error("neutral settings")
	}
}

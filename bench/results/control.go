package results

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// LabelRound is the label of a sweep's round (1…N): the runs of one setting in different
// rounds are repeats, pooled by a comparison and by the gate.
const LabelRound = "round"

// Control is a run's control figure: the decode rate of a lone request (concurrency 1, where
// nothing queues and nothing is batched), which a server setting such as NUM_PARALLEL does not
// change. When it moves between the runs of a sweep, the machine moved the figures, not the
// setting.
type Control struct {
	// Source is where it was measured: "stage NAME" (the plan's own closed-loop stage at
	// concurrency 1) or "probe" (a few requests at concurrency 1 before the stages, counted in
	// no stage).
	Source   string `json:"source"`
	Requests int    `json:"requests"`
	OK       int    `json:"ok"`
	// Metric is the figure's catalogue name: decode_tps (each streamed request's output tokens
	// over its decode time, averaged) or, without streams, output_tps.
	Metric string  `json:"metric"`
	Value  float64 `json:"value"` // tok/s
	// E2EP50Ms and E2EMaxMs are the probe's latencies (a stage keeps its own).
	E2EP50Ms float64 `json:"e2e_p50_ms,omitempty"`
	E2EMaxMs float64 `json:"e2e_max_ms,omitempty"`
}

// What makes a run noisy besides its control: other processes using this share (in percent)
// of the machine's CPUs during a stage, or a lone request (concurrency 1, where nothing
// queues) taking this many times its stage's median. A quiet workstation's background (an
// idle browser, an editor) stays well under a quarter of its CPUs.
const (
	NoisyOthersCPUPct = 25
	NoisyOutlier      = 5
	// NoisyOthersGPUPct is the share of the GPU's time other processes' kernels may take
	// during a stage: a desktop's compositor takes a few percent, a game or a video encoder
	// most of it.
	NoisyOthersGPUPct = 10
)

// ControlTolerance is how far a run's control may lie from the median of the runs that should
// agree with it before a comparison of those runs is confounded. Measured on a quiet 2-core
// machine: a simulator sweep's controls stay within about 1 % of their median; against the
// real servers on the CPU (Ollama 0.11.4 and 0.34.4, llama-server; one runner thread,
// 32-token requests, a probe of 4), 9 of 10 sweeps over NUM_PARALLEL kept every run within
// 13 % of it (the tenth had one 22 % over; `make e2e` logs each sweep's controls); the busy
// workstation that made the comparisons this guards against put its runs 40 % below and
// above it (×2.3 apart).
const ControlTolerance = 0.15

// controlNeutral are the labels of settings that leave a lone request's decode rate alone:
// slots, loaded models and the queue change what many requests do, not what one does. Runs
// that differ only in these share one control; any other difference (the KV cache type,
// flash attention, the context, a label of the user's) may change it, so only runs alike in
// those are held to one control.
var controlNeutral = []string{"num_parallel", "max_loaded_models", "max_queue", LabelRound}

// ControlNeutral reports whether a setting, by its label, leaves a lone request's decode rate
// alone (num_parallel, max_loaded_models, max_queue, and the round).
func ControlNeutral(label string) bool { return slices.Contains(controlNeutral, label) }

// ControlGroups splits runs into those that must share one control: alike in every label but
// the neutral ones. Groups keep the runs' order, and come in the order of their first run.
func ControlGroups(runs []*Run) [][]*Run {
	var keys []string
	groups := map[string][]*Run{}
	for _, r := range runs {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.Labels)) {
			if !ControlNeutral(k) {
				parts = append(parts, k+"="+r.Labels[k])
			}
		}
		key := strings.Join(parts, "\x00")
		if _, ok := groups[key]; !ok {
			keys = append(keys, key)
		}
		groups[key] = append(groups[key], r)
	}
	out := make([][]*Run, 0, len(keys))
	for _, k := range keys {
		out = append(out, groups[k])
	}
	return out
}

// Drift is a control that moved across runs that should agree.
type Drift struct {
	// Spread is (max − min) / median of the runs' controls.
	Spread float64
	Median float64
	Metric string
	// Runs are the indices (into the runs given) of the controls further than ControlTolerance
	// from the median, on either side: the runs that drifted.
	Runs []int
	// Text is the sentence a run carries among its noise, starting "noisy: ".
	Text string
}

// ControlDrift judges the controls of runs that should agree (one of ControlGroups): nil when
// fewer than two have one, or when each lies within ControlTolerance of their median. A rule
// on each run rather than on the range keeps the false alarms of a quiet machine as rare with
// sixteen runs as with four: the range of many runs grows with their number. names name the
// runs in the sentence, parallel to runs.
func ControlDrift(runs []*Run, names []string) *Drift {
	var vals []float64
	var idx []int
	metric := ""
	for i, r := range runs {
		if c := r.Control; c != nil && c.Value > 0 && !math.IsNaN(c.Value) {
			if metric == "" {
				metric = c.Metric
			}
			if c.Metric != metric {
				continue // decode_tps beside output_tps: not one figure
			}
			vals = append(vals, c.Value)
			idx = append(idx, i)
		}
	}
	if len(vals) < 2 {
		return nil
	}
	med := Median(vals)
	lo, hi := slices.Min(vals), slices.Max(vals)
	d := &Drift{Spread: (hi - lo) / med, Median: med, Metric: metric}
	var named []string
	for j, v := range vals {
		if off := v/med - 1; math.Abs(off) > ControlTolerance {
			d.Runs = append(d.Runs, idx[j])
			named = append(named, fmt.Sprintf("%s at %s tok/s (%+.0f%%)", names[idx[j]], TrimFloat(v, 1), 100*off))
		}
	}
	if len(d.Runs) == 0 {
		return nil
	}
	what := "a lone request's decode rate"
	if metric != MetricDecodeTPS {
		what = "a lone request's output rate"
	}
	d.Text = fmt.Sprintf("noisy: the control, %s at concurrency 1, which the settings compared do not change, varied by %.0f%% across %d runs: %s, against a median of %s tok/s (on a quiet machine each run stays within %.0f%% of it); differences between the settings may be this machine's",
		what, 100*d.Spread, len(vals), strings.Join(named, "; "), TrimFloat(med, 1), 100*ControlTolerance)
	return d
}

// MetricDecodeTPS and MetricOutputTPS are the catalogue's names of the rates a control uses.
const (
	MetricDecodeTPS = "decode_tps"
	MetricOutputTPS = "output_tps"
)

// LabelText writes labels as "a=1, b=2", sorted by name: how runs are named in sentences.
func LabelText(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ", ")
}

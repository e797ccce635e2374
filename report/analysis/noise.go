package analysis

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/llmload/llmload/bench/results"
)

// noiseNotes are the notes that lead a report: what makes the runs' figures doubtful (a busy
// machine, a lone request far slower than the others, a control that drifted), each run's
// noise once per sentence, naming the runs that carry it. When no run already says that the
// controls drifted (files from before rounds, or runs put together by hand), the drift is
// judged here over the runs given.
func noiseNotes(es []*entry) []Note {
	var order []string
	carriers := map[string][]string{}
	drifted := false
	var out []Note
	if n, ok := busyNote(es); ok {
		out = append(out, n)
	}
	for _, e := range es {
		for _, n := range e.run.Noise {
			if strings.HasPrefix(n, busyPrefix) {
				continue // said once for every run, by busyNote
			}
			if slices.Contains(carriers[n], e.name) {
				continue
			}
			if carriers[n] == nil {
				order = append(order, n)
			}
			carriers[n] = append(carriers[n], e.name)
			drifted = drifted || strings.HasPrefix(n, "noisy: the control")
		}
	}
	for _, n := range order {
		out = append(out, Note{Kind: KindNoisy, Severity: SeverityWarning, Runs: carriers[n], Text: noisyText(n, carriers[n], len(es))})
	}
	if drifted {
		return out
	}
	runs := make([]*results.Run, len(es))
	byRun := map[*results.Run]*entry{}
	for i, e := range es {
		runs[i] = e.run
		byRun[e.run] = e
	}
	for _, group := range results.ControlGroups(runs) {
		names := make([]string, len(group))
		for i, r := range group {
			names[i] = byRun[r].name
		}
		if d := results.ControlDrift(group, names); d != nil {
			var named []string
			for _, i := range d.Runs {
				named = append(named, names[i])
			}
			out = append(out, Note{Kind: KindNoisy, Severity: SeverityWarning, Runs: named, Text: noisyText(d.Text, names, len(es))})
		}
	}
	return out
}

// busyPrefix starts the sentence a run carries for a stage during which the machine was busy.
const busyPrefix = "noisy: the machine was busy"

// busyNote says, once for all runs, during which the machine was busy with other work: the
// share of its CPUs other processes took in their stages.
func busyNote(es []*entry) (Note, bool) {
	var busy, quiet []string
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, e := range es {
		hit := false
		for _, st := range e.run.Stages {
			if st == nil || st.Machine == nil || st.Machine.OthersCPUPct < results.NoisyOthersCPUPct {
				continue
			}
			hit = true
			lo, hi = math.Min(lo, st.Machine.OthersCPUPct), math.Max(hi, st.Machine.OthersCPUPct)
		}
		if hit {
			busy = append(busy, e.name)
		} else {
			quiet = append(quiet, e.name)
		}
	}
	if len(busy) == 0 {
		return Note{}, false
	}
	share := fmt.Sprintf("%.0f%%", lo)
	if math.Round(hi) != math.Round(lo) {
		share = fmt.Sprintf("%.0f to %.0f%%", lo, hi)
	}
	runs := "the run"
	switch {
	case len(es) == 2 && len(busy) == 2:
		runs = "both runs"
	case len(es) > 1 && len(busy) == len(es):
		runs = fmt.Sprintf("all %d runs", len(es))
	case len(busy) > len(quiet):
		runs = fmt.Sprintf("%d of %d runs (all but %s)", len(busy), len(es), strings.Join(quiet, "; "))
	case len(es) > 1:
		runs = fmt.Sprintf("%d of %d runs (%s)", len(busy), len(es), strings.Join(busy, "; "))
	}
	return Note{Kind: KindNoisy, Severity: SeverityWarning, Runs: busy,
		Text: fmt.Sprintf("Noisy: the machine was busy with other work during %s: other processes used %s of its CPUs in their stages (a quiet machine stays under %d%%).", runs, share, results.NoisyOthersCPUPct)}, true
}

// noisyText is a noise sentence as a note says it: "Noisy (num_parallel=2, round=1): the
// machine was busy …", or without the runs when all of them carry it.
func noisyText(sentence string, runs []string, total int) string {
	what := strings.TrimPrefix(sentence, "noisy: ")
	if len(runs) == total {
		return "Noisy: " + what + "."
	}
	return "Noisy (" + strings.Join(runs, "; ") + "): " + what + "."
}

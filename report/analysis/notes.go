package analysis

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/internal/prose"
)

// Note is a caveat a reader must know: what it is about (Kind), how much it matters
// (Severity), the runs, stages or settings it concerns, and the sentence a report prints.
type Note struct {
	Kind     Kind     `json:"kind"`
	Severity Severity `json:"severity"`
	// Runs, Stages and Settings name what the note concerns; any may be empty.
	Runs     []string   `json:"runs,omitempty"`
	Stages   []StageRef `json:"stages,omitempty"`
	Settings []string   `json:"settings,omitempty"`
	Text     string     `json:"text"`
}

// Kind says what a note is about.
type Kind string

// Kinds of notes.
const (
	KindNoisy             Kind = "noisy"              // a busy machine, a lone outlier, a drifting control: the figures may be the machine's
	KindInterrupted       Kind = "interrupted"        // Ctrl-C stopped a run
	KindClientOverloaded  Kind = "client_overloaded"  // llmload may have added latency
	KindSimulatedServer   Kind = "simulated_server"   // the figures are the simulator's
	KindSimulatedGPU      Kind = "simulated_gpu"      // the GPU figures are the simulator's
	KindSlotsMismatch     Kind = "slots_mismatch"     // the server ran other slots than asked
	KindSlotsUnverified   Kind = "slots_unverified"   // the server's log did not confirm the slots
	KindSlotsByHand       Kind = "slots_by_hand"      // num_parallel was a label typed by hand
	KindSlotsContradicted Kind = "slots_contradicted" // the latencies say fewer slots than the label
	KindFewSamples        Kind = "few_samples"        // a p99 of fewer than MinP99Samples
	KindTokensFromChunks  Kind = "tokens_from_chunks" // output tokens counted from stream chunks
	KindLeftOut           Kind = "left_out"           // runs or settings left out of the comparison
	KindMixedServers      Kind = "mixed_servers"      // the compared runs measured different server versions
	KindMixedHosts        Kind = "mixed_hosts"        // the compared runs came from different client hosts
	KindUnequalLoad       Kind = "unequal_load"       // settings judged at different load levels
	KindMerged            Kind = "merged"             // what --merge did, and what it could not do exactly
	KindGPUNotice         Kind = "gpu_notice"         // the GPU sampler's notices
	KindRunNote           Kind = "run_note"           // a note the results file carries (the simulator's timer caveat …)
)

// Severity is how much a note matters to the figures.
type Severity string

// Severities, most serious first.
const (
	// SeverityWarning: figures may be wrong or measure something else than they say.
	SeverityWarning Severity = "warning"
	// SeverityCaution: figures hold, but read them with care.
	SeverityCaution Severity = "caution"
	// SeverityInfo: how the figures were made.
	SeverityInfo Severity = "info"
)

// notes gathers notes in order, once per text.
type notes []Note

func (ns *notes) add(n Note) {
	for _, have := range *ns {
		if have.Text == n.Text {
			return
		}
	}
	*ns = append(*ns, n)
}

// collectNotes gathers the caveats a reader must know, most important first.
func collectNotes(es []*entry, c *Comparison, mergeNotes []Note) []Note {
	var ns notes
	// What makes the figures doubtful comes first, over every run (the comparison's own noisy
	// notes cover its runs alone, for the terminal).
	for _, n := range noiseNotes(es) {
		ns.add(n)
	}
	var sim, simGPU, interrupted []string
	var overloaded, chunkTokens, fewStages []StageRef
	var overloadedText, chunkText []string
	type few struct {
		where string
		n     int64
	}
	var fews []few
	stages := 0
	for ri, e := range es {
		r := e.run
		if r.Interrupted {
			interrupted = append(interrupted, e.name)
		}
		if r.Target.Simulated {
			sim = append(sim, e.name)
		}
		if e.gpu.info != nil && e.gpu.info.Simulated {
			simGPU = append(simGPU, e.name)
		}
		si := 0
		for _, st := range r.Stages {
			if st == nil {
				continue
			}
			stages++
			ref := StageRef{Run: e.name, Stage: st.Name, run: ri, stage: si}
			si++
			where := st.Name
			if len(es) > 1 {
				where = e.name + " " + st.Name
			}
			if st.Client.Overloaded {
				overloaded = append(overloaded, ref)
				overloadedText = append(overloadedText, fmt.Sprintf("%s (%s)", where, st.Client.Reason))
			}
			if st.TokenSource == "chunks" || st.TokenSource == "mixed" {
				chunkTokens = append(chunkTokens, ref)
				chunkText = append(chunkText, where)
			}
			if s, ok := st.LatencyMs[results.MetricE2E]; ok && s.N > 0 && s.N < MinP99Samples {
				fews = append(fews, few{where, s.N})
				fewStages = append(fewStages, ref)
			}
		}
	}
	if len(interrupted) > 0 {
		ns.add(Note{Kind: KindInterrupted, Severity: SeverityWarning, Runs: interrupted,
			Text: fmt.Sprintf("Interrupted (Ctrl-C): %s. Their figures cover what was measured before.", prose.JoinAnd(interrupted))})
	}
	if len(overloaded) > 0 {
		ns.add(Note{Kind: KindClientOverloaded, Severity: SeverityWarning, Stages: overloaded,
			Text: fmt.Sprintf("Client overloaded: results unreliable — the client may have added latency: %s.", strings.Join(overloadedText, "; "))})
	}
	if len(sim) > 0 {
		ns.add(Note{Kind: KindSimulatedServer, Severity: SeverityInfo, Runs: sim,
			Text: fmt.Sprintf("Simulated server (%s): the figures show the simulator's model of a server, not real hardware.", whichRuns(sim, len(es)))})
	}
	if len(simGPU) > 0 {
		ns.add(Note{Kind: KindSimulatedGPU, Severity: SeverityInfo, Runs: simGPU,
			Text: fmt.Sprintf("Simulated GPU (%s): memory and utilization come from the simulator.", whichRuns(simGPU, len(es)))})
	}
	noteNumParallel(es, &ns)
	if len(fews) > 0 && len(fews) == stages {
		lo, hi := fews[0].n, fews[0].n
		for _, f := range fews {
			lo, hi = min(lo, f.n), max(hi, f.n)
		}
		n := fmt.Sprintf("n=%d", lo)
		if hi != lo {
			n = fmt.Sprintf("n=%d to %d", lo, hi)
		}
		ns.add(Note{Kind: KindFewSamples, Severity: SeverityCaution, Stages: fewStages,
			Text: fmt.Sprintf("Too few requests for a p99 in every stage (%s, fewer than %d): a p99 is then close to the maximum. Run more requests (-n) for a stable tail.", n, MinP99Samples)})
	} else if len(fews) > 0 {
		var parts []string
		for _, f := range fews {
			parts = append(parts, fmt.Sprintf("%s (n=%d)", f.where, f.n))
		}
		if len(parts) > 6 {
			parts = append(parts[:6], fmt.Sprintf("and %d more", len(fews)-6))
		}
		ns.add(Note{Kind: KindFewSamples, Severity: SeverityCaution, Stages: fewStages,
			Text: fmt.Sprintf("Too few requests for a p99 (fewer than %d): %s. Their p99 is close to the maximum; run more requests (-n) for a stable tail.", MinP99Samples, strings.Join(parts, ", "))})
	}
	if len(chunkTokens) > 0 {
		ns.add(Note{Kind: KindTokensFromChunks, Severity: SeverityCaution, Stages: chunkTokens,
			Text: fmt.Sprintf("Output tokens counted from stream chunks, not the server's count, in %s: tok/s is approximate.", prose.JoinAnd(chunkText))})
	}
	if c != nil {
		for _, n := range c.Notes {
			if n.Kind != KindNoisy {
				ns.add(n)
			}
		}
	}
	for _, n := range mergeNotes {
		ns.add(n)
	}
	for _, e := range es {
		if e.gpu.info != nil {
			for _, n := range e.gpu.info.Notices {
				ns.add(Note{Kind: KindGPUNotice, Severity: SeverityInfo, Runs: []string{e.name}, Text: fmt.Sprintf("%s: %s", e.name, n)})
			}
		}
	}
	// A note several runs carry (the simulator's timer caveat on every setting of a sweep) is
	// written once, naming the runs.
	merged := func(text string) bool {
		return slices.ContainsFunc(mergeNotes, func(n Note) bool { return n.Text == text })
	}
	var order []string
	carriers := map[string][]string{}
	for _, e := range es {
		for _, n := range e.run.Notes {
			if merged(n) || slices.Contains(carriers[n], e.name) {
				continue
			}
			if carriers[n] == nil {
				order = append(order, n)
			}
			carriers[n] = append(carriers[n], e.name)
		}
	}
	for _, n := range order {
		text := n
		if len(es) > 1 {
			text = whichRuns(carriers[n], len(es)) + ": " + n
		}
		ns.add(Note{Kind: KindRunNote, Severity: SeverityCaution, Runs: carriers[n], Text: text})
	}
	return ns
}

func whichRuns(names []string, total int) string {
	if len(names) == total {
		if total == 1 {
			return "the run"
		}
		return "all runs"
	}
	return prose.JoinAnd(names)
}

// noteNumParallel says when a run's num_parallel cannot be trusted: llmload did not start
// the server (the label was typed by hand), or started it and could not confirm the slots in
// its log; and when the data contradict it — requests at a concurrency within the slots
// that still waited for whole other requests.
func noteNumParallel(es []*entry, ns *notes) {
	var byHand []string
	for _, e := range es {
		v, ok := e.run.Labels[DefaultBy]
		if !ok {
			continue
		}
		switch srv := e.run.Server; {
		case srv == nil || !srv.Managed:
			byHand = append(byHand, e.name)
		case srv.NumParallelObserved > 0 && srv.NumParallelObserved != srv.NumParallel:
			ns.add(Note{Kind: KindSlotsMismatch, Severity: SeverityWarning, Runs: []string{e.name},
				Text: fmt.Sprintf("%s: llmload started the server with NUM_PARALLEL=%d, but its runner reported %d slot%s.", e.name, srv.NumParallel, srv.NumParallelObserved, prose.Plural(srv.NumParallelObserved))})
		case !srv.Verified:
			why := ""
			if srv.Note != "" {
				why = " (" + srv.Note + ")"
			}
			ns.add(Note{Kind: KindSlotsUnverified, Severity: SeverityCaution, Runs: []string{e.name},
				Text: fmt.Sprintf("%s: NUM_PARALLEL=%d not verified: the server's log did not confirm the slots%s.", e.name, srv.NumParallel, why)})
		}
		np, err := strconv.Atoi(v)
		if err != nil || np < 2 {
			continue
		}
		noteSlotsContradicted(e, np, ns)
	}
	if len(byHand) > 0 {
		ns.add(Note{Kind: KindSlotsByHand, Severity: SeverityCaution, Runs: byHand,
			Text: fmt.Sprintf("NUM_PARALLEL not verified for %s: the %s label was given by hand, and llmload, which did not start the server, cannot see its setting.", prose.JoinAnd(byHand), DefaultBy)})
	}
}

func noteSlotsContradicted(e *entry, np int, ns *notes) {
	var lone *results.StageResult
	for _, st := range e.run.Stages {
		if st != nil && st.Rate == 0 && st.Concurrency == 1 {
			lone = st
			break
		}
	}
	if lone == nil {
		return
	}
	alone, ok := lone.LatencyMs[results.MetricE2E]
	if !ok || alone.N == 0 {
		return
	}
	for _, st := range e.run.Stages {
		if st == nil || st.Rate > 0 || st.Concurrency < 2 || st.Concurrency > np {
			continue
		}
		ttft, ok := st.LatencyMs[results.MetricTTFT]
		if ok && ttft.N > 0 && ttft.P50 > 0.5*alone.P50 {
			ns.add(Note{Kind: KindSlotsContradicted, Severity: SeverityWarning, Runs: []string{e.name},
				Text: fmt.Sprintf("%s: at %s, within its %d slots, the median TTFT (%s) is over half a lone request's E2E (%s): requests waited for others to finish, as if the server had fewer slots. Check that the server really ran with %s=%d.",
					e.name, st.Name, np, prose.Ms(ttft.P50), prose.Ms(alone.P50), DefaultBy, np)})
			return
		}
	}
}

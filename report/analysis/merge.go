package analysis

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/internal/prose"
)

// mergeEntries folds runs of the same plan measured from several client hosts into one run
// each (report --merge): runs with the same labels in different files become one. Counts and
// throughputs are summed (the hosts loaded the server over the same wall time), HDR
// histograms merged and the latency summaries recomputed from them, Ollama's decomposition
// averaged weighted by requests. The notes say what was merged and what could not be merged
// exactly. It fails when runs that share labels ran different plans. Runs alone in their
// group pass through unchanged, and so do runs that ran one after the other (see apart).
func mergeEntries(es []*entry) ([]*entry, []Note, error) {
	var order []string
	groups := map[string][]*entry{}
	for _, e := range es {
		k := prose.Labels(e.run.Labels)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], e)
	}
	var out []*entry
	var notes []Note
	for _, k := range order {
		g := groups[k]
		if len(g) == 1 {
			out = append(out, g[0])
			continue
		}
		if why := apart(g); why != "" {
			// Hosts that ran one after the other did not load the server together: their
			// throughputs do not add up.
			out = append(out, g...)
			notes = append(notes, Note{Kind: KindMerged, Severity: SeverityCaution, Text: why})
			continue
		}
		e, n, err := mergeGroup(g)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, e)
		notes = append(notes, n...)
	}
	nameEntries(out)
	return out, notes, nil
}

// apart says why runs that share labels were not measured at once, so that merging them would
// add up throughputs the server never served together: a stage of one ended before the same
// stage of another began. "" when every stage overlaps in time on every host, or when a file
// does not say when it ran (then they are taken to have run at once, as --merge asks).
func apart(g []*entry) string {
	what := prose.Labels(g[0].run.Labels)
	if what == "" {
		what = "the runs"
	}
	for _, e := range g {
		if e.run.Started.IsZero() || len(e.run.Stages) != len(g[0].run.Stages) {
			return "" // no times to judge by; samePlan says what else is wrong
		}
	}
	for i, st := range g[0].run.Stages {
		if st == nil {
			return ""
		}
		var latestStart, earliestEnd time.Time
		var first, last *entry
		for _, e := range g {
			s := e.run.Stages[i]
			if s == nil {
				return ""
			}
			start := e.run.Started.Add(time.Duration(s.StartS * float64(time.Second)))
			end := start.Add(time.Duration(s.WallS * float64(time.Second)))
			if latestStart.IsZero() || start.After(latestStart) {
				latestStart, last = start, e
			}
			if earliestEnd.IsZero() || end.Before(earliestEnd) {
				earliestEnd, first = end, e
			}
		}
		if !latestStart.Before(earliestEnd) {
			return fmt.Sprintf("Not merged: %s of %s ran one after the other, not at once (stage %s ended in %s at %s, before it began in %s at %s); merging adds up the throughputs of client hosts that loaded the server together, so these are shown apart.",
				what, prose.JoinAnd(sourcesOf(g)), st.Name, first.source, earliestEnd.UTC().Format("15:04:05.000"), last.source, latestStart.UTC().Format("15:04:05.000"))
		}
	}
	return ""
}

func sourcesOf(g []*entry) []string {
	var out []string
	for _, e := range g {
		out = append(out, e.source)
	}
	return out
}

func mergeGroup(g []*entry) (*entry, []Note, error) {
	first := g[0]
	what := prose.Labels(first.run.Labels)
	if what == "" {
		what = "the runs"
	}
	seen := map[string]bool{}
	var sources, hosts []string
	for _, e := range g {
		if seen[e.source] {
			return nil, nil, fmt.Errorf("merge %s: %s holds two runs with these labels; merging joins one run per file (per client host)", what, e.source)
		}
		seen[e.source] = true
		sources = append(sources, e.source)
		if h := e.run.Host.Hostname; h != "" {
			hosts = append(hosts, h)
		}
		if err := samePlan(first, e); err != nil {
			return nil, nil, fmt.Errorf("merge %s: %w", what, err)
		}
	}
	runs := make([]*results.Run, len(g))
	for i, e := range g {
		runs[i] = e.run
	}
	run, notes, err := mergeRuns(runs, sources)
	if err != nil {
		return nil, nil, fmt.Errorf("merge %s: %w", what, err)
	}
	desc := fmt.Sprintf("Merged %s from %d files (%s)", what, len(g), prose.JoinAnd(sources))
	if len(hosts) > 0 {
		desc += fmt.Sprintf(", client hosts %s", prose.JoinAnd(hosts))
	}
	desc += ": request counts, throughputs and each stage's load (workers, rate) summed, HDR histograms merged and percentiles recomputed, the latency decomposition averaged weighted by requests."
	notes = append([]Note{{Kind: KindMerged, Severity: SeverityInfo, Text: desc}}, notes...)
	for _, n := range notes {
		run.Notes = append(run.Notes, n.Text)
	}
	e := &entry{run: run, source: first.source, merged: sources, gpu: gpuOf(run)}
	return e, notes, nil
}

// samePlan checks that two runs ran the same stages.
func samePlan(a, b *entry) error {
	if len(a.run.Stages) != len(b.run.Stages) {
		return fmt.Errorf("%s has %d stages, %s has %d: not the same plan", a.source, len(a.run.Stages), b.source, len(b.run.Stages))
	}
	for i := range a.run.Stages {
		x, y := a.run.Stages[i], b.run.Stages[i]
		if x == nil || y == nil {
			return fmt.Errorf("stage %d is null", i+1)
		}
		if x.Name != y.Name || x.Concurrency != y.Concurrency || x.Rate != y.Rate {
			return fmt.Errorf("stage %d is %s in %s but %s in %s: not the same plan", i+1, x.Name, a.source, y.Name, b.source)
		}
	}
	return nil
}

// mergeRuns merges runs of the same plan; sources name them in errors.
func mergeRuns(runs []*results.Run, sources []string) (*results.Run, []Note, error) {
	first := runs[0]
	out := &results.Run{
		Labels:  first.Labels,
		Target:  first.Target,
		Host:    first.Host,
		Started: first.Started,
		Ended:   first.Ended,
		Plan:    first.Plan,
	}
	var notes []Note
	note := func(sev Severity, text string) {
		notes = append(notes, Note{Kind: KindMerged, Severity: sev, Text: text})
	}
	urls := map[string]bool{}
	var hostnames []string
	cpus := 0
	var warm *results.Warmup
	for _, r := range runs {
		urls[r.Target.URL] = true
		if r.Host.Hostname != "" {
			hostnames = append(hostnames, r.Host.Hostname)
		}
		cpus += r.Host.CPUs
		if r.Started.Before(out.Started) {
			out.Started = r.Started
		}
		if r.Ended.After(out.Ended) {
			out.Ended = r.Ended
		}
		out.Interrupted = out.Interrupted || r.Interrupted
		if w := r.Warmup; w != nil {
			if warm == nil {
				warm = &results.Warmup{}
			}
			warm.Requests += w.Requests
			warm.OK += w.OK
			warm.Errors = addCounts(warm.Errors, w.Errors)
			warm.LoadMs = math.Max(warm.LoadMs, w.LoadMs)
			warm.WallS = math.Max(warm.WallS, w.WallS)
		}
		for _, n := range r.Notes {
			if !slices.Contains(out.Notes, n) {
				out.Notes = append(out.Notes, n)
			}
		}
	}
	out.Warmup = warm
	// The GPU is the server's: every host that sampled it saw the same device. Keep one
	// host's samples (the first that has them) rather than add them up.
	gpuFrom := -1
	for i, r := range runs {
		if r.GPU != nil && r.GPU.Available {
			gpuFrom = i
			out.GPU, out.GPUSeries = r.GPU, r.GPUSeries
			break
		}
	}
	if gpuFrom < 0 {
		for _, r := range runs {
			if r.GPU != nil {
				out.GPU = r.GPU
				break
			}
		}
	}
	if gpuFrom >= 0 && len(runs) > 1 {
		note(SeverityInfo, fmt.Sprintf("GPU figures are %s's samples, not a sum over hosts.", sourceName(sources, gpuFrom)))
	}
	for _, r := range runs {
		if r.Server != nil {
			out.Server = r.Server
			break
		}
	}
	out.Host.Hostname = strings.Join(hostnames, "+")
	out.Host.CPUs = cpus
	if len(urls) > 1 {
		note(SeverityCaution, fmt.Sprintf("The merged files measured different URLs (%s); the report shows the first.", prose.JoinAnd(slices.Sorted(maps.Keys(urls)))))
	}

	// One baseline for all: the residual of a request that did not wait, averaged over the
	// hosts by how many requests calibrated it.
	var bsum float64
	var bn int
	var bvals []float64
	for _, r := range runs {
		if b := r.Baseline; b != nil {
			w := max(b.Samples, 1)
			bsum += b.ResidualMs * float64(w)
			bn += w
			bvals = append(bvals, b.ResidualMs)
		}
	}
	if bn > 0 {
		out.Baseline = &results.Baseline{ResidualMs: results.Round3(bsum / float64(bn)), Source: "merged", Samples: bn}
		if len(bvals) != len(runs) {
			note(SeverityCaution, "Some merged runs had no queue-wait calibration; queue wait uses the others'.")
		} else if lo, hi := minMax(bvals); hi-lo > 0.5*math.Max(lo, 1) {
			note(SeverityCaution, fmt.Sprintf("The hosts' queue-wait baselines differ (%s to %s); the merged queue wait uses their weighted mean, %s.", prose.Ms(lo), prose.Ms(hi), prose.Ms(out.Baseline.ResidualMs)))
		}
	}

	dropped := map[string]bool{}
	for i := range first.Stages {
		sts := make([]*results.StageResult, len(runs))
		for j, r := range runs {
			sts[j] = r.Stages[i]
		}
		st, drop, err := mergeStage(sts, sources, out.Baseline)
		if err != nil {
			return nil, nil, err
		}
		for _, d := range drop {
			dropped[d] = true
		}
		if j := results.SpeedupReference(results.OpenStages(append(out.Stages, st)), i); j < i && out.Stages[j].Throughput.RequestsPerS > 0 {
			st.Speedup = results.Round3(st.Throughput.RequestsPerS / out.Stages[j].Throughput.RequestsPerS)
		}
		if gpuFrom >= 0 && runs[gpuFrom].Stages[i].GPU != nil {
			g := *runs[gpuFrom].Stages[i].GPU
			// Energy was spent on every host's tokens.
			if g.EnergyJ != nil && st.OutputTokens > 0 {
				jpt := *g.EnergyJ / float64(st.OutputTokens)
				g.JoulesPerOutputToken = &jpt
			}
			st.GPU = &g
		}
		out.Stages = append(out.Stages, st)
	}
	if len(dropped) > 0 {
		note(SeverityInfo, fmt.Sprintf("Not merged (the files keep no histogram for them): %s.", prose.JoinAnd(slices.Sorted(maps.Keys(dropped)))))
	}
	return out, notes, nil
}

// mergeStage merges one stage measured by several hosts. It returns the names of figures
// that could not be merged.
func mergeStage(sts []*results.StageResult, sources []string, baseline *results.Baseline) (*results.StageResult, []string, error) {
	first := sts[0]
	out := &results.StageResult{
		Name:           first.Name,
		Concurrency:    first.Concurrency,
		Rate:           first.Rate,
		Arrival:        first.Arrival,
		MaxConcurrency: first.MaxConcurrency,
		StartS:         first.StartS,
		LatencyMs:      map[string]results.Summary{},
		Histograms:     map[string]string{},
	}
	var dropped []string
	var decodeSum float64
	var decodeN int
	tokenSources := map[string]bool{}
	timeline := map[float64]*results.TimelinePoint{}
	var reasons []string
	// The server saw every host's load at once: the merged stage's load is their sum.
	out.Concurrency, out.Rate, out.MaxConcurrency = 0, 0, 0
	for _, st := range sts {
		out.Concurrency += st.Concurrency
		out.Rate += st.Rate
		out.MaxConcurrency += st.MaxConcurrency
	}
	for _, st := range sts {
		out.StartS = math.Min(out.StartS, st.StartS)
		out.WallS = math.Max(out.WallS, st.WallS)
		out.Requests.Total += st.Requests.Total
		out.Requests.OK += st.Requests.OK
		out.Requests.Errors = addCounts(out.Requests.Errors, st.Requests.Errors)
		for class, text := range st.Requests.ErrorSamples {
			if _, ok := out.Requests.ErrorSamples[class]; !ok {
				if out.Requests.ErrorSamples == nil {
					out.Requests.ErrorSamples = map[string]string{}
				}
				out.Requests.ErrorSamples[class] = text
			}
		}
		out.Throughput.RequestsPerS += st.Throughput.RequestsPerS
		out.Throughput.OutputTokensPerS += st.Throughput.OutputTokensPerS
		if st.Throughput.DecodeTokensPerS > 0 {
			decodeSum += st.Throughput.DecodeTokensPerS * float64(st.Requests.OK)
			decodeN += st.Requests.OK
		}
		out.OutputTokens += st.OutputTokens
		out.PromptTokens += st.PromptTokens
		if st.TokenSource != "" {
			tokenSources[st.TokenSource] = true
		}
		out.EffectiveParallelism += st.EffectiveParallelism
		if sat := st.Saturation; sat != nil {
			if out.Saturation == nil {
				out.Saturation = &results.Saturation{}
			}
			out.Saturation.Arrivals += sat.Arrivals
			out.Saturation.Delayed += sat.Delayed
			out.Saturation.Dropped += sat.Dropped
		}
		c := st.Client
		out.Client.SendLagP99Ms = math.Max(out.Client.SendLagP99Ms, c.SendLagP99Ms)
		out.Client.GCPauseMs = math.Max(out.Client.GCPauseMs, c.GCPauseMs)
		out.Client.CPUPct = math.Max(out.Client.CPUPct, c.CPUPct)
		out.Client.NewConnections += c.NewConnections
		out.Client.Reconnects += c.Reconnects
		if c.Overloaded {
			out.Client.Overloaded = true
			reasons = append(reasons, c.Reason)
		}
		for _, p := range st.Timeline {
			t := timeline[p.T]
			if t == nil {
				t = &results.TimelinePoint{T: p.T}
				timeline[p.T] = t
			}
			t.InFlight = results.Round3(t.InFlight + p.InFlight)
			t.Completed += p.Completed
			t.Errors += p.Errors
			t.OutputTokens += p.OutputTokens
		}
	}
	out.Client.Reason = strings.Join(reasons, "; ")
	out.Throughput.RequestsPerS = results.Round3(out.Throughput.RequestsPerS)
	out.Throughput.OutputTokensPerS = results.Round3(out.Throughput.OutputTokensPerS)
	out.EffectiveParallelism = results.Round3(out.EffectiveParallelism)
	if decodeN > 0 {
		out.Throughput.DecodeTokensPerS = results.Round3(decodeSum / float64(decodeN))
	}
	switch len(tokenSources) {
	case 0:
	case 1:
		out.TokenSource = slices.Sorted(maps.Keys(tokenSources))[0]
	default:
		out.TokenSource = "mixed"
	}
	ts := make([]float64, 0, len(timeline))
	for t := range timeline {
		ts = append(ts, t)
	}
	sort.Float64s(ts)
	for _, t := range ts {
		out.Timeline = append(out.Timeline, *timeline[t])
	}

	// Histograms: merged exactly, then summarized as the engine does.
	keys := map[string]bool{}
	for _, st := range sts {
		for k := range st.Histograms {
			keys[k] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		var acc *hdrhistogram.Histogram
		for j, st := range sts {
			enc, ok := st.Histograms[k]
			if !ok {
				continue
			}
			h, err := results.DecodeHistogram(enc)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: stage %s: histogram %s: %w", sourceName(sources, j), st.Name, k, err)
			}
			if acc == nil {
				acc = h
				continue
			}
			if n := acc.Merge(h); n > 0 {
				return nil, nil, fmt.Errorf("%s: stage %s: histogram %s: %d values out of range", sourceName(sources, j), st.Name, k, n)
			}
		}
		enc, err := results.EncodeHistogram(acc)
		if err != nil {
			return nil, nil, fmt.Errorf("stage %s: encode merged histogram %s: %w", first.Name, k, err)
		}
		out.Histograms[k] = enc
		switch {
		case k == results.MetricFirstTokenWaitRaw:
			// Kept only to be shifted by the baseline, as the engine does.
			if baseline != nil {
				out.LatencyMs[results.MetricFirstTokenWait] = results.SummarizeHistogram(acc).Shift(baseline.ResidualMs)
			}
		case k != results.MetricResidual || hasLatency(sts, results.MetricResidual):
			out.LatencyMs[k] = results.SummarizeHistogram(acc)
		}
		if k == results.MetricResidual && baseline != nil {
			out.LatencyMs[results.MetricQueueWait] = results.SummarizeHistogram(acc).Shift(baseline.ResidualMs)
		}
	}
	// Summaries without a histogram cannot be merged exactly: leave them out, and say so.
	for _, st := range sts {
		for k := range st.LatencyMs {
			if _, ok := out.LatencyMs[k]; !ok && !slices.Contains(dropped, k) {
				dropped = append(dropped, k)
			}
		}
	}
	out.Decomposition = mergeDecomposition(sts, baseline)
	out.ByModel = mergeModels(sts, out.WallS, &dropped)
	return out, dropped, nil
}

func hasLatency(sts []*results.StageResult, k string) bool {
	for _, st := range sts {
		if _, ok := st.LatencyMs[k]; ok {
			return true
		}
	}
	return false
}

// mergeDecomposition averages the hosts' decompositions weighted by their requests.
func mergeDecomposition(sts []*results.StageResult, baseline *results.Baseline) *results.Decomposition {
	var out results.Decomposition
	n := 0
	for _, st := range sts {
		d := st.Decomposition
		if d == nil || d.Requests == 0 {
			continue
		}
		w := float64(d.Requests)
		n += d.Requests
		out.E2E += d.E2E * w
		out.Load += d.Load * w
		out.PromptEval += d.PromptEval * w
		out.Eval += d.Eval * w
		out.Residual += d.Residual * w
		out.ClientOverhead += d.ClientOverhead * w
	}
	if n == 0 {
		return nil
	}
	w := float64(n)
	out.Requests = n
	out.E2E = results.Round3(out.E2E / w)
	out.Load = results.Round3(out.Load / w)
	out.PromptEval = results.Round3(out.PromptEval / w)
	out.Eval = results.Round3(out.Eval / w)
	out.Residual = results.Round3(out.Residual / w)
	out.ClientOverhead = results.Round3(out.ClientOverhead / w)
	if baseline != nil {
		out.Overhead = results.Round3(math.Min(baseline.ResidualMs, out.Residual))
		out.QueueWait = results.Round3(out.Residual - out.Overhead)
	}
	if out.E2E > 0 {
		out.QueueShare = results.Round3(out.QueueWait / out.E2E)
	}
	return &out
}

// mergeModels sums per-model counts and rates; their latency summaries have no histogram
// and are dropped.
func mergeModels(sts []*results.StageResult, wallS float64, dropped *[]string) map[string]*results.Model {
	var out map[string]*results.Model
	for _, st := range sts {
		for name, m := range st.ByModel {
			if out == nil {
				out = map[string]*results.Model{}
			}
			o := out[name]
			if o == nil {
				o = &results.Model{LatencyMs: map[string]results.Summary{}}
				out[name] = o
			}
			o.Requests.Total += m.Requests.Total
			o.Requests.OK += m.Requests.OK
			o.Requests.Errors = addCounts(o.Requests.Errors, m.Requests.Errors)
			o.OutputTokens += m.OutputTokens
			o.OutputTokensPerS = results.Round3(o.OutputTokensPerS + m.OutputTokensPerS)
			if len(m.LatencyMs) > 0 && !slices.Contains(*dropped, "per-model latency") {
				*dropped = append(*dropped, "per-model latency")
			}
		}
	}
	return out
}

func addCounts(dst, src map[string]int) map[string]int {
	for k, v := range src {
		if dst == nil {
			dst = map[string]int{}
		}
		dst[k] += v
	}
	return dst
}

func minMax(vals []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	return lo, hi
}

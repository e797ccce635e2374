// Package report renders results files: the end-of-run terminal summary, and an analysis
// (report/analysis judges; this package only shows) as markdown with charts, text, HTML, CSV,
// JSON and HDR logs. Each renderer is a function of an io.Writer.
package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/internal/prose"
)

// WriteSummary prints the end-of-run summary of one run for a terminal: per stage the outcome
// counts, throughput and latency percentiles, then one line per stage to compare them.
func WriteSummary(w io.Writer, run *results.Run) error {
	ew := &errWriter{w: w}
	if run.Interrupted {
		ew.printf("INTERRUPTED: the figures below cover what was measured before Ctrl-C.\n\n")
	}
	for _, n := range run.Noise {
		ew.printf("NOISY: %s\n", strings.TrimPrefix(n, "noisy: "))
	}
	if len(run.Noise) > 0 {
		ew.printf("The figures below may say more about this machine than about the server.\n\n")
	}
	if run.Target.Simulated {
		ew.printf("Target: %s (simulated server)\n", run.Target.URL)
	} else {
		ew.printf("Target: %s", run.Target.URL)
		if run.Target.ServerVersion != "" {
			ew.printf(" (server %s)", run.Target.ServerVersion)
		}
		ew.printf("\n")
		if g := run.ServerGauges; g != nil && !g.Available && g.Reason != "" {
			ew.printf("Server gauges: none: %s\n", g.Reason)
		}
	}
	if models := namedModels(run.Plan); len(models) > 0 {
		ew.printf("Model%s: %s\n", prose.Plural(len(models)), strings.Join(models, ", "))
	}
	if run.Warmup != nil {
		ew.printf("Warm-up: %d requests, %d ok in %.2f s", run.Warmup.Requests, run.Warmup.OK, run.Warmup.WallS)
		if run.Warmup.LoadMs > 0 {
			ew.printf(" (model load %.0f ms)", run.Warmup.LoadMs)
		}
		ew.printf("%s\n", errorList(run.Warmup.Errors))
	}
	if c := run.Control; c != nil && c.OK > 0 {
		what := "decodes"
		if c.Metric != results.MetricDecodeTPS {
			what = "returns tokens"
		}
		from := "stage " + strings.TrimPrefix(c.Source, "stage ")
		if c.Source == "probe" {
			from = fmt.Sprintf("a probe of %d requests, in no stage", c.Requests)
		}
		ew.printf("Control: a lone request %s at %s tok/s (%s)\n", what, prose.Num(c.Value), from)
	}
	for _, st := range run.Stages {
		ew.printf("\n")
		writeStage(ew, st, run.Baseline, run.Target.Engine)
	}
	if len(run.Stages) > 1 {
		ew.printf("\n")
		writeComparison(ew, run.Stages)
	}
	for _, n := range run.Notes {
		ew.printf("note: %s\n", n)
	}
	if unreachable(run) {
		ew.printf("\nNo request reached %s: is the server running (ollama serve), and is --url right? 'llmload run --sim' needs no server.\n", run.Target.URL)
	}
	return ew.err
}

func writeStage(ew *errWriter, st *results.StageResult, baseline *results.Baseline, engine string) {
	loop := fmt.Sprintf("closed loop, %d worker%s", st.Concurrency, prose.Plural(st.Concurrency))
	if st.Rate > 0 {
		loop = fmt.Sprintf("open loop, %s arrivals at %g/s", st.Arrival, st.Rate)
		if st.MaxConcurrency > 0 {
			loop += fmt.Sprintf(", at most %d in flight", st.MaxConcurrency)
		}
	}
	ew.printf("Stage %s (%s): %d requests in %.2f s, %d ok%s\n", st.Name, loop, st.Requests.Total, st.WallS, st.Requests.OK, errorList(st.Requests.Errors))
	tp := st.Throughput
	ew.printf("  throughput: %.2f req/s, %.1f output tok/s", tp.RequestsPerS, tp.OutputTokensPerS)
	if tp.DecodeTokensPerS > 0 {
		ew.printf(", %.1f tok/s per request while decoding", tp.DecodeTokensPerS)
	}
	if st.TokenSource == "chunks" || st.TokenSource == "mixed" {
		ew.printf(" (tokens counted from chunks: the server gave no count)")
	}
	ew.printf("\n  effective parallelism: %.2f", st.EffectiveParallelism)
	if st.Speedup > 0 {
		ew.printf(" · speed-up vs first stage: x%.2f", st.Speedup)
	}
	ew.printf("\n")
	if st.Requests.OK > 0 {
		writeLatencyTable(ew, st)
	}
	if d := st.Decomposition; d != nil {
		llama := d.Source == "llama-server"
		ew.printf("  where the mean E2E of %s ms went (%s", prose.Num(d.E2E), timingsSource(d.Source, engine))
		if d.Requests < st.Requests.OK {
			ew.printf(", %d of %d requests", d.Requests, st.Requests.OK)
		}
		ew.printf("):")
		if llama {
			ew.printf(" prompt %s · generation %s", prose.Num(d.PromptEval), prose.Num(d.Eval))
		} else {
			ew.printf(" load %s · prompt eval %s · eval %s", prose.Num(d.Load), prose.Num(d.PromptEval), prose.Num(d.Eval))
		}
		if baseline != nil {
			label := "queue wait"
			if st.Concurrency != 1 || st.Rate > 0 {
				label = "queue wait (slot wait + batch sharing)"
			}
			ew.printf(" · %s %s (%.0f%%) · fixed overhead %s", label, prose.Num(d.QueueWait), 100*d.QueueShare, prose.Num(d.Overhead))
		} else {
			ew.printf(" · residual %s", prose.Num(d.Residual))
		}
		if llama {
			ew.printf(" (with transport: llama-server reports no total)\n")
		} else {
			ew.printf(" · client-side %s\n", prose.Num(d.ClientOverhead))
		}
	}
	writeGauges(ew, st)
	if len(st.Requests.ErrorSamples) > 0 {
		for _, class := range slices.Sorted(maps.Keys(st.Requests.ErrorSamples)) {
			ew.printf("  %s: %s\n", class, oneLine(st.Requests.ErrorSamples[class]))
		}
	}
	if g := st.GPU; g != nil && g.Rounds > 0 {
		ew.printf("  GPU%s:", simulatedTag(st))
		if g.MemoryUsedPeakMiB != nil {
			ew.printf(" memory peak %.0f MiB", *g.MemoryUsedPeakMiB)
			if g.MemoryUsedBeforeMiB != nil {
				ew.printf(" (%.0f before the stage)", *g.MemoryUsedBeforeMiB)
			}
		}
		if g.UtilizationMeanPct != nil {
			ew.printf(" · utilization mean %.0f%%", *g.UtilizationMeanPct)
			if g.UtilizationP95Pct != nil {
				ew.printf(", p95 %.0f%%", *g.UtilizationP95Pct)
			}
		}
		if g.PowerMeanW != nil {
			ew.printf(" · power %.0f W", *g.PowerMeanW)
		}
		if g.EnergyJ != nil {
			ew.printf(" · %.1f J", *g.EnergyJ)
			if g.JoulesPerOutputToken != nil {
				ew.printf(" (%.3f J/token)", *g.JoulesPerOutputToken)
			}
		}
		ew.printf("\n")
	}
	if st.Client.Overloaded {
		ew.printf("  client overloaded: results unreliable (%s)\n", st.Client.Reason)
	}
	if g := st.Goodput; g != nil {
		ew.printf("  goodput: %d of %d requests (%.1f%%) met %s: %.2f good req/s\n", g.Good, g.Total, 100*g.Share, g.SLO, g.RatePerS)
	}
	switch {
	case len(st.Classes) > 1:
		for _, name := range slices.Sorted(maps.Keys(st.Classes)) {
			c := st.Classes[name]
			ew.printf("  class %s: %d requests, %d ok, %.1f tok/s, E2E p50 %s ms", name, c.Requests.Total, c.Requests.OK, c.Throughput.OutputTokensPerS, prose.Num(c.LatencyMs[results.MetricE2E].P50))
			if ttft, ok := c.LatencyMs[results.MetricTTFT]; ok && ttft.N > 0 {
				ew.printf(", TTFT p95 %s ms", prose.Num(ttft.P95))
			}
			if g := c.Goodput; g != nil {
				ew.printf(", goodput %.0f%%", 100*g.Share)
			}
			if c.ModelLoads > 0 {
				ew.printf(", %d waited for a model load", c.ModelLoads)
			}
			ew.printf("\n")
		}
	case len(st.ByModel) > 1:
		for _, name := range slices.Sorted(maps.Keys(st.ByModel)) {
			m := st.ByModel[name]
			ew.printf("  model %s: %d requests, %d ok, %.1f tok/s, E2E p50 %s ms\n", name, m.Requests.Total, m.Requests.OK, m.OutputTokensPerS, prose.Num(m.LatencyMs[results.MetricE2E].P50))
		}
	}
}

// The gauges servers keep of their own queue: requests waiting for a slot, and in service.
var (
	queueGauges   = []string{"llamacpp:requests_deferred", "vllm:num_requests_waiting"}
	serviceGauges = []string{"llamacpp:requests_processing", "vllm:num_requests_running"}
)

// writeGauges shows the server's own view of its queue during the stage, beside the queue
// wait llmload infers from the requests.
func writeGauges(ew *errWriter, st *results.StageResult) {
	var parts []string
	for _, g := range []struct {
		label string
		names []string
	}{{"queue", queueGauges}, {"in service", serviceGauges}} {
		for _, name := range g.names {
			if s, ok := st.ServerGauges[name]; ok && s.N > 0 {
				parts = append(parts, fmt.Sprintf("%s (%s) mean %s, max %s", g.label, name, prose.Num(s.Mean), prose.Num(s.Max)))
			}
		}
	}
	if len(parts) > 0 {
		ew.printf("  the server's own gauges: %s\n", strings.Join(parts, " · "))
	}
}

// timingsSource names whose timings a decomposition comes from.
func timingsSource(source, engine string) string {
	switch {
	case source == "llama-server":
		return "llama-server's timings"
	case source == "mixed":
		return "Ollama's and llama-server's timings"
	case engine == "llama-server":
		return "Ollama's timings, from its llama-server engine"
	}
	return "Ollama's timings"
}

func simulatedTag(st *results.StageResult) string {
	for _, d := range st.GPU.Devices {
		if strings.Contains(d.Name, "simulated") {
			return " (simulated)"
		}
	}
	return ""
}

// writeLatencyTable prints the stage's latency percentiles, one line per metric measured.
func writeLatencyTable(ew *errWriter, st *results.StageResult) {
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  latency ms\tp50\tp90\tp95\tp99\tmax\tmean\tn\t\n")
	for _, m := range []struct{ key, label string }{
		{results.MetricE2E, "E2E"},
		{results.MetricTTFT, "TTFT"},
		{results.MetricITL, "ITL"},
		{results.MetricTPOT, "TPOT"},
		{results.MetricQueueWait, "queue wait"},
		{results.MetricFirstTokenWait, "wait for 1st token"},
		{results.MetricSendLag, "send lag"},
	} {
		s, ok := st.LatencyMs[m.key]
		if !ok || s.N == 0 {
			continue
		}
		if m.key == results.MetricSendLag && st.Rate == 0 {
			continue // closed loop sends at once; lag is only news for an open loop
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", m.label, prose.Num(s.P50), prose.Num(s.P90), prose.Num(s.P95), prose.Num(s.P99), prose.Num(s.Max), prose.Num(s.Mean), s.N)
	}
	_ = tw.Flush()
}

func writeComparison(ew *errWriter, stages []*results.StageResult) {
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "stage\tok/total\treq/s\ttok/s\tspeed-up\tE2E p50\tE2E p95\tTTFT p50\tTTFT p95\tqueue p50\t\n")
	for _, st := range stages {
		speed := "x1.00"
		if st.Speedup > 0 {
			speed = fmt.Sprintf("x%.2f", st.Speedup)
		}
		q := "-"
		if s, ok := st.LatencyMs[results.MetricQueueWait]; ok {
			q = prose.Num(s.P50)
		}
		e, t := st.LatencyMs[results.MetricE2E], st.LatencyMs[results.MetricTTFT]
		fmt.Fprintf(tw, "%s\t%d/%d\t%.2f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", st.Name, st.Requests.OK, st.Requests.Total,
			st.Throughput.RequestsPerS, st.Throughput.OutputTokensPerS, speed, dash(e), dashP95(e), dash(t), dashP95(t), q)
	}
	_ = tw.Flush()
	ew.printf("(latencies in ms; speed-up is requests/s against the first stage)\n")
}

func dash(s results.Summary) string {
	if s.N == 0 {
		return "-"
	}
	return prose.Num(s.P50)
}

func dashP95(s results.Summary) string {
	if s.N == 0 {
		return "-"
	}
	return prose.Num(s.P95)
}

func errorList(errs map[string]int) string {
	if len(errs) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, errs[k]))
	}
	return ", errors: " + strings.Join(parts, ", ")
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// errWriter remembers the first write error so rendering code can stay linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	fmt.Fprintf(e, format, args...)
}

// unreachable says whether every request of the run was refused a connection.
func unreachable(run *results.Run) bool {
	total := 0
	for _, st := range run.Stages {
		if st.Requests.Errors[results.ClassConnRefused] != st.Requests.Total {
			return false
		}
		total += st.Requests.Total
	}
	return total > 0
}

// namedModels lists the models a plan names; a template whose model comes from its --body file
// names none.
func namedModels(p *results.Plan) []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, m := range p.Models() {
		if m != "" {
			out = append(out, m)
		}
	}
	return out
}

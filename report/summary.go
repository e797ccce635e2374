// Package report renders results files: the end-of-run terminal summary, and an analysis
// (report/analysis judges; this package only shows) as markdown with charts, text, HTML, CSV,
// JSON and HDR logs. Each renderer is a function of an io.Writer.
package report

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/internal/prose"
	"github.com/llmload/llmload/report/printable"
)

// WriteSummary prints the end-of-run summary of one run for a terminal, within TextWidth
// columns: the answer first (the stage with the most throughput, what failed), the stages side
// by side, then each stage's detail — outcome counts, throughput, latency percentiles, where
// the time went — and the run's notes. The report (`llmload report`) holds the rest.
//
// Every text in it that came from the run is shown as one clean line (see printable.Line): a
// server's version, model names, error samples and gauge names may hold escape sequences, or
// line breaks that would forge lines of their own (a CI log's workflow commands).
func WriteSummary(w io.Writer, run *results.Run) error {
	return writeSummary(w, run, true)
}

// WriteBrief prints a run in short for a terminal, within TextWidth columns: the answer, the
// stages side by side, and what makes the figures doubtful; `llmload sweep` shows each setting
// so, after the comparison.
func WriteBrief(w io.Writer, run *results.Run) error {
	return writeSummary(w, run, false)
}

func writeSummary(w io.Writer, run *results.Run, detail bool) error {
	var buf bytes.Buffer
	ew := &errWriter{w: &buf, untrusted: true}
	if run.Interrupted {
		ew.printf("INTERRUPTED: the figures below cover what was measured before Ctrl-C.\n\n")
	}
	ew.printf("%s\n", answer(run))
	if len(run.Stages) > 1 || !detail {
		ew.printf("\n")
		writeComparison(ew, run.Stages)
	}
	if len(run.Noise) > 0 {
		ew.printf("\n")
	}
	for i, n := range run.Noise {
		if !detail && i == 1 {
			// In short, one is enough to doubt the figures; the report lists them all.
			ew.printf("NOISY: and %d more (see the report)\n", len(run.Noise)-1)
			break
		}
		ew.printf("NOISY: %s\n", clean(strings.TrimPrefix(n, "noisy: ")))
	}
	if len(run.Noise) > 0 {
		ew.printf("The figures may say more about this machine than about the server.\n")
	}
	if detail {
		writeTarget(ew, run)
	}
	if len(run.Notes) > 0 {
		ew.printf("\n")
	}
	for _, n := range run.Notes {
		ew.printf("note: %s\n", clean(n))
	}
	if ew.err != nil {
		return ew.err
	}
	_, err := w.Write(wrapLines(buf.Bytes(), TextWidth))
	return err
}

// writeTarget prints what was measured and each stage in detail.
func writeTarget(ew *errWriter, run *results.Run) {
	ew.printf("\n")
	if run.Target.Simulated {
		ew.printf("Target: %s (simulated server)\n", clean(run.Target.URL))
	} else {
		ew.printf("Target: %s", clean(run.Target.URL))
		if run.Target.ServerVersion != "" {
			ew.printf(" (server %s)", clean(run.Target.ServerVersion))
		}
		ew.printf("\n")
		if g := run.ServerGauges; g != nil && !g.Available && g.Reason != "" {
			ew.printf("Server gauges: none: %s\n", clean(g.Reason))
		}
	}
	if models := namedModels(run.Plan); len(models) > 0 {
		ew.printf("Model%s: %s\n", prose.Plural(len(models)), clean(strings.Join(models, ", ")))
	}
	if run.Warmup != nil {
		ew.printf("Warm-up: %d request%s, %d ok in %.2f s", run.Warmup.Requests, prose.Plural(run.Warmup.Requests), run.Warmup.OK, run.Warmup.WallS)
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
}

// answer is what the run found, in a sentence or two: the stage with the most throughput and
// its latency, against the first stage of its kind, and what failed.
func answer(run *results.Run) string {
	if unreachable(run) {
		return fmt.Sprintf("No request reached %s: is the server running (ollama serve), and is --url right? 'llmload run --sim' needs no server.", clean(run.Target.URL))
	}
	total, failed := 0, 0
	errs := map[string]int{}
	for _, st := range run.Stages {
		total += st.Requests.Total
		failed += st.Requests.Failed()
		for k, v := range st.Requests.Errors {
			errs[k] += v
		}
	}
	best := busiest(run.Stages)
	var b strings.Builder
	if best != nil {
		what := "Stage " + clean(best.Name)
		if len(run.Stages) > 1 {
			what = "Most throughput at " + clean(best.Name)
		}
		fmt.Fprintf(&b, "%s: %s req/s, %s output tok/s", what, prose.Rate(best.Throughput.RequestsPerS), prose.Rate(best.Throughput.OutputTokensPerS))
		if best.Speedup > 0 {
			ref := run.Stages[results.SpeedupReference(results.OpenStages(run.Stages), slices.Index(run.Stages, best))]
			fmt.Fprintf(&b, " (x%.2f the requests/s of %s)", best.Speedup, clean(ref.Name))
		}
		if t := best.LatencyMs[results.MetricTTFT]; t.N > 0 {
			fmt.Fprintf(&b, ", TTFT p95 %s ms", prose.Num(t.P95))
		}
		if e := best.LatencyMs[results.MetricE2E]; e.N > 0 {
			fmt.Fprintf(&b, ", E2E p95 %s ms", prose.Num(e.P95))
		}
		if d := best.Decomposition; d != nil && run.Baseline != nil && d.QueueShare >= 0.01 {
			fmt.Fprintf(&b, "; queue wait was %s of E2E there", prose.Pct(d.QueueShare))
		}
		b.WriteString(". ")
	}
	switch {
	case total == 0:
		b.WriteString("No request was measured.")
	case failed == 0 && total == 1:
		b.WriteString("The one request succeeded.")
	case failed == 0:
		fmt.Fprintf(&b, "All %d requests succeeded.", total)
	default:
		fmt.Fprintf(&b, "%d of %d requests failed (%s).", failed, total, strings.TrimPrefix(errorList(errs), ", errors: "))
	}
	return b.String()
}

// wrapLines breaks every line of text wider than width at spaces; a continued line starts
// two spaces deeper than the line it continues. Lines that fit (tables laid out by fitTable)
// are left as they are.
func wrapLines(text []byte, width int) []byte {
	var out strings.Builder
	for _, line := range strings.SplitAfter(string(text), "\n") {
		body := strings.TrimSuffix(line, "\n")
		if utf8.RuneCountInString(body) <= width {
			out.WriteString(line)
			continue
		}
		indent := body[:len(body)-len(strings.TrimLeft(body, " "))]
		out.WriteString(indent + wrap(body[len(indent):], width-len(indent), indent+"  "))
		if strings.HasSuffix(line, "\n") {
			out.WriteString("\n")
		}
	}
	return []byte(out.String())
}

func writeStage(ew *errWriter, st *results.StageResult, baseline *results.Baseline, engine string) {
	loop := fmt.Sprintf("closed loop, %d worker%s", st.Concurrency, prose.Plural(st.Concurrency))
	if st.Rate > 0 {
		loop = fmt.Sprintf("open loop, %s arrivals at %g/s", st.Arrival, st.Rate)
		if st.MaxConcurrency > 0 {
			loop += fmt.Sprintf(", at most %d in flight", st.MaxConcurrency)
		}
	}
	ew.printf("Stage %s (%s): %d request%s in %.2f s, %d ok%s\n", clean(st.Name), loop, st.Requests.Total, prose.Plural(st.Requests.Total), st.WallS, st.Requests.OK, errorList(st.Requests.Errors))
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
		ew.printf(" · speed-up: x%.2f", st.Speedup)
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
			ew.printf("  %s: %s\n", clean(class), clean(oneLine(st.Requests.ErrorSamples[class])))
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
	if text := saturationText(st); text != "" {
		ew.printf("  %s\n", text)
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
			ew.printf("  class %s: %d requests, %d ok, %.1f tok/s, E2E p50 %s ms", clean(name), c.Requests.Total, c.Requests.OK, c.Throughput.OutputTokensPerS, prose.Num(c.LatencyMs[results.MetricE2E].P50))
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
			ew.printf("  model %s: %d requests, %d ok, %.1f tok/s, E2E p50 %s ms\n", clean(name), m.Requests.Total, m.Requests.OK, m.OutputTokensPerS, prose.Num(m.LatencyMs[results.MetricE2E].P50))
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
	cols := []column{{name: "latency ms"}, {name: "p50", right: true}, {name: "p90", right: true}, {name: "p95", right: true},
		{name: "p99", right: true}, {name: "max", right: true}, {name: "mean", right: true}, {name: "n", right: true}}
	var rows [][]string
	for _, m := range []struct{ key, label string }{
		{results.MetricE2E, "E2E"},
		{results.MetricTTFT, "TTFT"},
		{results.MetricITL, "ITL"},
		{results.MetricTPOT, "TPOT"},
		{results.MetricQueueWait, "queue wait"},
		{results.MetricFirstTokenWait, "wait for 1st token"},
		{results.MetricSendLag, "send lag"},
		{results.MetricCapWait, "wait for a place"},
	} {
		s, ok := st.LatencyMs[m.key]
		if !ok || s.N == 0 {
			continue
		}
		if m.key == results.MetricSendLag && st.Rate == 0 {
			continue // closed loop sends at once; lag is only news for an open loop
		}
		rows = append(rows, []string{m.label, prose.Num(s.P50), prose.Num(s.P90), prose.Num(s.P95), prose.Num(s.P99), prose.Num(s.Max), prose.Num(s.Mean), fmt.Sprint(s.N)})
	}
	for _, l := range fitTable(cols, rows, TextWidth, "  ") {
		ew.printf("%s\n", l)
	}
}

func writeComparison(ew *errWriter, stages []*results.StageResult) {
	cols := []column{{name: "stage"}, {name: "ok/total", right: true}, {name: "req/s", right: true}, {name: "tok/s", right: true},
		{name: "speed-up", right: true}, {name: "TTFT p95", right: true}, {name: "E2E p50", right: true}, {name: "E2E p95", right: true}, {name: "queue p50", right: true}}
	var rows [][]string
	open := results.OpenStages(stages)
	for i, st := range stages {
		speed := "-"
		if results.SpeedupReference(open, i) == i {
			speed = "x1.00"
		} else if st.Speedup > 0 {
			speed = fmt.Sprintf("x%.2f", st.Speedup)
		}
		q := "-"
		if s, ok := st.LatencyMs[results.MetricQueueWait]; ok {
			q = prose.Num(s.P50)
		}
		e, t := st.LatencyMs[results.MetricE2E], st.LatencyMs[results.MetricTTFT]
		rows = append(rows, []string{clean(st.Name), fmt.Sprintf("%d/%d", st.Requests.OK, st.Requests.Total), fmt.Sprintf("%.2f", st.Throughput.RequestsPerS),
			fmt.Sprintf("%.1f", st.Throughput.OutputTokensPerS), speed, dashP95(t), dash(e), dashP95(e), q})
	}
	for _, l := range fitTable(cols, rows, TextWidth, "") {
		ew.printf("%s\n", l)
	}
	ew.printf("(latencies in ms; speed-up: requests/s over the first stage of its kind)\n")
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

// errWriter remembers the first write error so rendering code can stay linear. When its
// strings are untrusted, printf shows each string argument as one clean line.
type errWriter struct {
	w         io.Writer
	err       error
	untrusted bool
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
	if e.untrusted {
		for i, a := range args {
			if s, ok := a.(string); ok {
				args[i] = printable.Line(s)
			}
		}
	}
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

// WriteRunList prints many runs in short for a terminal, one line each, within TextWidth
// columns: the stage with the most throughput, what failed, the control (a lone request's
// decode rate) and whether the run was noisy; then each run's notes once, naming nothing
// twice. titles name the runs, in order (a sweep's "NUM_PARALLEL=2 (round 3/4)").
// `llmload sweep` shows its runs so when a setting has more than one: the comparison before it
// already gives their medians, and the report every stage.
func WriteRunList(w io.Writer, runs []*results.Run, titles []string) error {
	if len(titles) != len(runs) {
		return fmt.Errorf("write runs: %d titles for %d runs", len(titles), len(runs))
	}
	var buf bytes.Buffer
	ew := &errWriter{w: &buf, untrusted: true}
	cols := []column{{name: "run"}, {name: "best tok/s", right: true}, {name: "at"}, {name: "failed", right: true},
		{name: "control", right: true}, {name: "noisy"}}
	var rows [][]string
	var notes []string
	noisy := 0
	for i, run := range runs {
		total, failed := 0, 0
		for _, st := range run.Stages {
			total += st.Requests.Total
			failed += st.Requests.Failed()
		}
		best := busiest(run.Stages)
		tps, at := "-", "-"
		if best != nil {
			tps, at = fmt.Sprintf("%.1f", best.Throughput.OutputTokensPerS), best.Name
		}
		control := "-"
		if c := run.Control; c != nil && c.OK > 0 {
			control = prose.Num(c.Value)
		}
		mark := ""
		if len(run.Noise) > 0 {
			mark = "NOISY"
			noisy++
		}
		if run.Interrupted {
			mark = strings.TrimSpace(mark + " interrupted")
		}
		rows = append(rows, []string{titles[i], tps, at, fmt.Sprintf("%d/%d", failed, total), control, mark})
		for _, n := range run.Notes {
			if !slices.Contains(notes, n) {
				notes = append(notes, n)
			}
		}
	}
	for _, l := range fitTable(cols, rows, TextWidth, "") {
		ew.printf("%s\n", l)
	}
	ew.printf("(best tok/s: output tokens per second of the run's busiest stage; control: a lone request's decode rate in tok/s, which the settings should not change)\n")
	if noisy > 0 {
		ew.printf("\n%d of %d runs were noisy: the report names each cause.\n", noisy, len(runs))
	}
	if len(notes) > 0 {
		ew.printf("\n")
	}
	for _, n := range notes {
		ew.printf("note: %s\n", clean(n))
	}
	if ew.err != nil {
		return ew.err
	}
	_, err := w.Write(wrapLines(buf.Bytes(), TextWidth))
	return err
}

// busiest is the stage with the most output tokens per second among those with a request
// that succeeded; nil when none has one.
func busiest(stages []*results.StageResult) *results.StageResult {
	var best *results.StageResult
	for _, st := range stages {
		if st.Requests.OK > 0 && (best == nil || st.Throughput.OutputTokensPerS > best.Throughput.OutputTokensPerS) {
			best = st
		}
	}
	return best
}

package report

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/llmload/llmload/bench/results"
)

// minP99Samples is the number of samples below which a p99 is little more than the
// maximum: with fewer than 100 requests, "1 in 100" has not happened once.
const minP99Samples = 100

// builder assembles the report document shared by markdown, HTML and text.
type builder struct {
	es         []*entry
	opts       Options
	cmp        *Comparison
	mergeNotes []string
	charts     *chartSet // nil: no charts
	doc        document
	notes      []string
}

func newBuilder(es []*entry, opts Options, mergeNotes []string) *builder {
	b := &builder{es: es, opts: opts, mergeNotes: mergeNotes, cmp: comparable(es, opts)}
	if opts.ChartsDir != "" && opts.Format != FormatText {
		b.charts = &chartSet{dir: opts.ChartsDir}
	}
	return b
}

func (b *builder) build() (*document, error) {
	b.doc.h(1, b.title())
	b.verdict()
	b.facts()
	if b.cmp != nil {
		if err := b.comparison(); err != nil {
			return nil, err
		}
	}
	if err := b.stages(); err != nil {
		return nil, err
	}
	if err := b.decomposition(); err != nil {
		return nil, err
	}
	if err := b.distributions(); err != nil {
		return nil, err
	}
	if err := b.timelines(); err != nil {
		return nil, err
	}
	b.errorsSection()
	b.collectNotes()
	if len(b.notes) > 0 {
		b.doc.h(2, "Notes")
		var items [][]span
		for _, n := range b.notes {
			items = append(items, []span{plain(n)})
		}
		b.doc.add(list{items})
	}
	b.definitions()
	return &b.doc, nil
}

// title names the models and the server: "llmload report: llama3.2:1b on Ollama 0.17.4".
func (b *builder) title() string {
	models := map[string]bool{}
	servers := map[string]bool{}
	var modelOrder, serverOrder []string
	for _, e := range b.es {
		for _, m := range runModels(e.run) {
			if !models[m] {
				models[m] = true
				modelOrder = append(modelOrder, m)
			}
		}
		s := serverName(e.run)
		if !servers[s] {
			servers[s] = true
			serverOrder = append(serverOrder, s)
		}
	}
	t := "llmload report"
	if len(modelOrder) > 0 && len(modelOrder) <= 3 {
		t += ": " + strings.Join(modelOrder, ", ")
	} else if len(modelOrder) > 3 {
		t += fmt.Sprintf(": %d models", len(modelOrder))
	}
	if len(serverOrder) == 1 {
		t += " on " + serverOrder[0]
	}
	return t
}

func runModels(r *results.Run) []string {
	if r.Plan != nil {
		return r.Plan.Models()
	}
	var out []string
	for _, m := range r.Target.Models {
		out = append(out, m.Name)
	}
	return out
}

// serverName describes the server: "Ollama 0.17.4", "a simulated Ollama",
// "an OpenAI-compatible server".
func serverName(r *results.Run) string {
	name := "an OpenAI-compatible server"
	if strings.HasPrefix(r.Target.API, "ollama") {
		name = "Ollama"
	}
	if r.Target.ServerVersion != "" {
		if name == "Ollama" {
			name += " " + r.Target.ServerVersion
		} else {
			name += " (version " + r.Target.ServerVersion + ")"
		}
	}
	if r.Target.Simulated {
		name = "simulated " + strings.TrimPrefix(name, "an ")
		name = "a " + name
	}
	return name
}

// verdict is the paragraph under the title: what was measured and what it says.
func (b *builder) verdict() {
	var parts []string
	files := map[string]bool{}
	for _, e := range b.es {
		files[e.source] = true
		for _, m := range e.merged {
			files[m] = true
		}
	}
	what := fmt.Sprintf("%d run%s", len(b.es), plural(len(b.es)))
	merged := false
	for _, e := range b.es {
		merged = merged || len(e.merged) > 0
	}
	switch {
	case merged:
		what += fmt.Sprintf(" merged from %d files", len(files))
	case len(files) > 1:
		what += fmt.Sprintf(" from %d files", len(files))
	}
	if len(b.es) == 1 {
		n := len(b.es[0].run.Stages)
		what += fmt.Sprintf(", %d stage%s", n, plural(n))
	}
	if b.cmp != nil {
		var vals []string
		for _, s := range b.cmp.Settings {
			vals = append(vals, s.Value)
		}
		what += fmt.Sprintf(", compared by %s (%s)", b.cmp.By, strings.Join(vals, ", "))
	}
	parts = append(parts, what+".")
	if b.cmp != nil {
		parts = append(parts, b.cmp.Recommendation.Summary)
	} else if best, e := b.bestStage(); best != nil {
		s := fmt.Sprintf("Most throughput at %s", best.Name)
		if len(b.es) > 1 {
			s += " of " + e.name
		}
		s += fmt.Sprintf(": %s output tok/s, %s req/s", rate(best.Throughput.OutputTokensPerS), rate(best.Throughput.RequestsPerS))
		if best.Speedup > 0 && len(e.run.Stages) > 1 && best != e.run.Stages[0] {
			s += fmt.Sprintf(" (×%.2f the requests/s of %s)", best.Speedup, e.run.Stages[0].Name)
		}
		if d := best.Decomposition; d != nil && e.run.Baseline != nil && d.QueueShare > 0 {
			s += fmt.Sprintf("; queue wait was %s of E2E there", pct(d.QueueShare))
		}
		parts = append(parts, s+".")
		if len(b.es) == 1 {
			if k := stageKnee(e.run.Stages, orDefaultGain(b.opts.KneeGain)); k != "" {
				parts = append(parts, k)
			}
		}
	}
	total, failed := 0, 0
	classes := map[string]int{}
	for _, e := range b.es {
		for _, st := range e.run.Stages {
			total += st.Requests.Total
			failed += errorTotal(st.Requests)
			for k, v := range st.Requests.Errors {
				classes[k] += v
			}
		}
	}
	switch {
	case total == 0:
		parts = append(parts, "No request was measured.")
	case failed == 0:
		parts = append(parts, fmt.Sprintf("All %d requests succeeded.", total))
	default:
		parts = append(parts, fmt.Sprintf("%d of %d requests failed (%s).", failed, total, classList(classes)))
	}
	if b.interrupted() {
		parts = append(parts, "Interrupted: the figures cover what was measured before Ctrl-C.")
	}
	b.doc.p(plain(strings.Join(parts, " ")))
}

// stageKnee says where throughput stops growing across a run's closed-loop stages of
// rising concurrency: more concurrency past it only queues.
func stageKnee(stages []*results.StageResult, gain float64) string {
	var closed []*results.StageResult
	for _, st := range stages {
		if st.Rate == 0 && st.Requests.OK > 0 {
			closed = append(closed, st)
		}
	}
	if len(closed) < 3 {
		return ""
	}
	for i := 0; i+1 < len(closed); i++ {
		a, b := closed[i], closed[i+1]
		if b.Concurrency <= a.Concurrency || a.Throughput.OutputTokensPerS <= 0 {
			return ""
		}
		if g := b.Throughput.OutputTokensPerS/a.Throughput.OutputTokensPerS - 1; g < gain {
			return fmt.Sprintf("Throughput stops growing after %s: %s adds %s; more concurrency only waits in the queue.", a.Name, b.Name, signedPct(g))
		}
	}
	return ""
}

func orDefaultGain(g float64) float64 {
	if g <= 0 {
		return DefaultKneeGain
	}
	return g
}

func (b *builder) interrupted() bool {
	for _, e := range b.es {
		if e.run.Interrupted {
			return true
		}
	}
	return false
}

// bestStage is the stage with the most output tokens per second.
func (b *builder) bestStage() (*results.StageResult, *entry) {
	var best *results.StageResult
	var be *entry
	for _, e := range b.es {
		for _, st := range e.run.Stages {
			if best == nil || st.Throughput.OutputTokensPerS > best.Throughput.OutputTokensPerS {
				best, be = st, e
			}
		}
	}
	return best, be
}

func classList(classes map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(classes)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, classes[k]))
	}
	return strings.Join(parts, ", ")
}

// facts says what was measured: what all runs share as a list, what differs between them
// as a table with one row per run.
func (b *builder) facts() {
	b.doc.h(2, "Runs")
	type fact struct {
		name string
		get  func(e *entry) string
	}
	facts := []fact{
		{"server", func(e *entry) string {
			return strings.TrimPrefix(strings.TrimPrefix(serverName(e.run), "an "), "a ")
		}},
		{"URL", func(e *entry) string { return e.run.Target.URL }},
		{"API", func(e *entry) string { return e.run.Target.API }},
		{"model", func(e *entry) string { return strings.Join(runModels(e.run), ", ") }},
		{"GPU", func(e *entry) string { return gpuText(e.gpu) }},
		{"client host", func(e *entry) string {
			h := e.run.Host
			s := cmp.Or(h.Hostname, "-")
			if h.CPUs > 0 {
				s += fmt.Sprintf(" (%s/%s, %d CPUs)", h.OS, h.Arch, h.CPUs)
			}
			return s
		}},
	}
	var common []fact
	var differ []fact
	for _, f := range facts {
		same := true
		for _, e := range b.es {
			same = same && f.get(e) == f.get(b.es[0])
		}
		if same {
			common = append(common, f)
		} else {
			differ = append(differ, f)
		}
	}
	var items [][]span
	for _, f := range common {
		v := plain(" " + f.get(b.es[0]))
		if f.name == "URL" || f.name == "model" {
			// Literal text: a model name is an identifier, and a URL should not turn into a link.
			v = code(f.get(b.es[0]))
			items = append(items, []span{strong(f.name + ":"), plain(" "), v})
			continue
		}
		items = append(items, []span{strong(f.name + ":"), v})
	}
	if len(items) > 0 {
		b.doc.add(list{items})
	}
	multiFile := false
	for _, e := range b.es {
		multiFile = multiFile || e.source != b.es[0].source || len(e.merged) > 0
	}
	showLabels := false
	for _, e := range b.es {
		showLabels = showLabels || labelText(e.run.Labels) != e.name
	}
	cols := []column{{name: "run"}}
	if showLabels {
		cols = append(cols, column{name: "labels"})
	}
	for _, f := range differ {
		cols = append(cols, column{name: f.name})
	}
	cols = append(cols, column{name: "started (UTC)"}, column{name: "duration", right: true})
	if multiFile {
		cols = append(cols, column{name: "file"})
	}
	t := table{cols: cols}
	for _, e := range b.es {
		r := e.run
		labels := labelText(r.Labels)
		if labels == "" {
			labels = "-"
		}
		row := []string{e.name}
		if showLabels {
			row = append(row, labels)
		}
		for _, f := range differ {
			row = append(row, f.get(e))
		}
		started, dur := "-", "-"
		if !r.Started.IsZero() {
			started = r.Started.UTC().Format("2006-01-02 15:04:05")
			if r.Ended.After(r.Started) {
				dur = r.Ended.Sub(r.Started).Round(100 * time.Millisecond).String()
			}
		}
		row = append(row, started, dur)
		if multiFile {
			src := e.source
			if len(e.merged) > 0 {
				src = strings.Join(e.merged, " + ")
			}
			row = append(row, src)
		}
		t.rows = append(t.rows, row)
	}
	b.doc.add(t)
}

func gpuText(g gpuData) string {
	if g.info == nil {
		return "not sampled"
	}
	if !g.info.Available {
		if g.info.Reason != "" {
			return "unavailable: " + g.info.Reason
		}
		return "unavailable"
	}
	var names []string
	for _, d := range g.info.Devices {
		n := d.Name
		if d.MemoryTotalMiB > 0 {
			n += " (" + mib(d.MemoryTotalMiB) + ")"
		}
		names = append(names, n)
	}
	s := strings.Join(names, ", ")
	if g.info.Simulated && !strings.Contains(strings.ToLower(s), "simulated") {
		s += " (simulated)"
	}
	if s == "" {
		s = "sampled"
	}
	return s
}

// comparison is the section that sets settings side by side and recommends one.
func (b *builder) comparison() error {
	c := b.cmp
	b.doc.h(2, "Compared by "+c.By)
	r := c.Recommendation
	b.doc.p(strong(r.Summary))
	if len(r.Reasons) > 0 {
		var items [][]span
		for _, s := range r.Reasons {
			items = append(items, []span{plain(s)})
		}
		b.doc.add(list{items})
	}
	if src := comparisonMermaid(c); src != "" {
		b.doc.add(mermaid{src})
	}
	judged := "each setting at its highest load level"
	if c.Concurrency > 0 {
		judged = fmt.Sprintf("every setting at c=%d", c.Concurrency)
	}
	sloText := "no SLO given"
	if !c.slo.IsZero() {
		sloText = "SLO " + c.sloText()
	}
	b.doc.p(plain(fmt.Sprintf("Judged: %s; %s; a step must add at least %s throughput to count (the knee). "+
		"tok/s is output tokens per second of the stage, tok/s per req each request's decode rate; latencies in ms; queue wait is the mean and %% its share of E2E; "+
		"eff. parallel is requests in flight on average, per slot over the setting (above 1, requests queue).", judged, sloText, pct(c.KneeGain))))

	hasGPU := false
	for _, s := range c.Settings {
		hasGPU = hasGPU || s.GPUMemoryPeakMiB != nil
	}
	cols := []column{{name: c.By}, {name: "at"}, {name: "tok/s", right: true}, {name: "gain", right: true}, {name: "tok/s per req", right: true},
		{name: "TTFT p50", right: true}, {name: "TTFT p95", right: true}, {name: "E2E p95", right: true}, {name: "queue wait", right: true}, {name: "queue %", right: true},
		{name: "eff. parallel", right: true}, {name: "per slot", right: true}}
	if hasGPU {
		cols = append(cols, column{name: "GPU MiB", right: true})
	}
	cols = append(cols, column{name: "SLO"})
	t := table{cols: cols}
	for _, s := range c.Settings {
		l := s.Judged
		if l == nil {
			continue
		}
		gain := "-"
		if s.GainOverPrevious != nil {
			gain = signedPct(*s.GainOverPrevious)
		}
		perSlot := "-"
		if l.ParallelismPerSlot != nil {
			perSlot = num(*l.ParallelismPerSlot)
		}
		queue, share := "-", "-"
		if l.HasQueue {
			queue, share = num(l.QueueWaitMean), pct(l.QueueShare)
		}
		decode := "-"
		if l.DecodeTokensPerS > 0 {
			decode = rate(l.DecodeTokensPerS)
		}
		row := []string{s.Value + runsSuffix(s.Runs), l.key.String(), rate(l.OutputTokensPerS), gain, decode,
			optMs(l.TTFTP50, l.HasTTFT), optMs(l.TTFTP95, l.HasTTFT), num(l.E2EP95), queue, share, num(l.EffectiveParallelism), perSlot}
		if hasGPU {
			g := "-"
			if s.GPUMemoryPeakMiB != nil {
				g = fmt.Sprintf("%.0f", *s.GPUMemoryPeakMiB)
			}
			row = append(row, g)
		}
		row = append(row, sloCell(c, s))
		t.rows = append(t.rows, row)
	}
	b.doc.add(t)

	// Pivots: every level, one column per level.
	var keys []levelKey
	seen := map[levelKey]bool{}
	for _, s := range c.Settings {
		for _, l := range s.Levels {
			if !seen[l.key] {
				seen[l.key] = true
				keys = append(keys, l.key)
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].less(keys[j]) })
	if len(keys) > 1 {
		pivot := func(title string, f func(*Level) string) {
			b.doc.p(strong(title))
			cols := []column{{name: c.By}}
			for _, k := range keys {
				cols = append(cols, column{name: k.String(), right: true})
			}
			t := table{cols: cols}
			for _, s := range c.Settings {
				row := []string{s.Value}
				for _, k := range keys {
					if l := s.level(k); l != nil {
						row = append(row, f(l))
					} else {
						row = append(row, "-")
					}
				}
				t.rows = append(t.rows, row)
			}
			b.doc.add(t)
		}
		pivot("Output tok/s by load", func(l *Level) string { return rate(l.OutputTokensPerS) })
		pivot("TTFT p95 (ms) by load", func(l *Level) string { return optMs(l.TTFTP95, l.HasTTFT) })
		pivot("E2E p95 (ms) by load", func(l *Level) string { return num(l.E2EP95) })
		if !c.slo.IsZero() {
			pivot("Meets the SLO", func(l *Level) string {
				if l.Meets {
					return "yes"
				}
				return "no"
			})
		}
	}
	if c.MiBPerSlot != nil {
		f := c.MiBPerSlot
		b.doc.p(plain(fmt.Sprintf("GPU memory: %s per extra slot (least-squares fit of peak memory against %s over %d settings: %s + %s × %s, R² %.3f).",
			mib(f.Slope), c.By, f.Points, mib(f.Intercept), mib(f.Slope), c.By, f.R2)))
	}
	if err := b.comparisonCharts(); err != nil {
		return err
	}
	return nil
}

func runsSuffix(n int) string {
	if n > 1 {
		return fmt.Sprintf(" (median of %d runs)", n)
	}
	return ""
}

func sloCell(c *Comparison, s *Setting) string {
	l := s.Judged
	if c.slo.IsZero() {
		return "-"
	}
	if l.Meets {
		return "meets"
	}
	var parts []string
	for _, m := range l.Misses {
		switch {
		case m.ErrorRate:
			parts = append(parts, "errors "+pct(m.Value))
		case m.Unmeasured:
			parts = append(parts, m.Bound.Name()+" not measured")
		default:
			parts = append(parts, m.Bound.Name()+" "+signedPct(m.Over))
		}
	}
	if len(parts) == 0 {
		return "no request succeeded"
	}
	return "misses: " + strings.Join(parts, ", ")
}

// stages writes, per run, an overview of its stages and a latency table per stage.
func (b *builder) stages() error {
	b.doc.h(2, "Stages")
	if b.cmp == nil && len(b.es) == 1 {
		if src := stagesMermaid(b.es[0]); src != "" {
			b.doc.add(mermaid{src})
		}
	}
	if b.anyFew() {
		b.doc.p(plain(fmt.Sprintf("Latencies in milliseconds. † marks a p99 of fewer than %d samples: close to the maximum, not a stable estimate.", minP99Samples)))
	}
	for _, e := range b.es {
		if len(b.es) > 1 {
			b.doc.h(3, e.name)
		}
		hasGPU := false
		for i := range e.run.Stages {
			hasGPU = hasGPU || e.gpu.stage(i) != nil
		}
		cols := []column{{name: "stage"}, {name: "load"}, {name: "requests", right: true}, {name: "ok", right: true}, {name: "failed", right: true}, {name: "wall s", right: true},
			{name: "req/s", right: true}, {name: "output tok/s", right: true}, {name: "decode tok/s per request", right: true}, {name: "speed-up", right: true}, {name: "effective parallelism", right: true}}
		if hasGPU {
			cols = append(cols, column{name: "GPU memory peak", right: true}, column{name: "GPU util mean", right: true}, column{name: "J per token", right: true})
		}
		t := table{cols: cols}
		for i, st := range e.run.Stages {
			speed := "-"
			if i == 0 {
				speed = "×1.00"
			} else if st.Speedup > 0 {
				speed = fmt.Sprintf("×%.2f", st.Speedup)
			}
			decode := "-"
			if st.Throughput.DecodeTokensPerS > 0 {
				decode = rate(st.Throughput.DecodeTokensPerS)
			}
			row := []string{st.Name, loadText(st), strconv.Itoa(st.Requests.Total), strconv.Itoa(st.Requests.OK), strconv.Itoa(errorTotal(st.Requests)),
				fmt.Sprintf("%.2f", st.WallS), rate(st.Throughput.RequestsPerS), rate(st.Throughput.OutputTokensPerS), decode, speed, num(st.EffectiveParallelism)}
			if hasGPU {
				mem, util, jpt := "-", "-", "-"
				if g := e.gpu.stage(i); g != nil {
					if g.MemoryUsedPeakMiB != nil {
						mem = mib(*g.MemoryUsedPeakMiB)
					}
					if g.UtilizationMeanPct != nil {
						util = fmt.Sprintf("%.0f%%", *g.UtilizationMeanPct)
					}
					if g.JoulesPerOutputToken != nil {
						jpt = fmt.Sprintf("%.3f", *g.JoulesPerOutputToken)
					}
				}
				row = append(row, mem, util, jpt)
			}
			t.rows = append(t.rows, row)
		}
		b.doc.add(t)
		// The latency tables are long; fold them when there are many (a sweep).
		var lat document
		for _, st := range e.run.Stages {
			b.stageLatency(&lat, e, st)
		}
		total := 0
		for _, x := range b.es {
			total += len(x.run.Stages)
		}
		if total > 4 {
			b.doc.add(details{summary: fmt.Sprintf("Latency percentiles per stage — %s (%d stages)", e.name, len(e.run.Stages)), blocks: lat.blocks})
		} else {
			b.doc.blocks = append(b.doc.blocks, lat.blocks...)
		}
	}
	if b.cmp == nil {
		return b.runLevelCharts()
	}
	return nil
}

// loadText says how a stage loaded the server.
func loadText(st *results.StageResult) string {
	if st.Rate > 0 {
		s := fmt.Sprintf("%s %s/s", cmp.Or(st.Arrival, "constant"), results.TrimFloat(st.Rate, -1))
		if st.MaxConcurrency > 0 {
			s += fmt.Sprintf(", ≤ %d in flight", st.MaxConcurrency)
		}
		return s
	}
	// A no-break space keeps "8 workers" on one line in narrow table columns.
	return fmt.Sprintf("%d\u00a0worker%s", st.Concurrency, plural(st.Concurrency))
}

// latencyRows are the distributions a stage table shows, in order.
func latencyRows() []struct{ key, label string } {
	return []struct{ key, label string }{
		{results.MetricE2E, "E2E"},
		{results.MetricService, "service time"},
		{results.MetricTTFT, "TTFT"},
		{results.MetricITL, "ITL"},
		{results.MetricTPOT, "TPOT"},
		{results.MetricQueueWait, "queue wait"},
		{results.MetricFirstTokenWait, "wait before 1st token"},
		{results.MetricSendLag, "send lag"},
	}
}

func (b *builder) stageLatency(doc *document, e *entry, st *results.StageResult) {
	head := fmt.Sprintf("%s — %s, %d requests in %.2f s", st.Name, loadText(st), st.Requests.Total, st.WallS)
	if len(b.es) > 1 {
		head = e.name + ", " + head
	}
	doc.p(strong(head))
	t := table{cols: []column{{name: "metric"}, {name: "p50", right: true}, {name: "p90", right: true}, {name: "p95", right: true}, {name: "p99", right: true}, {name: "max", right: true}, {name: "mean", right: true}, {name: "n", right: true}}}
	for _, m := range latencyRows() {
		s, ok := st.LatencyMs[m.key]
		if !ok || s.N == 0 {
			continue
		}
		if m.key == results.MetricSendLag && st.Rate == 0 {
			continue // a closed loop sends at once: lag is only news for an open loop
		}
		if m.key == results.MetricService && st.Rate == 0 {
			continue // equal to E2E in a closed loop
		}
		label := m.label
		if m.key == results.MetricQueueWait && !b.queueIsSlotWaitOnly(e, st) {
			label = "queue wait (slot wait + batch sharing)"
		}
		p99 := num(s.P99)
		if s.N < minP99Samples {
			p99 += fewMark
		}
		t.rows = append(t.rows, []string{label, num(s.P50), num(s.P90), num(s.P95), p99, num(s.Max), num(s.Mean), strconv.FormatInt(s.N, 10)})
	}
	if len(t.rows) == 0 {
		doc.p(plain("No successful request: no latency to show."))
		return
	}
	doc.add(t)
}

// fewMark flags a p99 of too few samples.
const fewMark = " †"

// anyFew reports whether some stage shows a p99 of fewer than minP99Samples samples.
func (b *builder) anyFew() bool {
	for _, e := range b.es {
		for _, st := range e.run.Stages {
			for _, s := range st.LatencyMs {
				if s.N > 0 && s.N < minP99Samples {
					return true
				}
			}
		}
	}
	return false
}

// queueIsSlotWaitOnly reports whether Ollama's residual is slot wait alone: only when one
// request at a time was in flight, or the server had one slot. Above that the runner's
// batch sharing lands in the same residual.
func (b *builder) queueIsSlotWaitOnly(e *entry, st *results.StageResult) bool {
	if np, err := strconv.Atoi(e.run.Labels[DefaultBy]); err == nil && np == 1 {
		return true
	}
	return st.Rate == 0 && st.Concurrency == 1
}

// decomposition is where the mean E2E went, as a table and a stacked bar chart.
func (b *builder) decomposition() error {
	rows := decompositionRows(b.es)
	if len(rows) == 0 {
		return nil
	}
	b.doc.h(2, "Where the time went")
	server, client := false, false
	for _, r := range rows {
		server = server || r.server
		client = client || !r.server
	}
	if server {
		b.doc.p(plain("Mean E2E of successful requests, split with Ollama's own timings: load = load_duration (scheduler and model load); " +
			"queue wait = total − load − prompt_eval − eval, less the fixed overhead calibrated on requests that did not wait — slot wait alone at NUM_PARALLEL=1, " +
			"slot wait + batch sharing above it (the runner charges each request only part of each shared step); prefill = prompt_eval_duration; " +
			"decode = eval_duration; client = E2E − total_duration (network, HTTP, the client)."))
	}
	if client {
		b.doc.p(plain("Rows marked client-side have no server timings (OpenAI-compatible APIs): wait + prefill = mean TTFT, decode = mean E2E − mean TTFT."))
	}
	t := table{cols: []column{{name: "run"}, {name: "stage"}, {name: "E2E mean ms", right: true}, {name: "load", right: true}, {name: "queue wait", right: true},
		{name: "prefill", right: true}, {name: "decode", right: true}, {name: "fixed overhead", right: true}, {name: "client", right: true}, {name: "queue share", right: true}, {name: "source"}}}
	for _, r := range rows {
		src := "Ollama timings"
		if !r.server {
			src = "client-side"
		}
		opt := func(v float64, ok bool) string { return optMs(v, ok) }
		share := "-"
		if r.hasQueue && r.e2e > 0 {
			share = pct(r.queue / r.e2e)
		}
		queue := opt(r.queue, r.hasQueue)
		if !r.server {
			queue = "(in prefill)"
		}
		t.rows = append(t.rows, []string{r.run, r.stage, num(r.e2e), opt(r.load, r.server), queue, num(r.prefill), num(r.decode), opt(r.overhead, r.server && r.hasQueue), opt(r.client, r.server), share, src})
	}
	b.doc.add(t)
	return b.decompositionChart(rows)
}

// decompRow is one run × stage of the decomposition, in milliseconds.
type decompRow struct {
	run, stage                                string
	server, hasQueue                          bool
	e2e, load, queue, prefill, decode, client float64
	overhead                                  float64
}

func decompositionRows(es []*entry) []decompRow {
	var rows []decompRow
	for _, e := range es {
		for _, st := range e.run.Stages {
			if d := st.Decomposition; d != nil && d.Requests > 0 {
				r := decompRow{run: e.name, stage: st.Name, server: true, e2e: d.E2E, load: d.Load, prefill: d.PromptEval, decode: d.Eval, client: d.ClientOverhead}
				if e.run.Baseline != nil {
					r.hasQueue, r.queue, r.overhead = true, d.QueueWait, d.Overhead
				} else {
					r.overhead = d.Residual // uncalibrated: all of the residual
				}
				rows = append(rows, r)
				continue
			}
			e2e, ok1 := st.LatencyMs[results.MetricE2E]
			ttft, ok2 := st.LatencyMs[results.MetricTTFT]
			if ok1 && ok2 && e2e.N > 0 && ttft.N > 0 {
				rows = append(rows, decompRow{run: e.name, stage: st.Name, e2e: e2e.Mean, prefill: ttft.Mean, decode: math.Max(0, e2e.Mean-ttft.Mean)})
			}
		}
	}
	return rows
}

// errorsSection lists failures by class with the first error text of each.
func (b *builder) errorsSection() {
	b.doc.h(2, "Errors")
	t := table{cols: []column{{name: "run"}, {name: "stage"}, {name: "class"}, {name: "count", right: true}, {name: "share", right: true}, {name: "first error"}}}
	for _, e := range b.es {
		if w := e.run.Warmup; w != nil {
			for _, class := range slices.Sorted(maps.Keys(w.Errors)) {
				t.rows = append(t.rows, []string{e.name, "warm-up", class, strconv.Itoa(w.Errors[class]), pct(float64(w.Errors[class]) / float64(max(w.Requests, 1))), "-"})
			}
		}
		for _, st := range e.run.Stages {
			for _, class := range slices.Sorted(maps.Keys(st.Requests.Errors)) {
				n := st.Requests.Errors[class]
				sample := oneLine(st.Requests.ErrorSamples[class])
				if sample == "" {
					sample = "-"
				}
				t.rows = append(t.rows, []string{e.name, st.Name, class, strconv.Itoa(n), pct(float64(n) / float64(max(st.Requests.Total, 1))), sample})
			}
		}
	}
	if len(t.rows) == 0 {
		b.doc.p(plain("No request failed."))
		return
	}
	b.doc.add(t)
}

// collectNotes gathers the caveats a reader must know, most important first.
func (b *builder) collectNotes() {
	add := func(s string) {
		if !slices.Contains(b.notes, s) {
			b.notes = append(b.notes, s)
		}
	}
	var sim, simGPU, overloaded, chunkTokens, interrupted []string
	type few struct {
		where string
		n     int64
	}
	var fews []few
	for _, e := range b.es {
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
		for _, st := range r.Stages {
			where := st.Name
			if len(b.es) > 1 {
				where = e.name + " " + st.Name
			}
			if st.Client.Overloaded {
				overloaded = append(overloaded, fmt.Sprintf("%s (%s)", where, st.Client.Reason))
			}
			if st.TokenSource == "chunks" || st.TokenSource == "mixed" {
				chunkTokens = append(chunkTokens, where)
			}
			if s, ok := st.LatencyMs[results.MetricE2E]; ok && s.N > 0 && s.N < minP99Samples {
				fews = append(fews, few{where, s.N})
			}
		}
	}
	if len(interrupted) > 0 {
		add(fmt.Sprintf("Interrupted (Ctrl-C): %s. Their figures cover what was measured before.", joinAnd(interrupted)))
	}
	if len(overloaded) > 0 {
		add(fmt.Sprintf("Client overloaded: results unreliable — the client may have added latency: %s.", strings.Join(overloaded, "; ")))
	}
	if len(sim) > 0 {
		add(fmt.Sprintf("Simulated server (%s): the figures show the simulator's model of a server, not real hardware.", whichRuns(sim, len(b.es))))
	}
	if len(simGPU) > 0 {
		add(fmt.Sprintf("Simulated GPU (%s): memory and utilization come from the simulator.", whichRuns(simGPU, len(b.es))))
	}
	b.noteNumParallel(add)
	stages := 0
	for _, e := range b.es {
		stages += len(e.run.Stages)
	}
	if len(fews) > 0 && len(fews) == stages {
		lo, hi := fews[0].n, fews[0].n
		for _, f := range fews {
			lo, hi = min(lo, f.n), max(hi, f.n)
		}
		n := fmt.Sprintf("n=%d", lo)
		if hi != lo {
			n = fmt.Sprintf("n=%d to %d", lo, hi)
		}
		add(fmt.Sprintf("Too few requests for a p99 in every stage (%s, fewer than %d): a p99 is then close to the maximum. Run more requests (-n) for a stable tail.", n, minP99Samples))
	} else if len(fews) > 0 {
		var parts []string
		for _, f := range fews {
			parts = append(parts, fmt.Sprintf("%s (n=%d)", f.where, f.n))
		}
		if len(parts) > 6 {
			parts = append(parts[:6], fmt.Sprintf("and %d more", len(fews)-6))
		}
		add(fmt.Sprintf("Too few requests for a p99 (fewer than %d): %s. Their p99 is close to the maximum; run more requests (-n) for a stable tail.", minP99Samples, strings.Join(parts, ", ")))
	}
	if len(chunkTokens) > 0 {
		add(fmt.Sprintf("Output tokens counted from stream chunks, not the server's count, in %s: tok/s is approximate.", joinAnd(chunkTokens)))
	}
	if b.cmp != nil {
		for _, n := range b.cmp.Notes {
			add(n)
		}
	}
	for _, n := range b.mergeNotes {
		add(n)
	}
	for _, e := range b.es {
		if e.gpu.info != nil {
			for _, n := range e.gpu.info.Notices {
				add(fmt.Sprintf("%s: %s", e.name, n))
			}
		}
	}
	// A note several runs carry (the simulator's timer caveat on every setting of a sweep) is
	// written once, naming the runs.
	var order []string
	carriers := map[string][]string{}
	for _, e := range b.es {
		for _, n := range e.run.Notes {
			if slices.Contains(b.mergeNotes, n) || slices.Contains(carriers[n], e.name) {
				continue
			}
			if carriers[n] == nil {
				order = append(order, n)
			}
			carriers[n] = append(carriers[n], e.name)
		}
	}
	for _, n := range order {
		if len(b.es) > 1 {
			n = whichRuns(carriers[n], len(b.es)) + ": " + n
		}
		add(n)
	}
}

func whichRuns(names []string, total int) string {
	if len(names) == total {
		if total == 1 {
			return "the run"
		}
		return "all runs"
	}
	return joinAnd(names)
}

// noteNumParallel says when a run's num_parallel cannot be trusted: llmload did not start
// the server (the label was typed by hand), or started it and could not confirm the slots in
// its log; and when the data contradict it — requests at a concurrency within the slots
// that still waited for whole other requests.
func (b *builder) noteNumParallel(add func(string)) {
	var byHand []string
	for _, e := range b.es {
		v, ok := e.run.Labels[DefaultBy]
		if !ok {
			continue
		}
		switch srv := e.run.Server; {
		case srv == nil || !srv.Managed:
			byHand = append(byHand, e.name)
		case srv.NumParallelObserved > 0 && srv.NumParallelObserved != srv.NumParallel:
			add(fmt.Sprintf("%s: llmload started the server with NUM_PARALLEL=%d, but its runner reported %d slots.", e.name, srv.NumParallel, srv.NumParallelObserved))
		case !srv.Verified:
			why := ""
			if srv.Note != "" {
				why = " (" + srv.Note + ")"
			}
			add(fmt.Sprintf("%s: NUM_PARALLEL=%d not verified: the server's log did not confirm the slots%s.", e.name, srv.NumParallel, why))
		}
		np, err := strconv.Atoi(v)
		if err != nil || np < 2 {
			continue
		}
		b.noteSlotsContradicted(e, np, add)
	}
	if len(byHand) > 0 {
		add(fmt.Sprintf("NUM_PARALLEL not verified for %s: the %s label was given by hand, and llmload, which did not start the server, cannot see its setting.", joinAnd(byHand), DefaultBy))
	}
}

func (b *builder) noteSlotsContradicted(e *entry, np int, add func(string)) {
	var lone *results.StageResult
	for _, st := range e.run.Stages {
		if st.Rate == 0 && st.Concurrency == 1 {
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
		if st.Rate > 0 || st.Concurrency < 2 || st.Concurrency > np {
			continue
		}
		ttft, ok := st.LatencyMs[results.MetricTTFT]
		if ok && ttft.N > 0 && ttft.P50 > 0.5*alone.P50 {
			add(fmt.Sprintf("%s: at %s, within its %d slots, the median TTFT (%s) is over half a lone request's E2E (%s): requests waited for others to finish, as if the server had fewer slots. Check that the server really ran with %s=%d.",
				e.name, st.Name, np, msText(ttft.P50), msText(alone.P50), DefaultBy, np))
			return
		}
	}
}

// definitions prints the catalogue's definitions, the same text as run --help and the README.
func (b *builder) definitions() {
	b.doc.h(2, "Definitions")
	b.doc.p(plain(fmt.Sprintf("In parentheses the names that --slo, llmload gate and the CSV and JSON formats use; <stat> is one of %s.", strings.Join(results.LatencyStats(), ", "))))
	var items [][]span
	for _, d := range results.Definitions() {
		items = append(items, []span{strong(d.Term), plain(" ("), code(d.Names), plain("): " + d.Text + ".")})
	}
	b.doc.add(list{items})
}

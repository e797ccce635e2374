package report

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/analysis"
	"github.com/llmload/llmload/report/internal/prose"
)

// builder assembles the document that markdown, HTML and text render from an analysis.
type builder struct {
	a      *analysis.Analysis
	charts *chartSet // nil: no charts
	metric string    // the percentile chart's distribution; "" is E2E and TTFT
	doc    document
}

func newBuilder(a *analysis.Analysis, charts Charts) *builder {
	b := &builder{a: a, metric: charts.Metric}
	if charts.Dir != "" || charts.Inline {
		b.charts = &chartSet{dir: charts.Dir, inline: charts.Inline}
	}
	return b
}

func (b *builder) build() (*document, error) {
	b.doc.h(1, b.title())
	b.noisy()
	for _, c := range b.a.Capacities {
		// The answer a capacity search was run for comes first, as a sentence.
		b.doc.h(2, "Capacity")
		b.doc.p(plain(c.Answer))
		var items [][]span
		for _, adv := range c.Capacity.Advice {
			items = append(items, []span{plain(adv)})
		}
		if len(items) > 0 {
			b.doc.add(list{items})
		}
	}
	b.verdict()
	b.facts()
	if b.a.Comparison != nil {
		if err := b.comparison(); err != nil {
			return nil, err
		}
	}
	if err := b.stages(); err != nil {
		return nil, err
	}
	if err := b.classes(); err != nil {
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
	var items [][]span
	for _, n := range b.a.Notes {
		if n.Kind != analysis.KindNoisy { // they lead the report
			items = append(items, []span{plain(n.Text)})
		}
	}
	if len(items) > 0 {
		b.doc.h(2, "Notes")
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
	for _, r := range b.a.Runs {
		for _, m := range r.Models {
			if !models[m] {
				models[m] = true
				modelOrder = append(modelOrder, m)
			}
		}
		s := serverName(r.Target)
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

// serverName describes the server: "Ollama 0.17.4", "a simulated Ollama",
// "an OpenAI-compatible server".
func serverName(t results.Target) string {
	name := "an OpenAI-compatible server"
	if strings.HasPrefix(t.API, "ollama") {
		name = "Ollama"
	}
	if t.ServerVersion != "" {
		if name == "Ollama" {
			name += " " + t.ServerVersion
		} else {
			name += " (version " + t.ServerVersion + ")"
		}
	}
	if t.Simulated {
		name = "simulated " + strings.TrimPrefix(name, "an ")
		name = "a " + name
	}
	return name
}

// noisy leads the report with what makes its figures doubtful, before any recommendation.
func (b *builder) noisy() {
	var items [][]span
	for _, n := range b.a.Notes {
		if n.Kind == analysis.KindNoisy {
			items = append(items, []span{plain(n.Text)})
		}
	}
	if len(items) == 0 {
		return
	}
	b.doc.p(strong("The measurements are noisy: what follows may say more about this machine than about the server."))
	b.doc.add(list{items})
}

// verdict is the paragraph under the title: what was measured and what it says.
func (b *builder) verdict() {
	a := b.a
	var parts []string
	files := map[string]bool{}
	merged := false
	for _, r := range a.Runs {
		for _, src := range r.Sources {
			files[src] = true
		}
		merged = merged || r.Merged
	}
	what := fmt.Sprintf("%d run%s", len(a.Runs), prose.Plural(len(a.Runs)))
	switch {
	case merged:
		what += fmt.Sprintf(" merged from %d files", len(files))
	case len(files) > 1:
		what += fmt.Sprintf(" from %d files", len(files))
	}
	if len(a.Runs) == 1 {
		n := len(a.Runs[0].Stages)
		what += fmt.Sprintf(", %d stage%s", n, prose.Plural(n))
	}
	if c := a.Comparison; c != nil {
		var vals []string
		for _, s := range c.Settings {
			vals = append(vals, s.Value)
		}
		what += fmt.Sprintf(", compared by %s (%s)", c.By, strings.Join(vals, ", "))
	}
	parts = append(parts, what+".")
	if a.Comparison != nil {
		parts = append(parts, a.Comparison.Recommendation.Summary)
		if s := a.Comparison.Recommendation.Sureness; s != "" {
			parts = append(parts, s)
		}
	} else if a.BestStage != nil {
		r, best := a.Lookup(*a.BestStage)
		s := fmt.Sprintf("Most throughput at %s", best.Name)
		if len(a.Runs) > 1 {
			s += " of " + r.Name
		}
		s += fmt.Sprintf(": %s output tok/s, %s req/s", prose.Rate(best.Throughput.OutputTokensPerS), prose.Rate(best.Throughput.RequestsPerS))
		if ref := speedupReference(r, best); best.Speedup > 0 && ref != nil && ref != best {
			s += fmt.Sprintf(" (×%.2f the requests/s of %s)", best.Speedup, ref.Name)
		}
		if d := best.Decomposition; d != nil && r.Baseline != nil && d.QueueShare > 0 {
			s += fmt.Sprintf("; queue wait was %s of E2E there", prose.Pct(d.QueueShare))
		}
		parts = append(parts, s+".")
		if a.Knee != nil {
			parts = append(parts, a.Knee.Text)
		}
	}
	switch t := a.Totals; {
	case t.Requests == 0:
		parts = append(parts, "No request was measured.")
	case t.Failed == 0:
		parts = append(parts, fmt.Sprintf("All %d requests succeeded.", t.Requests))
	default:
		parts = append(parts, fmt.Sprintf("%d of %d requests failed (%s).", t.Failed, t.Requests, classList(t.Errors)))
	}
	if a.Interrupted() {
		parts = append(parts, "Interrupted: the figures cover what was measured before Ctrl-C.")
	}
	b.doc.p(plain(strings.Join(parts, " ")))
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
		get  func(r *analysis.Run) string
	}
	facts := []fact{
		{"server", func(r *analysis.Run) string {
			return strings.TrimPrefix(strings.TrimPrefix(serverName(r.Target), "an "), "a ")
		}},
		{"URL", func(r *analysis.Run) string { return r.Target.URL }},
		{"API", func(r *analysis.Run) string { return r.Target.API }},
		{"model", func(r *analysis.Run) string { return strings.Join(r.Models, ", ") }},
		{"GPU", func(r *analysis.Run) string { return gpuText(r.GPU) }},
		{"client host", func(r *analysis.Run) string {
			h := r.Host
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
		for _, r := range b.a.Runs {
			same = same && f.get(r) == f.get(b.a.Runs[0])
		}
		if same {
			common = append(common, f)
		} else {
			differ = append(differ, f)
		}
	}
	var items [][]span
	for _, f := range common {
		v := plain(" " + f.get(b.a.Runs[0]))
		if f.name == "URL" || f.name == "model" {
			// Literal text: a model name is an identifier, and a URL should not turn into a link.
			v = code(f.get(b.a.Runs[0]))
			items = append(items, []span{strong(f.name + ":"), plain(" "), v})
			continue
		}
		items = append(items, []span{strong(f.name + ":"), v})
	}
	if len(items) > 0 {
		b.doc.add(list{items})
	}
	multiFile := false
	for _, r := range b.a.Runs {
		multiFile = multiFile || r.Source() != b.a.Runs[0].Source() || r.Merged
	}
	showLabels := false
	for _, r := range b.a.Runs {
		showLabels = showLabels || prose.Labels(r.Labels) != r.Name
	}
	cols := []column{{name: "run"}}
	if showLabels {
		cols = append(cols, column{name: "labels"})
	}
	for _, f := range differ {
		cols = append(cols, column{name: f.name})
	}
	control := false
	for _, r := range b.a.Runs {
		control = control || r.Control != nil
	}
	if control {
		cols = append(cols, column{name: "control", right: true})
	}
	cols = append(cols, column{name: "started (UTC)"}, column{name: "duration", right: true})
	if multiFile {
		cols = append(cols, column{name: "file"})
	}
	t := table{cols: cols}
	for _, r := range b.a.Runs {
		labels := prose.Labels(r.Labels)
		if labels == "" {
			labels = "-"
		}
		row := []string{r.Name}
		if showLabels {
			row = append(row, labels)
		}
		for _, f := range differ {
			row = append(row, f.get(r))
		}
		if control {
			row = append(row, controlText(r.Control))
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
			src := r.Source()
			if r.Merged {
				src = strings.Join(r.Sources, " + ")
			}
			row = append(row, src)
		}
		t.rows = append(t.rows, row)
	}
	b.doc.add(t)
}

// controlText is a run's control in a table cell: "1047 tok/s (probe)".
func controlText(c *results.Control) string {
	if c == nil || c.OK == 0 {
		return "-"
	}
	src := "probe"
	if c.Source != "probe" {
		src = strings.TrimPrefix(c.Source, "stage ")
	}
	return fmt.Sprintf("%s tok/s (%s)", prose.Rate(c.Value), src)
}

func gpuText(g *results.GPUInfo) string {
	if g == nil {
		return "not sampled"
	}
	if !g.Available {
		if g.Reason != "" {
			return "unavailable: " + g.Reason
		}
		return "unavailable"
	}
	var names []string
	for _, d := range g.Devices {
		n := d.Name
		if d.MemoryTotalMiB > 0 {
			n += " (" + prose.MiB(d.MemoryTotalMiB) + ")"
		}
		names = append(names, n)
	}
	s := strings.Join(names, ", ")
	if g.Simulated && !strings.Contains(strings.ToLower(s), "simulated") {
		s += " (simulated)"
	}
	if s == "" {
		s = "sampled"
	}
	return s
}

// comparison is the section that sets settings side by side and recommends one.
func (b *builder) comparison() error {
	c := b.a.Comparison
	b.doc.h(2, "Compared by "+c.By)
	r := c.Recommendation
	b.doc.p(strong(r.Summary))
	if r.Sureness != "" {
		b.doc.p(plain(r.Sureness))
	}
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
	if c.SLO != "" {
		sloText = "SLO " + c.SLOText()
	}
	parallel := "eff. parallel is requests in flight on average, per slot over the setting (above 1, requests queue)."
	if !c.PerSlot() {
		parallel = "eff. parallel is requests in flight on average."
	}
	rounds := false
	for _, s := range c.Settings {
		rounds = rounds || s.Runs > 1
	}
	spread := ""
	if rounds {
		spread = fmt.Sprintf(" Figures are medians over a setting's runs; the interval bounds the median of tok/s without assuming a distribution (95 %% with 6 runs or more, else the runs' range and its confidence); a gain is marked ~ when the runs cannot tell it from their spread (Mann-Whitney, α = %g).", analysis.Alpha)
	}
	b.doc.p(plain(fmt.Sprintf("Judged: %s; %s; a step must add at least %s throughput to count (the knee). "+
		"tok/s is output tokens per second of the stage, tok/s per req each request's decode rate; latencies in ms; queue wait is the mean and %% its share of E2E; "+
		"%s%s", judged, sloText, prose.Pct(c.KneeGain), parallel, spread)))

	hasGPU := false
	for _, s := range c.Settings {
		hasGPU = hasGPU || s.GPUMemoryPeakMiB != nil
	}
	cols := []column{{name: c.By}, {name: "at"}, {name: "tok/s", right: true}}
	if rounds {
		cols = append(cols, column{name: "interval", right: true})
	}
	cols = append(cols, column{name: "gain", right: true}, column{name: "tok/s per req", right: true},
		column{name: "TTFT p50", right: true}, column{name: "TTFT p95", right: true}, column{name: "E2E p95", right: true}, column{name: "queue wait", right: true}, column{name: "queue %", right: true},
		column{name: "eff. parallel", right: true})
	if c.PerSlot() {
		cols = append(cols, column{name: "per slot", right: true})
	}
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
			gain = prose.SignedPct(*s.GainOverPrevious)
		}
		if s.GainTest != nil {
			gain = s.GainTest.Cell()
		}
		perSlot := "-"
		if l.ParallelismPerSlot != nil {
			perSlot = prose.Num(*l.ParallelismPerSlot)
		}
		queue, share := "-", "-"
		if l.HasQueue {
			queue, share = prose.Num(l.QueueWaitMean), prose.Pct(l.QueueShare)
		}
		decode := "-"
		if l.DecodeTokensPerS > 0 {
			decode = prose.Rate(l.DecodeTokensPerS)
		}
		row := []string{s.Value + runsSuffix(s.Runs), l.Load().String(), prose.Rate(l.OutputTokensPerS)}
		if rounds {
			iv := "-"
			if l.OutputTokensPerSInterval != nil {
				iv = l.OutputTokensPerSInterval.String()
			}
			row = append(row, iv)
		}
		row = append(row, gain, decode,
			optMs(l.TTFTP50, l.HasTTFT), optMs(l.TTFTP95, l.HasTTFT), prose.Num(l.E2EP95), queue, share, prose.Num(l.EffectiveParallelism))
		if c.PerSlot() {
			row = append(row, perSlot)
		}
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
	var keys []analysis.Load
	seen := map[analysis.Load]bool{}
	for _, s := range c.Settings {
		for _, l := range s.Levels {
			if !seen[l.Load()] {
				seen[l.Load()] = true
				keys = append(keys, l.Load())
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Before(keys[j]) })
	if len(keys) > 1 {
		pivot := func(title string, f func(*analysis.Level) string) {
			b.doc.p(strong(title))
			cols := []column{{name: c.By}}
			for _, k := range keys {
				cols = append(cols, column{name: k.String(), right: true})
			}
			t := table{cols: cols}
			for _, s := range c.Settings {
				row := []string{s.Value}
				for _, k := range keys {
					if l := s.Level(k); l != nil {
						row = append(row, f(l))
					} else {
						row = append(row, "-")
					}
				}
				t.rows = append(t.rows, row)
			}
			b.doc.add(t)
		}
		pivot("Output tok/s by load", func(l *analysis.Level) string {
			if iv := l.OutputTokensPerSInterval; iv != nil {
				return fmt.Sprintf("%s (%s–%s)", prose.Rate(l.OutputTokensPerS), prose.Rate(iv.Lo), prose.Rate(iv.Hi))
			}
			return prose.Rate(l.OutputTokensPerS)
		})
		pivot("TTFT p95 (ms) by load", func(l *analysis.Level) string { return optMs(l.TTFTP95, l.HasTTFT) })
		pivot("E2E p95 (ms) by load", func(l *analysis.Level) string { return prose.Num(l.E2EP95) })
		if c.SLO != "" {
			pivot("Meets the SLO", func(l *analysis.Level) string {
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
			prose.MiB(f.Slope), c.By, f.Points, prose.MiB(f.Intercept), prose.MiB(f.Slope), c.By, f.R2)))
	}
	if c.MiBPerUnit != nil {
		f := c.MiBPerUnit
		b.doc.p(plain(fmt.Sprintf("GPU memory: %s per unit of %s (least-squares fit of peak memory against %s over %d settings: %s + %s × %s, R² %.3f).",
			prose.MiB(f.Slope), c.By, c.By, f.Points, prose.MiB(f.Intercept), prose.MiB(f.Slope), c.By, f.R2)))
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

func sloCell(c *analysis.Comparison, s *analysis.Setting) string {
	l := s.Judged
	if c.SLO == "" {
		return "-"
	}
	if l.Meets {
		return "meets"
	}
	var parts []string
	for _, m := range l.Misses {
		name, unit := m.Bound.Name(), m.Bound.Metric.Unit
		switch {
		case m.Unmeasured:
			parts = append(parts, name+" not measured")
		case unit == results.UnitFraction:
			parts = append(parts, name+" "+prose.Pct(m.Value))
		case unit == results.UnitCount:
			parts = append(parts, name+" "+unit.Format(m.Value))
		case m.Bound.Metric.Better == results.BetterHigher:
			parts = append(parts, name+" "+prose.SignedPct(m.Value/m.Bound.Limit-1))
		default:
			parts = append(parts, name+" "+prose.SignedPct(m.Over))
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
	if b.a.Comparison == nil && len(b.a.Runs) == 1 {
		if src := stagesMermaid(b.a.Runs[0]); src != "" {
			b.doc.add(mermaid{src})
		}
	}
	if b.anyFew() {
		b.doc.p(plain(fmt.Sprintf("Latencies in milliseconds. † marks a p99 of fewer than %d samples: close to the maximum, not a stable estimate.", analysis.MinP99Samples)))
	}
	for _, r := range b.a.Runs {
		if len(b.a.Runs) > 1 {
			b.doc.h(3, r.Name)
		}
		hasGPU := false
		for _, st := range r.Stages {
			hasGPU = hasGPU || st.GPU != nil
		}
		cols := []column{{name: "stage"}, {name: "load"}, {name: "requests", right: true}, {name: "ok", right: true}, {name: "failed", right: true}, {name: "wall s", right: true},
			{name: "req/s", right: true}, {name: "output tok/s", right: true}, {name: "decode tok/s per request", right: true}, {name: "speed-up", right: true}, {name: "effective parallelism", right: true}}
		if hasGPU {
			cols = append(cols, column{name: "GPU memory peak", right: true}, column{name: "GPU util mean", right: true}, column{name: "J per token", right: true})
		}
		t := table{cols: cols}
		open := make([]bool, len(r.Stages))
		for i, st := range r.Stages {
			open[i] = st.Rate > 0
		}
		for i, st := range r.Stages {
			speed := "-"
			if results.SpeedupReference(open, i) == i {
				speed = "×1.00"
			} else if st.Speedup > 0 {
				speed = fmt.Sprintf("×%.2f", st.Speedup)
			}
			decode := "-"
			if st.Throughput.DecodeTokensPerS > 0 {
				decode = prose.Rate(st.Throughput.DecodeTokensPerS)
			}
			row := []string{st.Name, loadText(st), strconv.Itoa(st.Requests.Total), strconv.Itoa(st.Requests.OK), strconv.Itoa(st.Failed),
				fmt.Sprintf("%.2f", st.WallS), prose.Rate(st.Throughput.RequestsPerS), prose.Rate(st.Throughput.OutputTokensPerS), decode, speed, prose.Num(st.EffectiveParallelism)}
			if hasGPU {
				mem, util, jpt := "-", "-", "-"
				if g := st.GPU; g != nil {
					if g.MemoryUsedPeakMiB != nil {
						mem = prose.MiB(*g.MemoryUsedPeakMiB)
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
		for _, st := range r.Stages {
			b.stageLatency(&lat, r, st)
		}
		total := 0
		for _, x := range b.a.Runs {
			total += len(x.Stages)
		}
		if total > 4 {
			b.doc.add(details{summary: fmt.Sprintf("Latency percentiles per stage — %s (%d stages)", r.Name, len(r.Stages)), blocks: lat.blocks})
		} else {
			b.doc.blocks = append(b.doc.blocks, lat.blocks...)
		}
	}
	if b.a.Comparison == nil {
		return b.runLevelCharts()
	}
	return nil
}

// speedupReference is the stage of r that st's speed-up is measured against (see
// results.SpeedupReference); nil when st is not r's.
func speedupReference(r *analysis.Run, st *analysis.Stage) *analysis.Stage {
	open := make([]bool, len(r.Stages))
	at := -1
	for i, x := range r.Stages {
		open[i] = x.Rate > 0
		if x == st {
			at = i
		}
	}
	if at < 0 {
		return nil
	}
	return r.Stages[results.SpeedupReference(open, at)]
}

// loadText says how a stage loaded the server.
func loadText(st *analysis.Stage) string {
	if st.Rate > 0 {
		s := fmt.Sprintf("%s %s/s", cmp.Or(st.Arrival, "constant"), results.TrimFloat(st.Rate, -1))
		if st.MaxConcurrency > 0 {
			s += fmt.Sprintf(", ≤ %d in flight", st.MaxConcurrency)
		}
		return s
	}
	// A no-break space keeps "8 workers" on one line in narrow table columns.
	return fmt.Sprintf("%d\u00a0worker%s", st.Concurrency, prose.Plural(st.Concurrency))
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
		{results.MetricCapWait, "wait for a place"},
	}
}

// saturationText says what a capped open loop's arrivals found: "" when none waited.
func saturationText(st *results.StageResult) string {
	s := st.Saturation
	if s == nil || s.Delayed+s.Dropped == 0 {
		return ""
	}
	text := fmt.Sprintf("the server's saturation: %d of %d arrivals found every place taken (at most %d in flight)", s.Delayed+s.Dropped, s.Arrivals, st.MaxConcurrency)
	var parts []string
	if s.Delayed > 0 {
		part := fmt.Sprintf("%d sent late", s.Delayed)
		if w, ok := st.LatencyMs[results.MetricCapWait]; ok && w.N > 0 {
			part += fmt.Sprintf(" (waited %s ms at the median, %s at most)", prose.Num(w.P50), prose.Num(w.Max))
		}
		parts = append(parts, part)
	}
	if s.Dropped > 0 {
		parts = append(parts, fmt.Sprintf("%d never sent before the stage ended", s.Dropped))
	}
	return text + ": " + strings.Join(parts, ", ")
}

func (b *builder) stageLatency(doc *document, r *analysis.Run, st *analysis.Stage) {
	head := fmt.Sprintf("%s — %s, %d requests in %.2f s", st.Name, loadText(st), st.Requests.Total, st.WallS)
	if len(b.a.Runs) > 1 {
		head = r.Name + ", " + head
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
		if m.key == results.MetricQueueWait && st.QueueWaitHoldsBatchSharing {
			label = "queue wait (slot wait + batch sharing)"
		}
		p99 := prose.Num(s.P99)
		if s.N < analysis.MinP99Samples {
			p99 += fewMark
		}
		t.rows = append(t.rows, []string{label, prose.Num(s.P50), prose.Num(s.P90), prose.Num(s.P95), p99, prose.Num(s.Max), prose.Num(s.Mean), strconv.FormatInt(s.N, 10)})
	}
	if len(t.rows) == 0 {
		doc.p(plain("No successful request: no latency to show."))
	} else {
		doc.add(t)
	}
	if text := saturationText(st.Data); text != "" {
		doc.p(plain(strings.ToUpper(text[:1]) + text[1:] + "."))
	}
}

// fewMark flags a p99 of too few samples.
const fewMark = " †"

// anyFew reports whether some stage shows a p99 of too few samples.
func (b *builder) anyFew() bool {
	for _, r := range b.a.Runs {
		for _, st := range r.Stages {
			if len(st.FewSamples) > 0 {
				return true
			}
		}
	}
	return false
}

// decomposition is where the mean E2E went, as a table and a stacked bar chart.
func (b *builder) decomposition() error {
	rows := b.timeSplits()
	if len(rows) == 0 {
		return nil
	}
	b.doc.h(2, "Where the time went")
	server, client := false, false
	for _, r := range rows {
		server = server || r.split.ServerTimings
		client = client || !r.split.ServerTimings
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
		d := r.split
		src := "Ollama timings"
		if !d.ServerTimings {
			src = "client-side"
		}
		share := "-"
		if d.HasQueue && d.E2E > 0 {
			share = prose.Pct(d.QueueWait / d.E2E)
		}
		queue := optMs(d.QueueWait, d.HasQueue)
		if !d.ServerTimings {
			queue = "(in prefill)"
		}
		t.rows = append(t.rows, []string{r.run, r.stage, prose.Num(d.E2E), optMs(d.Load, d.ServerTimings), queue, prose.Num(d.Prefill), prose.Num(d.Decode),
			optMs(d.Overhead, d.ServerTimings && d.HasQueue), optMs(d.Client, d.ServerTimings), share, src})
	}
	b.doc.add(t)
	return b.decompositionChart(rows)
}

// splitRow is one run × stage of the decomposition.
type splitRow struct {
	run, stage string
	split      *analysis.TimeSplit
}

func (b *builder) timeSplits() []splitRow {
	var rows []splitRow
	for _, r := range b.a.Runs {
		for _, st := range r.Stages {
			if st.TimeSplit != nil {
				rows = append(rows, splitRow{r.Name, st.Name, st.TimeSplit})
			}
		}
	}
	return rows
}

// errorsSection lists failures by class with the first error text of each.
func (b *builder) errorsSection() {
	b.doc.h(2, "Errors")
	t := table{cols: []column{{name: "run"}, {name: "stage"}, {name: "class"}, {name: "count", right: true}, {name: "share", right: true}, {name: "first error"}}}
	for _, r := range b.a.Runs {
		if w := r.Warmup; w != nil {
			for _, class := range slices.Sorted(maps.Keys(w.Errors)) {
				t.rows = append(t.rows, []string{r.Name, "warm-up", class, strconv.Itoa(w.Errors[class]), prose.Pct(float64(w.Errors[class]) / float64(max(w.Requests, 1))), "-"})
			}
		}
		for _, st := range r.Stages {
			for _, class := range slices.Sorted(maps.Keys(st.Requests.Errors)) {
				n := st.Requests.Errors[class]
				sample := oneLine(st.Requests.ErrorSamples[class])
				if sample == "" {
					sample = "-"
				}
				t.rows = append(t.rows, []string{r.Name, st.Name, class, strconv.Itoa(n), prose.Pct(float64(n) / float64(max(st.Requests.Total, 1))), sample})
			}
		}
	}
	if len(t.rows) == 0 {
		b.doc.p(plain("No request failed."))
		return
	}
	b.doc.add(t)
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

// optMs prints a millisecond figure of a table, "-" when not measured.
func optMs(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return prose.Num(v)
}

package report

import (
	"bytes"
	"fmt"
	"image/color"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/analysis"
)

// chartSet writes the charts of one report into a folder.
type chartSet struct {
	dir     string
	written []string
	// inline keeps each chart in memory for the page it goes in (HTML) instead of writing it
	// into dir: one self-contained file.
	inline bool
	svg    map[string][]byte
}

// Chart geometry. SVG user units are points: 9 in is 648 px wide, which GitHub shows
// unscaled in its 900-odd px content column.
const (
	chartWidth  = 9 * vg.Inch
	chartHeight = 4 * vg.Inch
	panelHeight = 1.9 * vg.Inch
)

// palette is Tableau 10: distinguishable, and readable by most colour-blind readers when
// paired with the dash patterns below.
func palette(i int) color.Color {
	cs := []uint32{0x4e79a7, 0xf28e2b, 0xe15759, 0x76b7b2, 0x59a14f, 0xedc948, 0xb07aa1, 0xff9da7, 0x9c755f, 0xbab0ac}
	c := cs[i%len(cs)]
	return color.RGBA{R: uint8(c >> 16), G: uint8(c >> 8), B: uint8(c), A: 255}
}

// dashes varies the line pattern once the colours run out.
func dashes(i int) []vg.Length {
	switch (i / 10) % 3 {
	case 1:
		return []vg.Length{vg.Points(6), vg.Points(3)}
	case 2:
		return []vg.Length{vg.Points(2), vg.Points(2)}
	}
	return nil
}

// newPlot makes a plot with the report's fonts: sans-serif (metric-compatible with Arial,
// which viewers without Liberation fonts substitute) at sizes that stay legible when a page
// scales the image down.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = chartText(title, 90)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	sans(&p.Title.TextStyle.Font, 12)
	sans(&p.X.Label.TextStyle.Font, 10)
	sans(&p.Y.Label.TextStyle.Font, 10)
	sans(&p.X.Tick.Label.Font, 9)
	sans(&p.Y.Tick.Label.Font, 9)
	p.X.Tick.Marker = niceTicks{}
	p.Y.Tick.Marker = niceTicks{}
	p.Title.Padding = vg.Points(6)
	p.Add(plotter.NewGrid())
	return p
}

func sans(f *font.Font, size vg.Length) {
	f.Variant = "Sans"
	f.Size = size
}

func newLegend() plot.Legend {
	l := plot.NewLegend()
	sans(&l.TextStyle.Font, 9)
	l.Top, l.Left = true, true
	l.ThumbnailWidth = vg.Points(18)
	l.Padding = vg.Points(4)
	return l
}

// save draws a figure on an SVG canvas and writes it into the charts folder. The legend,
// when given, goes in a column right of the plots so it never hides a line.
func (cs *chartSet) save(name string, width, height vg.Length, plots []*plot.Plot, legend *plot.Legend) error {
	c := vgsvg.New(width, height)
	dc := draw.New(c)
	// A white background: the page behind may be dark.
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	// A margin, so that the title and the outer tick labels do not touch the edge.
	dc = draw.Crop(dc, vg.Points(6), -vg.Points(6), vg.Points(4), -vg.Points(6))
	area := dc
	if legend != nil {
		r := legend.Rectangle(dc)
		lw := r.Max.X - r.Min.X + vg.Points(16)
		area = draw.Crop(dc, 0, -lw, 0, 0)
		lc := draw.Crop(dc, dc.Max.X-dc.Min.X-lw+vg.Points(8), 0, 0, -vg.Points(24))
		legend.Draw(lc)
	}
	if len(plots) == 1 {
		plots[0].Draw(area)
	} else {
		rows := make([][]*plot.Plot, len(plots))
		for i, p := range plots {
			rows[i] = []*plot.Plot{p}
		}
		canvases := plot.Align(rows, draw.Tiles{Rows: len(plots), Cols: 1, PadY: vg.Points(4), PadTop: vg.Points(2), PadBottom: vg.Points(2)}, area)
		for i, p := range plots {
			p.Draw(canvases[i][0])
		}
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return fmt.Errorf("chart %s: %w", name, err)
	}
	out := buf.Bytes()
	// gonum names the embedded metrics' family only; add the metric-compatible fallbacks.
	out = bytes.ReplaceAll(out, []byte("font-family:Liberation Sans;"), []byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif;"))
	if cs.inline {
		// In a page, the SVG element alone: no XML declaration or comment before it.
		if i := bytes.Index(out, []byte("<svg")); i > 0 {
			out = out[i:]
		}
		if cs.svg == nil {
			cs.svg = map[string][]byte{}
		}
		cs.svg[name] = out
		cs.written = append(cs.written, name)
		return nil
	}
	if err := os.MkdirAll(cs.dir, 0o755); err != nil {
		return fmt.Errorf("charts: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cs.dir, name), out, 0o644); err != nil {
		return fmt.Errorf("charts: %w", err)
	}
	cs.written = append(cs.written, name)
	return nil
}

// styleLine gives series i its colour and pattern.
func styleLine(ls *draw.LineStyle, i int) {
	ls.Color = palette(i)
	ls.Width = vg.Points(1.6)
	ls.Dashes = dashes(i)
}

// addFigure saves a chart and puts it in the document.
func (b *builder) addFigure(name, alt string, width, height vg.Length, plots []*plot.Plot, legend *plot.Legend) error {
	if b.charts == nil {
		return nil
	}
	if err := b.charts.save(name, width, height, plots, legend); err != nil {
		return err
	}
	b.doc.add(figure{alt: alt, file: name, svg: b.charts.svg[name]})
	return nil
}

// levelSeries is one line of a chart against load: a setting or a run.
type levelSeries struct {
	name   string
	points plotter.XYs
}

// namedLevels is one line of the charts against load: a setting, or a run.
type namedLevels struct {
	name   string
	levels []*analysis.Level
}

// comparisonCharts draws throughput and TTFT p95 against concurrency, one line per setting.
func (b *builder) comparisonCharts() error {
	c := b.a.Comparison
	var groups []namedLevels
	for _, s := range c.Settings {
		groups = append(groups, namedLevels{c.By + "=" + s.Value, s.Levels})
	}
	return b.levelCharts(groups)
}

// runLevelCharts draws the same charts for runs that are not compared, one line per run.
func (b *builder) runLevelCharts() error {
	if b.charts == nil {
		return nil
	}
	var groups []namedLevels
	for _, r := range b.a.Runs {
		groups = append(groups, namedLevels{r.Name, r.Levels()})
	}
	return b.levelCharts(groups)
}

// levelCharts draws output tok/s and TTFT p95 (E2E p95 when TTFT was not measured) against
// closed-loop concurrency, when some line has two levels or more.
func (b *builder) levelCharts(groups []namedLevels) error {
	if b.charts == nil {
		return nil
	}
	var tput, lat []levelSeries
	useTTFT := true
	for _, g := range groups {
		for _, l := range g.levels {
			useTTFT = useTTFT && (l.HasTTFT || l.Load().Rate > 0)
		}
	}
	for _, g := range groups {
		var a, t plotter.XYs
		for _, l := range g.levels {
			if l.Load().Rate > 0 {
				continue
			}
			x := float64(l.Load().Concurrency)
			a = append(a, plotter.XY{X: x, Y: l.OutputTokensPerS})
			if useTTFT {
				t = append(t, plotter.XY{X: x, Y: l.TTFTP95})
			} else {
				t = append(t, plotter.XY{X: x, Y: l.E2EP95})
			}
		}
		tput = append(tput, levelSeries{g.name, a})
		lat = append(lat, levelSeries{g.name, t})
	}
	if !enoughLevels(tput) {
		return nil
	}
	if err := b.levelChart("throughput.svg", "Output tokens per second against concurrency", "output tok/s", tput); err != nil {
		return err
	}
	if useTTFT {
		return b.levelChart("ttft-p95.svg", "TTFT p95 against concurrency", "TTFT p95 (ms)", lat)
	}
	return b.levelChart("e2e-p95.svg", "E2E p95 against concurrency", "E2E p95 (ms)", lat)
}

func enoughLevels(series []levelSeries) bool {
	for _, s := range series {
		if len(s.points) >= 2 {
			return true
		}
	}
	return false
}

// levelChart draws series against closed-loop concurrency. The axis is logarithmic when the
// levels span a factor of 4 or more (1, 2, 4, 8 … spread evenly), ticked at the levels.
func (b *builder) levelChart(name, title, yLabel string, series []levelSeries) error {
	p := newPlot(title, "concurrency (closed-loop workers)", yLabel)
	xs := map[float64]bool{}
	for _, s := range series {
		for _, pt := range s.points {
			xs[pt.X] = true
		}
	}
	var levels []float64
	for x := range xs {
		levels = append(levels, x)
	}
	sort.Float64s(levels)
	var ticks []plot.Tick
	for _, x := range levels {
		ticks = append(ticks, plot.Tick{Value: x, Label: results.TrimFloat(x, -1)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	if levels[0] > 0 && levels[len(levels)-1]/levels[0] >= 4 {
		p.X.Scale = plot.LogScale{}
	}
	pad := 0.06 * (levels[len(levels)-1] - levels[0])
	if p.X.Scale != nil {
		if _, ok := p.X.Scale.(plot.LogScale); ok {
			p.X.Min, p.X.Max = levels[0]/1.15, levels[len(levels)-1]*1.15
		} else {
			p.X.Min, p.X.Max = levels[0]-pad, levels[len(levels)-1]+pad
		}
	}
	p.Y.Min = 0
	legend := newLegend()
	for i, s := range series {
		if len(s.points) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(s.points)
		if err != nil {
			return fmt.Errorf("chart %s: %w", name, err)
		}
		styleLine(&l.LineStyle, i)
		pts.Shape = draw.CircleGlyph{}
		pts.Color = palette(i)
		pts.Radius = vg.Points(2.5)
		p.Add(l, pts)
		legend.Add(chartText(s.name, 40), l, pts)
	}
	p.Y.Max = math.Max(p.Y.Max*1.05, 1)
	return b.addFigure(name, title, chartWidth, chartHeight, []*plot.Plot{p}, &legend)
}

// distributions draws the classic HdrHistogram percentile plot of the report's metric.
func (b *builder) distributions() error {
	if b.charts == nil {
		return nil
	}
	metrics := []string{results.MetricE2E, results.MetricTTFT}
	if b.metric != "" {
		metrics = []string{b.metric}
	}
	first := true
	for _, m := range metrics {
		type line struct {
			name, stage string
			xy          plotter.XYs
			run         int
		}
		var lines []line
		for ri, r := range b.a.Runs {
			for _, st := range r.Stages {
				enc, ok := st.Data.Histograms[m]
				if !ok {
					continue
				}
				h, err := results.DecodeHistogram(enc)
				if err != nil {
					return badInput(fmt.Errorf("%s: stage %s: histogram %s: %w", r.Name, st.Name, m, err))
				}
				if h.TotalCount() == 0 {
					continue
				}
				var xy plotter.XYs
				for _, br := range h.CumulativeDistributionWithTicks(5) {
					xy = append(xy, plotter.XY{X: percentileX(br.Quantile), Y: float64(br.ValueAt) / 1000})
				}
				name := st.Name
				if len(b.a.Runs) > 1 {
					name = r.Name + " " + st.Name
				}
				lines = append(lines, line{name, st.Name, xy, ri})
			}
		}
		if len(lines) == 0 {
			continue
		}
		if first {
			b.doc.h(2, "Latency distribution")
			b.doc.p(plain("Percentile plots drawn from the HDR histograms in the results files (as HdrHistogram's plotter draws them): the x axis stretches the tail, so 99 % and 99.9 % get as much room as the median."))
			first = false
		}
		label := metricLabel(m)
		// One chart while the lines stay tellable apart; one per run beyond that.
		groups := [][]line{lines}
		if len(lines) > 8 && len(b.a.Runs) > 1 {
			groups = nil
			for ri := range b.a.Runs {
				var g []line
				for _, l := range lines {
					if l.run == ri {
						g = append(g, l)
					}
				}
				if len(g) > 0 {
					groups = append(groups, g)
				}
			}
		}
		for gi, g := range groups {
			title := label + " latency by percentile"
			name := "latency-" + m + ".svg"
			if len(groups) > 1 {
				title += " — " + b.a.Runs[g[0].run].Name
				name = fmt.Sprintf("latency-%s-%d.svg", m, gi+1)
			}
			p := newPlot(title, "percentile", label+" (ms)")
			p.X.Scale = plot.LogScale{}
			p.X.Min, p.X.Max = 1, 1e4
			p.X.Tick.Marker = percentileTicks()
			p.Y.Min = 0
			legend := newLegend()
			for i, l := range g {
				ln, err := plotter.NewLine(l.xy)
				if err != nil {
					return fmt.Errorf("chart %s: %w", name, err)
				}
				styleLine(&ln.LineStyle, i)
				p.Add(ln)
				name := l.name
				if len(groups) > 1 {
					name = l.stage // the title names the run
				}
				legend.Add(chartText(name, 40), ln)
			}
			p.Y.Max *= 1.08
			if err := b.addFigure(name, title, chartWidth, chartHeight, []*plot.Plot{p}, &legend); err != nil {
				return err
			}
		}
	}
	return nil
}

// percentileX maps a percentile to the plot's x: 1/(1 − p), clamped at 99.99 %.
func percentileX(q float64) float64 {
	if q >= 99.99 {
		return 1e4
	}
	return 1 / (1 - q/100)
}

func percentileTicks() plot.ConstantTicks {
	var ts plot.ConstantTicks
	for _, t := range []struct {
		x     float64
		label string
	}{{1, "0%"}, {2, "50%"}, {10, "90%"}, {100, "99%"}, {1000, "99.9%"}, {10000, "99.99%"}} {
		ts = append(ts, plot.Tick{Value: t.x, Label: t.label})
	}
	for _, m := range []float64{1, 10, 100, 1000} {
		for k := 2.0; k < 10; k++ {
			if m*k != 2 {
				ts = append(ts, plot.Tick{Value: m * k})
			}
		}
	}
	return ts
}

func metricLabel(m string) string {
	for _, r := range latencyRows() {
		if r.key == m {
			return r.label
		}
	}
	if m == results.MetricResidual {
		return "residual"
	}
	return m
}

// decompositionChart stacks the parts of the mean E2E per run × stage.
func (b *builder) decompositionChart(rows []splitRow) error {
	if b.charts == nil {
		return nil
	}
	parts := []struct {
		name string
		get  func(*analysis.TimeSplit) float64
	}{
		{"load", func(s *analysis.TimeSplit) float64 { return s.Load }},
		{"queue wait", func(s *analysis.TimeSplit) float64 { return s.QueueWait }},
		{"prefill", func(s *analysis.TimeSplit) float64 { return s.Prefill }},
		{"decode", func(s *analysis.TimeSplit) float64 { return s.Decode }},
		{"fixed overhead", func(s *analysis.TimeSplit) float64 { return s.Overhead }},
		{"client", func(s *analysis.TimeSplit) float64 { return s.Client }},
	}
	p := newPlot("Where the mean E2E went", "mean time per request (ms)", "")
	// Horizontal bars list from the top: the first row at the top, as in the table.
	names := make([]string, len(rows))
	for i, r := range rows {
		n := r.stage
		if len(b.a.Runs) > 1 {
			n = r.run + " " + r.stage
		}
		names[len(rows)-1-i] = chartText(n, 40)
	}
	p.NominalY(names...)
	legend := newLegend()
	var below *plotter.BarChart
	barWidth := vg.Points(14)
	maxTotal := 0.0
	for _, r := range rows {
		d := r.split
		maxTotal = math.Max(maxTotal, d.Load+d.QueueWait+d.Prefill+d.Decode+d.Overhead+d.Client)
	}
	for i, part := range parts {
		vals := make(plotter.Values, len(rows))
		any := false
		for j, r := range rows {
			vals[len(rows)-1-j] = math.Max(0, part.get(r.split))
			any = any || vals[len(rows)-1-j] > 0
		}
		if !any {
			continue
		}
		bc, err := plotter.NewBarChart(vals, barWidth)
		if err != nil {
			return fmt.Errorf("chart decomposition: %w", err)
		}
		bc.Horizontal = true
		bc.Color = palette(i)
		bc.LineStyle.Width = 0
		if below != nil {
			bc.StackOn(below)
		}
		below = bc
		p.Add(bc)
		legend.Add(part.name, bc)
	}
	if below == nil {
		return nil
	}
	p.X.Min = 0
	p.X.Max = maxTotal * 1.05
	height := vg.Inch + vg.Length(len(rows))*vg.Points(22)
	return b.addFigure("decomposition.svg", "Where the mean E2E went", chartWidth, height, []*plot.Plot{p}, &legend)
}

// timelines draws, per run, requests in flight and output tokens per second over the run,
// and GPU memory and utilization on the same time axis when they were sampled.
func (b *builder) timelines() error {
	if b.charts == nil {
		return nil
	}
	first := true
	for i, r := range b.a.Runs {
		inflight, tokens, end := runTimeline(r.Data)
		if len(inflight) == 0 {
			continue
		}
		if first {
			b.doc.h(2, "Load over time")
			text := "Requests in flight (mean over each second) and output tokens per second across the run, stage by stage"
			if b.anyGPUSeries() {
				text += ", with GPU memory and utilization on the same time axis"
			}
			b.doc.p(plain(text + "."))
			first = false
		}
		var plots []*plot.Plot
		pin := newPlot("Load over time — "+r.Name, "", "in flight")
		if err := addSeries(pin, inflight, 0); err != nil {
			return err
		}
		plots = append(plots, pin)
		ptok := newPlot("", "", "output tok/s (at completion)")
		if err := addSeries(ptok, tokens, 1); err != nil {
			return err
		}
		plots = append(plots, ptok)
		if s := r.Data.GPUSeries; s != nil && len(s.Samples) > 0 {
			mem, util := gpuLines(s)
			if len(mem) > 0 {
				pm := newPlot("", "", "GPU memory (MiB)")
				for d, xy := range mem {
					if err := addSeries(pm, xy, 2+d); err != nil {
						return err
					}
				}
				plots = append(plots, pm)
			}
			if len(util) > 0 {
				pu := newPlot("", "", "GPU util (%)")
				for d, xy := range util {
					if err := addSeries(pu, xy, 4+d); err != nil {
						return err
					}
				}
				pu.Y.Max = 100
				plots = append(plots, pu)
			}
		}
		for _, p := range plots {
			p.X.Min, p.X.Max = 0, end
			if p.Y.Min > 0 {
				p.Y.Min = 0
			}
			p.Y.Max = math.Max(p.Y.Max*1.08, 1)
			stageMarks(p, r.Data.Stages)
		}
		last := plots[len(plots)-1]
		last.X.Label.Text = "seconds since the run started"
		for _, p := range plots[:len(plots)-1] {
			p.X.Tick.Marker = unlabelled{niceTicks{}}
		}
		if err := stageLabels(plots[0], r.Data.Stages); err != nil {
			return err
		}
		name := fmt.Sprintf("timeline-%d.svg", i+1)
		if err := b.addFigure(name, "Load over time — "+r.Name, chartWidth, vg.Length(len(plots))*panelHeight+vg.Points(30), plots, nil); err != nil {
			return err
		}
	}
	return nil
}

// runTimeline adds up the stages' per-second buckets into the run's: the second in which
// one stage ends and the next starts holds requests of both. Both series are steps, one
// value per second.
func runTimeline(r *results.Run) (inflight, tokens plotter.XYs, end float64) {
	type bucket struct{ inflight, tokens float64 }
	buckets := map[float64]*bucket{}
	for _, st := range r.Stages {
		for _, pt := range st.Timeline {
			bk := buckets[pt.T]
			if bk == nil {
				bk = &bucket{}
				buckets[pt.T] = bk
			}
			bk.inflight += pt.InFlight
			bk.tokens += float64(pt.OutputTokens)
		}
		end = math.Max(end, st.StartS+st.WallS)
	}
	ts := make([]float64, 0, len(buckets))
	for t := range buckets {
		ts = append(ts, t)
	}
	sort.Float64s(ts)
	for _, t := range ts {
		bk := buckets[t]
		// The run's last second is cut short by its end: average over what it covers.
		to := t + 1
		if end > t && end < to {
			to = end
		}
		w := to - t
		inflight = append(inflight, plotter.XY{X: t, Y: bk.inflight / w}, plotter.XY{X: to, Y: bk.inflight / w})
		tokens = append(tokens, plotter.XY{X: t, Y: bk.tokens / w}, plotter.XY{X: to, Y: bk.tokens / w})
	}
	if len(ts) > 0 && end <= ts[len(ts)-1] {
		end = ts[len(ts)-1] + 1
	}
	return inflight, tokens, end
}

// niceTicks marks a linear axis at 1, 2 or 5 times a power of ten, four to eight labels,
// printed without trailing zeros ("2.5", not "2.50"), with an unlabelled tick between.
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return []plot.Tick{{Value: lo, Label: results.TrimFloat(lo, -1)}}
	}
	raw := (hi - lo) / 7
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	half := step / 2
	var ts []plot.Tick
	for k := math.Ceil(lo/half - 1e-9); k <= math.Floor(hi/half+1e-9); k++ {
		v := k * half
		if v == 0 {
			v = 0 // not -0
		}
		t := plot.Tick{Value: v}
		if math.Mod(k, 2) == 0 {
			t.Label = strconv.FormatFloat(math.Round(v/half)*half, 'f', -1, 64)
		}
		ts = append(ts, t)
	}
	return ts
}

// unlabelled keeps a ticker's marks and drops their labels: stacked panels share the time
// axis, and only the bottom one prints it.
type unlabelled struct{ plot.Ticker }

func (u unlabelled) Ticks(lo, hi float64) []plot.Tick {
	ts := u.Ticker.Ticks(lo, hi)
	for i := range ts {
		ts[i].Label = ""
	}
	return ts
}

func (b *builder) anyGPUSeries() bool {
	for _, r := range b.a.Runs {
		if s := r.Data.GPUSeries; s != nil && len(s.Samples) > 0 {
			return true
		}
	}
	return false
}

func addSeries(p *plot.Plot, xy plotter.XYs, i int) error {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	styleLine(&l.LineStyle, i)
	p.Add(l)
	return nil
}

// gpuLines splits a GPU series into per-device memory and utilization lines.
func gpuLines(s *results.GPUSeries) (mem, util []plotter.XYs) {
	idx := map[int]int{}
	for _, smp := range s.Samples {
		d, ok := idx[smp.Device]
		if !ok {
			d = len(idx)
			idx[smp.Device] = d
			mem = append(mem, nil)
			util = append(util, nil)
		}
		t := smp.At.Seconds()
		if v, ok := smp.Get(results.GPUMemoryUsed); ok {
			mem[d] = append(mem[d], plotter.XY{X: t, Y: v})
		}
		if v, ok := smp.Get(results.GPUUtilization); ok {
			util[d] = append(util[d], plotter.XY{X: t, Y: v})
		}
	}
	return trimEmpty(mem), trimEmpty(util)
}

func trimEmpty(lines []plotter.XYs) []plotter.XYs {
	var out []plotter.XYs
	for _, l := range lines {
		if len(l) > 0 {
			out = append(out, l)
		}
	}
	return out
}

// stageMarks draws a dashed vertical line where each stage after the first starts.
func stageMarks(p *plot.Plot, stages []*results.StageResult) {
	for i, st := range stages {
		if i == 0 {
			continue
		}
		x := st.StartS
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: p.Y.Max}})
		if err != nil {
			continue
		}
		l.LineStyle.Color = color.Gray{Y: 150}
		l.LineStyle.Width = vg.Points(0.8)
		l.LineStyle.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
		p.Add(l)
	}
}

// stageLabels names the stages along the top of the first panel; a name that would collide
// with the previous one is left out (the tables name every stage).
func stageLabels(p *plot.Plot, stages []*results.StageResult) error {
	var xys plotter.XYs
	var names []string
	span := p.X.Max - p.X.Min
	lastX := math.Inf(-1)
	for _, st := range stages {
		x := st.StartS + 0.01*span
		if x-lastX < 0.06*span {
			continue
		}
		xys = append(xys, plotter.XY{X: x, Y: p.Y.Max * 0.97})
		names = append(names, chartText(st.Name, 16))
		lastX = x
	}
	if len(xys) == 0 {
		return nil
	}
	labels, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: names})
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	for i := range labels.TextStyle {
		sans(&labels.TextStyle[i].Font, 8)
		labels.TextStyle[i].YAlign = draw.YTop
		labels.TextStyle[i].Color = color.Gray{Y: 90}
	}
	p.Add(labels)
	return nil
}

// chartText makes text from a results file fit for a chart: no control characters (they
// are not even legal XML) and at most n characters, so a long name cannot crowd the plot.
func chartText(s string, n int) string {
	s = clean(s)
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n-1]) + "…"
	}
	return s
}

// comparisonMermaid is the headline as a Mermaid bar chart (GitHub draws it inline, so a
// CI step summary shows a picture without the SVG files): output tok/s per setting at the
// judged level.
func comparisonMermaid(c *analysis.Comparison) string {
	var xs []string
	var ys []string
	top := 0.0
	at := map[string]bool{}
	for _, s := range c.Settings {
		if s.Judged == nil {
			continue
		}
		xs = append(xs, `"`+mermaidText(s.Value)+`"`)
		ys = append(ys, fmt.Sprintf("%.1f", s.Judged.OutputTokensPerS))
		top = math.Max(top, s.Judged.OutputTokensPerS)
		at[s.Judged.Load().String()] = true
	}
	if len(xs) < 2 {
		return ""
	}
	title := "Output tok/s by " + c.By
	if len(at) == 1 {
		title += " at " + slices.Sorted(maps.Keys(at))[0]
	}
	var sb strings.Builder
	sb.WriteString("xychart-beta\n")
	fmt.Fprintf(&sb, "    title \"%s\"\n", mermaidText(title))
	fmt.Fprintf(&sb, "    x-axis \"%s\" [%s]\n", mermaidText(c.By), strings.Join(xs, ", "))
	fmt.Fprintf(&sb, "    y-axis \"output tok/s\" 0 --> %s\n", niceCeil(top*1.1))
	fmt.Fprintf(&sb, "    bar [%s]\n", strings.Join(ys, ", "))
	return sb.String()
}

// stagesMermaid is the headline of a single run: output tok/s per stage.
func stagesMermaid(r *analysis.Run) string {
	if len(r.Stages) < 2 {
		return ""
	}
	var xs, ys []string
	top := 0.0
	for _, st := range r.Stages {
		xs = append(xs, `"`+mermaidText(st.Name)+`"`)
		ys = append(ys, fmt.Sprintf("%.1f", st.Throughput.OutputTokensPerS))
		top = math.Max(top, st.Throughput.OutputTokensPerS)
	}
	var sb strings.Builder
	sb.WriteString("xychart-beta\n")
	sb.WriteString("    title \"Output tok/s by stage\"\n")
	fmt.Fprintf(&sb, "    x-axis \"stage\" [%s]\n", strings.Join(xs, ", "))
	fmt.Fprintf(&sb, "    y-axis \"output tok/s\" 0 --> %s\n", niceCeil(top*1.1))
	fmt.Fprintf(&sb, "    bar [%s]\n", strings.Join(ys, ", "))
	return sb.String()
}

// mermaidText keeps only characters that cannot end a Mermaid string or statement.
func mermaidText(s string) string {
	var b strings.Builder
	for _, r := range clean(s) {
		switch {
		case r == '"' || r == '\\' || r == '`' || r == '[' || r == ']' || r == ';' || r == '#' || r == '<' || r == '>' || r == '&' || r == '%':
			b.WriteRune(' ')
		default:
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten, for an axis end.
func niceCeil(v float64) string {
	if v <= 0 {
		return "1"
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return results.TrimFloat(m*p, -1)
		}
	}
	return results.TrimFloat(10*p, -1)
}

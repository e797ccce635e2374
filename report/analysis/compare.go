package analysis

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/internal/prose"
)

// DefaultBy is the label runs are compared by when none is named: the server's number of
// parallel slots (OLLAMA_NUM_PARALLEL, llama-server's -np).
const DefaultBy = "num_parallel"

// DefaultKneeGain is the throughput gain below which one more step of the setting is not
// worth it: past the knee, more slots cost GPU memory and batch-sharing latency for less
// than 10 % more tokens.
const DefaultKneeGain = 0.10

// CompareOptions tune Compare.
type CompareOptions struct {
	// By is the label whose values are the settings compared; "" means DefaultBy.
	By  string
	SLO SLO
	// Concurrency is the closed-loop level to judge every setting at; 0 judges each setting
	// at the highest level it was measured at (the last closed-loop level, or the highest
	// open-loop rate when it has no closed loop). The highest level is the default because
	// a setting is chosen for the load it must carry: at light load every setting looks alike.
	Concurrency int
	// KneeGain is the relative throughput gain that makes a bigger setting worth it; 0 means
	// DefaultKneeGain.
	KneeGain float64
}

// Comparison sets runs that differ in one label side by side, per load level, and
// recommends a setting. Figures of a setting measured in several runs (repeats, or several
// files) are medians over the runs; Runs says how many.
type Comparison struct {
	By string `json:"by"`
	// SLO is the objective as ParseSLO reads it; SLOBounds spell out its bounds.
	SLO         string     `json:"slo,omitempty"`
	SLOBounds   []Bound    `json:"slo_bounds,omitempty"`
	KneeGain    float64    `json:"knee_gain"`
	Concurrency int        `json:"judged_at_concurrency,omitempty"`
	Settings    []*Setting `json:"settings"`
	// MiBPerSlot is the least-squares slope of peak GPU memory against num_parallel: what one
	// more slot costs. Nil unless at least two settings have GPU memory.
	MiBPerSlot *Fit `json:"mib_per_slot,omitempty"`
	// MiBPerUnit is the same slope against another numeric setting (context_length …): what
	// one more unit of it costs.
	MiBPerUnit     *Fit           `json:"mib_per_unit,omitempty"`
	Recommendation Recommendation `json:"recommendation"`
	// Notes are caveats about the comparison itself (runs left out, mixed servers …); an
	// Analysis holds them among its own notes.
	Notes []Note `json:"-"`

	slo    SLO
	labels []string // By's labels: one, or several for a sweep of several settings
}

// Name is a setting as a sentence names it: "num_parallel=4", or for several settings their
// value as it stands, "max_loaded_models=1 num_parallel=2".
func (c *Comparison) Name(value string) string {
	if len(c.labels) > 1 {
		return value
	}
	return c.By + "=" + value
}

// PerSlot says whether the setting compared is the parallel slots, the one setting whose
// effective parallelism per unit and memory per unit are "per slot".
func (c *Comparison) PerSlot() bool { return c.By == DefaultBy }

// Setting is one value of the compared label.
type Setting struct {
	Value string `json:"value"`
	// Number is Value read as a number; Numeric says whether it is one.
	Number  float64 `json:"number,omitempty"`
	Numeric bool    `json:"numeric"`
	Runs    int     `json:"runs"`
	// Rounds counts the sweep rounds the setting ran in (its runs' round labels).
	Rounds int      `json:"rounds,omitempty"`
	Levels []*Level `json:"levels"`
	// Judged is the level the recommendation looks at (see CompareOptions.Concurrency);
	// nil when the setting was not measured there.
	Judged *Level `json:"judged,omitempty"`
	// MeetsUpTo is the highest level that meets the SLO, nil when none does.
	MeetsUpTo *Level `json:"-"`
	// GainOverPrevious is the judged throughput over the previous setting's, minus one.
	GainOverPrevious *float64 `json:"gain_over_previous,omitempty"`
	// GainTest says whether that gain stands out of the runs' spread (Mann-Whitney, the gate's
	// test), with the rounds this setting won.
	GainTest *GainTest `json:"gain_test,omitempty"`
	// GPUMemoryPeakMiB is the highest GPU memory seen in any of its stages.
	GPUMemoryPeakMiB *float64 `json:"gpu_memory_peak_mib,omitempty"`
}

// Level is one setting at one load level (a stage's concurrency or rate). Its figures are
// medians over the setting's runs; their JSON names are the catalogue's CSV columns, which
// --slo and the gate take (output_tokens_per_s is output_tps, ttft_p95_ms is ttft.p95).
type Level struct {
	Stage       string  `json:"stage"`
	Concurrency int     `json:"concurrency,omitempty"`
	Rate        float64 `json:"rate,omitempty"`
	Runs        int     `json:"runs"`
	Requests    int     `json:"requests"`
	OK          int     `json:"ok"`
	// ErrorRate is failed / requests pooled over the runs; an SLO on errors.rate judges, as
	// the gate does, the median over the runs.
	ErrorRate float64 `json:"error_rate"`

	OutputTokensPerS float64 `json:"output_tokens_per_s"`
	// OutputTokensPerSInterval bounds that median over the runs (rounds), distribution-free;
	// nil with one run.
	OutputTokensPerSInterval *Interval `json:"output_tokens_per_s_interval,omitempty"`
	RequestsPerS             float64   `json:"requests_per_s"`
	DecodeTokensPerS         float64   `json:"decode_tokens_per_s,omitempty"`
	// Latencies in milliseconds; Has* say whether they were measured.
	TTFTP50 float64 `json:"ttft_p50_ms,omitempty"`
	TTFTP95 float64 `json:"ttft_p95_ms,omitempty"`
	HasTTFT bool    `json:"-"`
	E2EP50  float64 `json:"e2e_p50_ms"`
	E2EP95  float64 `json:"e2e_p95_ms"`
	// QueueWaitMean is the decomposition's mean residual minus the calibrated overhead (slot
	// wait, plus batch sharing above NUM_PARALLEL=1; the CSV's decomp_queue_wait_ms, which
	// differs from queue_wait.mean by the histogram's rounding), QueueShare its share of the
	// mean E2E.
	QueueWaitMean        float64 `json:"queue_wait_mean_ms,omitempty"`
	QueueShare           float64 `json:"queue_share,omitempty"`
	HasQueue             bool    `json:"-"`
	EffectiveParallelism float64 `json:"effective_parallelism"`
	// ParallelismPerSlot is EffectiveParallelism over the setting; above 1, requests queue.
	ParallelismPerSlot *float64 `json:"parallelism_per_slot,omitempty"`

	GPUMemoryPeakMiB   *float64 `json:"gpu_memory_peak_mib,omitempty"`
	GPUUtilizationMean *float64 `json:"gpu_utilization_mean_pct,omitempty"`

	Meets  bool   `json:"meets_slo"`
	Misses []Miss `json:"misses,omitempty"`

	samples []levelSample
}

// levelSample is one stage of one run that contributes to a level.
type levelSample struct {
	st       *results.StageResult
	round    string // the run's round label, "" when none
	queueOK  bool   // the run had a calibrated baseline
	gpuStage *results.GPUStageSummary
}

// Fit is a least-squares line y = Intercept + Slope·x.
type Fit struct {
	Slope     float64 `json:"slope"`
	Intercept float64 `json:"intercept"`
	R2        float64 `json:"r2"`
	Points    int     `json:"points"`
}

// Recommendation is the verdict of a comparison.
type Recommendation struct {
	// Setting is the recommended value; "" when no setting meets the SLO.
	Setting string `json:"setting,omitempty"`
	// Best is the setting with the highest throughput that meets the SLO. Recommended is
	// the smallest setting within KneeGain of it: more slots that buy less than that cost
	// memory and per-request speed for nothing.
	Best string `json:"best,omitempty"`
	// Knee is the setting after which the next one adds less than KneeGain throughput;
	// "" when throughput still grows at the largest setting (or settings are not numbers).
	Knee string `json:"knee,omitempty"`
	// Closest is, when no setting meets the SLO, the one that misses it by the least;
	// Misses say by how much.
	Closest string `json:"closest,omitempty"`
	Misses  []Miss `json:"misses,omitempty"`
	// Fallback, when no setting meets the SLO at the judged level, is the setting and lower
	// level with the most throughput that does.
	FallbackSetting string `json:"fallback_setting,omitempty"`
	FallbackLevel   string `json:"fallback_level,omitempty"`
	// Summary is one sentence for a terminal or a verdict paragraph; Reasons back it up.
	Summary string `json:"summary"`
	// Sureness says how sure the recommendation is: the recommended setting's gain over its
	// neighbour across the runs and its p-value, that the two are not distinguishable on this
	// machine, or that the runs are too few to tell. Test is that comparison.
	Sureness string    `json:"sureness,omitempty"`
	Test     *GainTest `json:"test,omitempty"`
	// Indistinguishable are settings the runs cannot tell apart (tested, not significant).
	Indistinguishable []string `json:"indistinguishable,omitempty"`
	// Noisy says the runs compared are noisy: the notes that say why come first.
	Noisy   bool     `json:"noisy,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
}

// Compare compares runs by the label by (DefaultBy when "") against an SLO, judging each
// setting at the highest load level it was measured at. See CompareWith.
func Compare(runs []*results.Run, by string, slo SLO) *Comparison {
	return CompareWith(runs, CompareOptions{By: by, SLO: slo})
}

// CompareWith compares runs by a label. Runs without the label are left out (with a note).
// It is a pure function of its arguments.
func CompareWith(runs []*results.Run, opts CompareOptions) *Comparison {
	es := make([]*entry, 0, len(runs))
	for _, r := range runs {
		if r != nil {
			es = append(es, &entry{run: r, source: fmt.Sprintf("run %d", len(es)+1), gpu: gpuOf(r)})
		}
	}
	nameEntries(es) // by their labels, as notes name them
	return compareEntries(es, opts)
}

func compareEntries(es []*entry, opts CompareOptions) *Comparison {
	if opts.By == "" {
		opts.By = defaultBy(es)
	}
	if opts.KneeGain <= 0 {
		opts.KneeGain = DefaultKneeGain
	}
	c := &Comparison{By: opts.By, SLO: opts.SLO.String(), SLOBounds: opts.SLO.Bounds, KneeGain: opts.KneeGain, Concurrency: opts.Concurrency, slo: opts.SLO,
		labels: strings.Split(opts.By, ",")}

	byValue := map[string][]*entry{}
	var values []string
	missing := 0
	var unlabelled []string
	for _, e := range es {
		v, ok := c.value(e.run)
		if !ok {
			missing++
			if e.name != "" {
				unlabelled = append(unlabelled, e.name)
			}
			continue
		}
		// A server that ran another number of slots than its label says (Ollama forces 1
		// for some model families) measured something else: reported, not compared.
		if srv := e.run.Server; slices.Contains(c.labels, DefaultBy) && srv != nil && srv.NumParallelObserved > 0 && srv.NumParallelObserved != srv.NumParallel {
			c.Notes = append(c.Notes, Note{Kind: KindLeftOut, Severity: SeverityWarning, Settings: []string{v},
				Text: fmt.Sprintf("%s=%s left out: the server's runner started with %d parallel slot%s, not %d (%s).", opts.By, v, srv.NumParallelObserved, prose.Plural(srv.NumParallelObserved), srv.NumParallel, srv.Note)})
			continue
		}
		if _, seen := byValue[v]; !seen {
			values = append(values, v)
		}
		byValue[v] = append(byValue[v], e)
	}
	if missing > 0 {
		c.Notes = append(c.Notes, Note{Kind: KindLeftOut, Severity: SeverityInfo, Runs: unlabelled,
			Text: fmt.Sprintf("%d run%s without a %s label left out of the comparison.", missing, prose.Plural(missing), opts.By)})
	}
	if len(c.labels) > 1 {
		tupleOrder(values)
	} else {
		settingOrder(values)
	}
	if len(values) == 0 {
		c.Recommendation.Summary = fmt.Sprintf("No run has a %s label: nothing to compare.", opts.By)
		return c
	}
	for _, v := range values {
		s := buildSetting(v, byValue[v], opts)
		if len(c.labels) > 1 {
			s.Number, s.Numeric = 0, false
		}
		c.Settings = append(c.Settings, s)
	}
	var compared []*entry
	for _, v := range values {
		compared = append(compared, byValue[v]...)
	}
	c.Notes = append(noiseNotes(compared), c.Notes...)
	c.noteMixedServers(es, opts.By)
	c.noteJudgedLevels()
	c.fitMemory()
	c.gains()
	c.recommend()
	return c
}

func buildSetting(value string, es []*entry, opts CompareOptions) *Setting {
	s := &Setting{Value: value, Runs: len(es)}
	if f, err := strconv.ParseFloat(value, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		s.Number, s.Numeric = f, true
	}
	levels := map[Load]*Level{}
	rounds := map[string]bool{}
	for _, e := range es {
		if r := runRound(e.run); r != "" {
			rounds[r] = true
		}
		for i, st := range e.run.Stages {
			if st == nil {
				continue
			}
			k := keyOf(st)
			l := levels[k]
			if l == nil {
				l = &Level{Stage: st.Name, Concurrency: st.Concurrency, Rate: st.Rate}
				levels[k] = l
				s.Levels = append(s.Levels, l)
			}
			l.samples = append(l.samples, levelSample{st: st, round: runRound(e.run), queueOK: e.run.Baseline != nil, gpuStage: e.gpu.stage(i)})
		}
	}
	s.Rounds = len(rounds)
	sort.Slice(s.Levels, func(i, j int) bool { return s.Levels[i].Load().Before(s.Levels[j].Load()) })
	perSlot := opts.By == DefaultBy
	for _, l := range s.Levels {
		l.fill(s, opts.SLO, perSlot)
		if l.GPUMemoryPeakMiB != nil && (s.GPUMemoryPeakMiB == nil || *l.GPUMemoryPeakMiB > *s.GPUMemoryPeakMiB) {
			v := *l.GPUMemoryPeakMiB
			s.GPUMemoryPeakMiB = &v
		}
		if l.Meets {
			s.MeetsUpTo = l
		}
	}
	if s.GPUMemoryPeakMiB == nil {
		// No stage sampled the GPU, but llmload read it right after loading the model: the
		// KV cache of every slot is allocated then (on a real Ollama the peak during bursts
		// stayed within a few MiB of the post-load figure), so it is the same figure.
		for _, e := range es {
			if e.run.Server != nil && e.run.Server.MemoryAfterLoadMiB != nil {
				v := *e.run.Server.MemoryAfterLoadMiB
				if s.GPUMemoryPeakMiB == nil || v > *s.GPUMemoryPeakMiB {
					s.GPUMemoryPeakMiB = &v
				}
			}
		}
	}
	s.Judged = judgedLevel(s.Levels, opts.Concurrency)
	return s
}

// judgedLevel picks the level at the asked concurrency, or the highest closed-loop level,
// or the highest rate when there is no closed loop.
func judgedLevel(levels []*Level, concurrency int) *Level {
	if concurrency > 0 {
		for _, l := range levels {
			if l.Load() == (Load{Concurrency: concurrency}) {
				return l
			}
		}
		return nil
	}
	var judged *Level
	for _, l := range levels {
		if l.Load().Rate == 0 || judged == nil || judged.Load().Rate > 0 {
			judged = l
		}
	}
	return judged
}

// fill computes a level's figures as medians over its samples.
// Load is the level's load: its concurrency or rate.
func (l *Level) Load() Load {
	if l.Rate > 0 {
		return Load{Rate: l.Rate}
	}
	return Load{Concurrency: l.Concurrency}
}

func (l *Level) fill(s *Setting, slo SLO, perSlot bool) {
	l.Runs = len(l.samples)
	var fails int
	for _, smp := range l.samples {
		l.Requests += smp.st.Requests.Total
		l.OK += smp.st.Requests.OK
		fails += smp.st.Requests.Failed()
	}
	if l.Requests > 0 {
		l.ErrorRate = float64(fails) / float64(l.Requests)
	}
	l.OutputTokensPerS = l.median(func(st *results.StageResult) (float64, bool) { return st.Throughput.OutputTokensPerS, true })
	l.OutputTokensPerSInterval = interval(l.throughputs())
	l.RequestsPerS = l.median(func(st *results.StageResult) (float64, bool) { return st.Throughput.RequestsPerS, true })
	l.DecodeTokensPerS = l.median(func(st *results.StageResult) (float64, bool) {
		return st.Throughput.DecodeTokensPerS, st.Throughput.DecodeTokensPerS > 0
	})
	l.EffectiveParallelism = l.median(func(st *results.StageResult) (float64, bool) { return st.EffectiveParallelism, true })
	if v, ok := l.latency(results.MetricTTFT, "p50"); ok {
		l.TTFTP50, l.HasTTFT = v, true
		l.TTFTP95, _ = l.latency(results.MetricTTFT, "p95")
	}
	l.E2EP50, _ = l.latency(results.MetricE2E, "p50")
	l.E2EP95, _ = l.latency(results.MetricE2E, "p95")

	var qw, qs []float64
	var mem, util []float64
	for _, smp := range l.samples {
		if d := smp.st.Decomposition; d != nil && smp.queueOK {
			qw = append(qw, d.QueueWait)
			qs = append(qs, d.QueueShare)
		}
		if g := smp.gpuStage; g != nil {
			if g.MemoryUsedPeakMiB != nil {
				mem = append(mem, *g.MemoryUsedPeakMiB)
			}
			if g.UtilizationMeanPct != nil {
				util = append(util, *g.UtilizationMeanPct)
			}
		}
	}
	if len(qw) > 0 {
		l.QueueWaitMean, l.QueueShare, l.HasQueue = results.Median(qw), results.Median(qs), true
	}
	if len(mem) > 0 {
		v := results.Median(mem)
		l.GPUMemoryPeakMiB = &v
	}
	if len(util) > 0 {
		v := results.Median(util)
		l.GPUUtilizationMean = &v
	}
	if perSlot && s.Numeric && s.Number > 0 {
		v := l.EffectiveParallelism / s.Number
		l.ParallelismPerSlot = &v
	}
	l.Misses = slo.check(l.value)
	l.Meets = len(l.Misses) == 0 && l.OK > 0
}

// value is the median over the level's runs of a catalogue metric, as the gate reads a
// metric over repeated runs.
func (l *Level) value(m results.Metric, class string) (float64, bool) {
	var vals []float64
	for _, smp := range l.samples {
		if v, ok := classValue(m, smp.st, class); ok {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return 0, false
	}
	return results.Median(vals), true
}

// latency is the median over samples of one statistic of one latency metric.
func (l *Level) latency(metric, statName string) (float64, bool) {
	var vals []float64
	for _, smp := range l.samples {
		if s, ok := smp.st.LatencyMs[metric]; ok && s.N > 0 {
			vals = append(vals, s.Stat(statName))
		}
	}
	if len(vals) == 0 {
		return 0, false
	}
	return results.Median(vals), true
}

func (l *Level) median(f func(*results.StageResult) (float64, bool)) float64 {
	var vals []float64
	for _, smp := range l.samples {
		if v, ok := f(smp.st); ok {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return 0 // no sample has the figure (decode tok/s without streams): it reads 0
	}
	return results.Median(vals)
}

// Level returns the setting's level at a load, nil when not measured.
func (s *Setting) Level(k Load) *Level {
	for _, l := range s.Levels {
		if l.Load() == k {
			return l
		}
	}
	return nil
}

// fitMemory fits peak GPU memory against the numeric settings by least squares: per slot for
// num_parallel, per unit for another setting.
func (c *Comparison) fitMemory() {
	var xs, ys []float64
	for _, s := range c.Settings {
		if s.Numeric && s.GPUMemoryPeakMiB != nil {
			xs = append(xs, s.Number)
			ys = append(ys, *s.GPUMemoryPeakMiB)
		}
	}
	if c.PerSlot() {
		c.MiBPerSlot = leastSquares(xs, ys)
	} else {
		c.MiBPerUnit = leastSquares(xs, ys)
	}
}

// leastSquares fits y = a + b·x; nil when the xs do not spread.
func leastSquares(xs, ys []float64) *Fit {
	n := float64(len(xs))
	if len(xs) < 2 {
		return nil
	}
	var sx, sy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/n, sy/n
	var sxx, sxy, syy float64
	for i := range xs {
		dx, dy := xs[i]-mx, ys[i]-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	if sxx == 0 {
		return nil
	}
	f := &Fit{Slope: sxy / sxx, Points: len(xs)}
	f.Intercept = my - f.Slope*mx
	f.R2 = 1
	if syy > 0 {
		f.R2 = sxy * sxy / (sxx * syy)
	}
	return f
}

// gains fills each setting's judged throughput gain over the previous setting.
func (c *Comparison) gains() {
	for i := 1; i < len(c.Settings); i++ {
		prev, cur := c.Settings[i-1].Judged, c.Settings[i].Judged
		if prev == nil || cur == nil || prev.OutputTokensPerS <= 0 {
			continue
		}
		g := cur.OutputTokensPerS/prev.OutputTokensPerS - 1
		c.Settings[i].GainOverPrevious = &g
		if cur.Runs > 1 || prev.Runs > 1 {
			c.Settings[i].GainTest = testGain(c.Settings[i], c.Settings[i-1])
		}
	}
}

func (c *Comparison) noteMixedServers(es []*entry, by string) {
	versions, hosts := map[string]bool{}, map[string]bool{}
	for _, e := range es {
		if _, ok := e.run.Labels[by]; !ok {
			continue
		}
		versions[e.run.Target.ServerVersion] = true
		hosts[e.run.Host.Hostname] = true
	}
	if len(versions) > 1 {
		c.Notes = append(c.Notes, Note{Kind: KindMixedServers, Severity: SeverityCaution,
			Text: fmt.Sprintf("The runs measured different server versions (%s): engines report timings differently, so the settings are not compared like for like.", prose.JoinAnd(slices.Sorted(maps.Keys(versions))))})
	}
	if len(hosts) > 1 {
		c.Notes = append(c.Notes, Note{Kind: KindMixedHosts, Severity: SeverityInfo, Text: "The runs came from different client hosts."})
	}
}

func (c *Comparison) noteJudgedLevels() {
	levels := map[Load]bool{}
	var missing []string
	for _, s := range c.Settings {
		if s.Judged == nil {
			missing = append(missing, s.Value)
			continue
		}
		levels[s.Judged.Load()] = true
	}
	if len(missing) > 0 {
		c.Notes = append(c.Notes, Note{Kind: KindLeftOut, Severity: SeverityInfo, Settings: missing,
			Text: fmt.Sprintf("%s not measured at c=%d: left out of the recommendation.", c.names(missing), c.Concurrency)})
	}
	if len(levels) > 1 {
		c.Notes = append(c.Notes, Note{Kind: KindUnequalLoad, Severity: SeverityCaution,
			Text: "Settings were measured up to different load levels; each is judged at its highest, so their figures are not at equal load."})
	}
}

// recommend picks the setting: among those meeting the SLO at their judged level, the
// smallest whose throughput is within KneeGain of the best.
func (c *Comparison) recommend() {
	r := &c.Recommendation
	numeric := len(c.Settings) > 0
	for _, s := range c.Settings {
		numeric = numeric && s.Numeric
	}
	if numeric {
		r.Knee = c.knee()
	}
	var best *Setting
	for _, s := range c.Settings {
		if s.Judged != nil && s.Judged.Meets && (best == nil || s.Judged.OutputTokensPerS > best.Judged.OutputTokensPerS) {
			best = s
		}
	}
	if best == nil {
		c.recommendNone()
		return
	}
	r.Best = best.Value
	chosen := best
	if numeric {
		// The smallest setting that the best one does not beat by the knee's gain, as far as
		// the runs can tell: more slots that buy less, or a gain the rounds cannot tell from
		// the machine's own variation, cost memory and per-request speed for nothing sure.
		for _, s := range c.Settings {
			if s.Judged != nil && s.Judged.Meets && !c.better(best, s) {
				chosen = s
				break
			}
		}
	}
	r.Setting = chosen.Value
	l := chosen.Judged
	r.Summary = fmt.Sprintf("Recommended: %s — %s output tok/s at %s", c.Name(chosen.Value), prose.Rate(l.OutputTokensPerS), l.Load())
	if first := c.Settings[0]; first != chosen && first.Judged != nil && first.Judged.OutputTokensPerS > 0 {
		r.Summary += fmt.Sprintf(" (×%.2f over %s)", l.OutputTokensPerS/first.Judged.OutputTokensPerS, c.Name(first.Value))
	}
	if c.slo.IsZero() {
		r.Summary += "; no SLO given, so judged on throughput alone."
	} else {
		r.Summary += fmt.Sprintf(", within the SLO (%s).", c.SLOText())
	}
	if l.HasTTFT {
		r.Reasons = append(r.Reasons, fmt.Sprintf("At %s it answers with TTFT p95 %s and E2E p95 %s.", l.Load(), prose.Ms(l.TTFTP95), prose.Ms(l.E2EP95)))
	} else {
		r.Reasons = append(r.Reasons, fmt.Sprintf("At %s its E2E p95 is %s.", l.Load(), prose.Ms(l.E2EP95)))
	}
	r.Sureness, r.Test, r.Indistinguishable = c.sureness(chosen, best)
	r.Noisy = slices.ContainsFunc(c.Notes, func(n Note) bool { return n.Kind == KindNoisy })
	if chosen != best {
		gain := best.Judged.OutputTokensPerS/l.OutputTokensPerS - 1
		why := fmt.Sprintf("%s gives the most throughput, but only %s more (less than the %s that makes a step worth it)", c.Name(best.Value), prose.SignedPct(gain), prose.Pct(c.KneeGain))
		if gain >= c.KneeGain {
			why = fmt.Sprintf("%s gives the most throughput by the median, %s more, but the runs cannot tell that gain from this machine's variation", c.Name(best.Value), prose.SignedPct(gain))
		}
		if chosen.GPUMemoryPeakMiB != nil && best.GPUMemoryPeakMiB != nil {
			why += fmt.Sprintf(", for %s more GPU memory", prose.MiB(*best.GPUMemoryPeakMiB-*chosen.GPUMemoryPeakMiB))
		}
		r.Reasons = append(r.Reasons, why+".")
	}
	switch {
	case r.Knee != "":
		r.Reasons = append(r.Reasons, fmt.Sprintf("Throughput stops growing after %s: the next setting adds less than %s.", c.Name(r.Knee), prose.Pct(c.KneeGain)))
	case numeric && len(c.Settings) > 1:
		last := c.Settings[len(c.Settings)-1]
		r.Reasons = append(r.Reasons, fmt.Sprintf("Throughput still grows at %s, the largest setting measured: a larger one may do better.", c.Name(last.Value)))
	}
	var failing []string
	for _, s := range c.Settings {
		if s.Judged != nil && !s.Judged.Meets && !c.slo.IsZero() {
			failing = append(failing, s.Value)
		}
	}
	if len(failing) > 0 {
		verb := "miss"
		if len(failing) == 1 {
			verb = "misses"
		}
		r.Reasons = append(r.Reasons, fmt.Sprintf("%s %s the SLO at the judged level.", c.names(failing), verb))
	}
	if c.MiBPerSlot != nil {
		r.Reasons = append(r.Reasons, fmt.Sprintf("Each extra slot costs about %s of GPU memory (least-squares fit over %d settings).", prose.MiB(c.MiBPerSlot.Slope), c.MiBPerSlot.Points))
	}
	if c.MiBPerUnit != nil {
		r.Reasons = append(r.Reasons, fmt.Sprintf("GPU memory grows by about %s per unit of %s (least-squares fit over %d settings).", prose.MiB(c.MiBPerUnit.Slope), c.By, c.MiBPerUnit.Points))
	}
}

// knee is the first setting after which the next adds less than KneeGain at the judged
// level.
func (c *Comparison) knee() string {
	for i := 0; i+1 < len(c.Settings); i++ {
		a, b := c.Settings[i].Judged, c.Settings[i+1].Judged
		if a == nil || b == nil {
			continue
		}
		if b.OutputTokensPerS < a.OutputTokensPerS*(1+c.KneeGain) {
			return c.Settings[i].Value
		}
	}
	return ""
}

func (c *Comparison) recommendNone() {
	r := &c.Recommendation
	var closest *Setting
	worst := func(s *Setting) float64 {
		w := 0.0
		for _, m := range s.Judged.Misses {
			w = math.Max(w, m.Over)
		}
		return w
	}
	for _, s := range c.Settings {
		if s.Judged == nil || s.Judged.OK == 0 {
			continue
		}
		if closest == nil || worst(s) < worst(closest) ||
			(worst(s) == worst(closest) && s.Judged.OutputTokensPerS > closest.Judged.OutputTokensPerS) {
			closest = s
		}
	}
	if closest == nil {
		r.Summary = fmt.Sprintf("No recommendation: no %s setting completed a request at the judged level.", c.By)
		r.Noisy = slices.ContainsFunc(c.Notes, func(n Note) bool { return n.Kind == KindNoisy })
		return
	}
	r.Closest, r.Misses = closest.Value, closest.Judged.Misses
	var misses []string
	for _, m := range closest.Judged.Misses {
		misses = append(misses, m.String())
	}
	at := "at its highest load"
	if c.Concurrency > 0 {
		at = fmt.Sprintf("at c=%d", c.Concurrency)
	}
	r.Noisy = slices.ContainsFunc(c.Notes, func(n Note) bool { return n.Kind == KindNoisy })
	r.Summary = fmt.Sprintf("No %s setting meets the SLO (%s) %s; the closest, %s at %s, has %s.",
		c.By, c.SLOText(), at, c.Name(closest.Value), closest.Judged.Load(), prose.JoinAnd(misses))
	// The most throughput that does meet the SLO, at a lower level.
	var fb *Setting
	var fbl *Level
	for _, s := range c.Settings {
		for _, l := range s.Levels {
			if l.Meets && (fbl == nil || l.OutputTokensPerS > fbl.OutputTokensPerS) {
				fb, fbl = s, l
			}
		}
	}
	if fb != nil {
		r.FallbackSetting, r.FallbackLevel = fb.Value, fbl.Load().String()
		r.Reasons = append(r.Reasons, fmt.Sprintf("At lower load the SLO holds: %s at %s meets it with %s output tok/s.", c.Name(fb.Value), fbl.Load(), prose.Rate(fbl.OutputTokensPerS)))
	} else {
		r.Reasons = append(r.Reasons, "No setting meets it at any measured load: the SLO needs a faster server, a smaller model or shorter outputs.")
	}
}

// names is settings in a sentence: "num_parallel=1 and 2", or for several settings "a=1 b=2 and
// a=2 b=1".
func (c *Comparison) names(values []string) string {
	if len(c.labels) > 1 {
		return prose.JoinAnd(values)
	}
	return c.By + "=" + prose.JoinAnd(values)
}

// value is a run's setting: its By label's value, or for several labels each as "k=v", in
// By's order; false when the run lacks one.
func (c *Comparison) value(r *results.Run) (string, bool) {
	if len(c.labels) == 1 {
		v, ok := r.Labels[c.By]
		return v, ok
	}
	parts := make([]string, 0, len(c.labels))
	for _, k := range c.labels {
		v, ok := r.Labels[k]
		if !ok {
			return "", false
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " "), true
}

// SLOText is the SLO for a sentence: "ttft_p95 ≤ 2s and e2e_p95 ≤ 30s"; "" when none was given.
func (c *Comparison) SLOText() string {
	var parts []string
	for _, b := range c.slo.Bounds {
		parts = append(parts, b.String())
	}
	return prose.JoinAnd(parts)
}

// Levels are a run's load levels, each one of its stages (the median where two stages ran
// at the same level), as a comparison sees a setting measured by this run alone.
func (r *Run) Levels() []*Level {
	return buildSetting(r.Name, []*entry{{run: r.Data, name: r.Name, gpu: gpuOf(r.Data)}}, CompareOptions{}).Levels
}

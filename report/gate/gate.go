// Package gate judges results files for CI: thresholds on any stage metric, and changes
// against a baseline that fail only when significant (Mann-Whitney U) and beyond a tolerance.
package gate

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/internal/stats"
)

// DefaultAlpha is the significance level of baseline comparisons.
const DefaultAlpha = 0.05

// Options say what to check.
type Options struct {
	Assertions []Assertion
	// Tolerances are the baseline comparisons; nil with a baseline means DefaultTolerances.
	Tolerances []Tolerance
	// Alpha is the significance level, 0 < α < 1; 0 means DefaultAlpha. Medians' confidence
	// intervals are at level 1 − α.
	Alpha float64
	// Stages restricts checks without a stage of their own to these stages ("c=8").
	Stages []string
	// AllowOverloaded judges stages whose client self-check says the client was overloaded;
	// otherwise Evaluate returns an *OverloadedError.
	AllowOverloaded bool
	// AllowNoisy judges runs that say they are noisy (results.Run.Noise: a busy machine,
	// outliers where nothing queues); otherwise Evaluate returns a *NoisyError.
	AllowNoisy bool
}

// Input is one side: results files and the names they came from.
type Input struct {
	Files   []*results.File
	Sources []string
}

// Kind is what a check is.
type Kind string

const (
	KindAssertion Kind = "assertion"
	KindBaseline  Kind = "baseline"
)

// Verdict is a check's outcome.
type Verdict string

const (
	Pass Verdict = "pass"
	Fail Verdict = "fail"
	// Skip: nothing to judge (a metric neither side measured).
	Skip Verdict = "skip"
)

// Check is one assertion or one baseline comparison on one stage of one series of runs.
type Check struct {
	Kind Kind
	// Series names the runs and stage: "c=8", or "num_parallel=4 c=8" when the runs differ
	// in a label.
	Series string
	Stage  string
	Metric results.Metric
	// Name is the assertion as written, or the metric and its tolerance: "tpot.p50 (+10%)".
	Name     string
	Current  Summary
	Baseline *Summary
	// Change is (current − baseline)/|baseline| of the medians; NaN for assertions.
	Change float64
	Test   *UTest
	// Testable is false when the sample sizes cannot give p < α however different the
	// values are; Significant is Test.P < α on a testable comparison.
	Testable    bool
	Significant bool
	Verdict     Verdict
	Reason      string
	// Notes are footnote numbers into Result.Notes (1-based).
	Notes []int
}

// Result is the gate's judgment.
type Result struct {
	Alpha  float64
	Checks []*Check
	// Notes are footnotes: warnings that travel with the checks they concern, or with none.
	Notes []string
	// CurrentRuns and BaselineRuns say what was read: "5 runs (current.json)".
	CurrentRuns, BaselineRuns string
}

// Failed counts failed checks.
func (r *Result) Failed() int {
	n := 0
	for _, c := range r.Checks {
		if c.Verdict == Fail {
			n++
		}
	}
	return n
}

// Passed reports whether no check failed.
func (r *Result) Passed() bool { return r.Failed() == 0 }

// note adds a footnote once and returns its number.
func (r *Result) note(text string) int {
	for i, n := range r.Notes {
		if n == text {
			return i + 1
		}
	}
	r.Notes = append(r.Notes, text)
	return len(r.Notes)
}

func (c *Check) note(r *Result, text string) {
	n := r.note(text)
	for _, have := range c.Notes {
		if have == n {
			return
		}
	}
	c.Notes = append(c.Notes, n)
}

// NoisyError says a run measured on a machine too busy, or too erratic, for its figures to be
// compared: its causes are the run's own words ("noisy: …").
type NoisyError struct {
	Run    string
	Causes []string
}

func (e *NoisyError) Error() string {
	return fmt.Sprintf("%s is %s", e.Run, strings.Join(e.Causes, "; "))
}

// OverloadedError says a stage's client self-check found the client overloaded, so its
// latencies may be the client's, not the server's.
type OverloadedError struct {
	Run    string // "current.json run 2"
	Stage  string
	Reason string
}

func (e *OverloadedError) Error() string {
	reason := cmp.Or(e.Reason, "self-check failed")
	return fmt.Sprintf("client overloaded: results unreliable (%s, stage %s: %s)", e.Run, e.Stage, reason)
}

// sourcedRun is a run and where it came from.
type sourcedRun struct {
	run  *results.Run
	name string
}

func runsOf(in Input) []sourcedRun {
	var out []sourcedRun
	for i, f := range in.Files {
		if f == nil {
			continue
		}
		src := fmt.Sprintf("file %d", i+1)
		if i < len(in.Sources) && in.Sources[i] != "" {
			src = in.Sources[i]
		}
		for j, r := range f.Runs {
			if r == nil {
				continue
			}
			name := src
			if len(f.Runs) > 1 {
				name = fmt.Sprintf("%s run %d", src, j+1)
			}
			out = append(out, sourcedRun{run: r, name: name})
		}
	}
	return out
}

// describe is "5 runs (a.json, b.json)".
func describe(in Input, runs []sourcedRun) string {
	srcs := in.Sources
	if len(srcs) > 3 {
		srcs = append(append([]string{}, srcs[:3]...), fmt.Sprintf("… %d files", len(in.Sources)))
	}
	s := fmt.Sprintf("%d run", len(runs))
	if len(runs) != 1 {
		s += "s"
	}
	if len(srcs) > 0 {
		s += " (" + strings.Join(srcs, ", ") + ")"
	}
	return s
}

// series is one stage of one group of runs: the per-run stage results a metric's values come
// from. Runs are grouped by the labels that vary among them (a sweep's num_parallel), so that
// repeats of one setting pool and settings stay apart.
type series struct {
	labels string // "num_parallel=4"; "" when no label varies
	stage  string
	names  []string // the names a selector may use: the stage's own and its default "c=8"
	stages []*results.StageResult
	runs   []string
	noise  [][]string // per run: what made it noisy (results.Run.Noise)
}

func (s *series) key() string { return s.labels + "\x00" + s.stage }

func (s *series) display() string {
	if s.labels == "" {
		return s.stage
	}
	return s.labels + " " + s.stage
}

func (s *series) matches(sel string) bool {
	for _, n := range s.names {
		if n == sel {
			return true
		}
	}
	return false
}

// varyingLabels are the label keys whose values differ among the runs (a missing label
// counts as a value of its own). A sweep's round is not one: the runs of a setting in its
// rounds are repeats, and pool.
func varyingLabels(runs []sourcedRun) map[string]bool {
	keys := map[string]bool{}
	for _, r := range runs {
		for k := range r.run.Labels {
			if k != results.LabelRound {
				keys[k] = true
			}
		}
	}
	out := map[string]bool{}
	for k := range keys {
		first, firstOK := runs[0].run.Labels[k]
		for _, r := range runs[1:] {
			if v, ok := r.run.Labels[k]; v != first || ok != firstOK {
				out[k] = true
				break
			}
		}
	}
	return out
}

func groupSeries(runs []sourcedRun, labelKeys []string) []*series {
	var out []*series
	index := map[string]*series{}
	for _, r := range runs {
		var parts []string
		for _, k := range labelKeys {
			if v, ok := r.run.Labels[k]; ok {
				parts = append(parts, k+"="+v)
			}
		}
		labels := strings.Join(parts, ", ")
		for _, st := range r.run.Stages {
			if st == nil {
				continue
			}
			s := &series{labels: labels, stage: st.Name}
			if have, ok := index[s.key()]; ok {
				s = have
			} else {
				s.names = []string{st.Name}
				if def := (results.Stage{Concurrency: st.Concurrency, Rate: st.Rate}).DefaultName(); def != st.Name {
					s.names = append(s.names, def)
				}
				index[s.key()] = s
				out = append(out, s)
			}
			s.stages = append(s.stages, st)
			s.runs = append(s.runs, r.name)
			s.noise = append(s.noise, r.run.Noise)
		}
	}
	return out
}

// values reads a metric from every run of a series that measured it.
func (s *series) values(m results.Metric) []float64 { return s.classValues(m, "") }

// classValues reads a metric from one class's share of every run of the series ("": the
// whole stage); a run whose stage has no such class is left out.
func (s *series) classValues(m results.Metric, class string) []float64 {
	var out []float64
	for _, st := range s.stages {
		if class != "" {
			var ok bool
			if st, ok = st.ClassView(class); !ok {
				continue
			}
		}
		if v, ok := m.Value(st); ok {
			out = append(out, v)
		}
	}
	return out
}

// anyMeasured reports whether some stage of the runs sent a request.
func anyMeasured(runs []sourcedRun) bool {
	for _, r := range runs {
		for _, st := range r.run.Stages {
			if st != nil && st.Requests.Total > 0 {
				return true
			}
		}
	}
	return false
}

// hasClass reports whether a stage of the series has the class.
func hasClass(ss []*series, class string) bool {
	for _, s := range ss {
		for _, st := range s.stages {
			if _, ok := st.Classes[class]; ok {
				return true
			}
		}
	}
	return false
}

// classNames lists the classes of the series for messages.
func classNames(ss []*series) string {
	seen := map[string]bool{}
	for _, s := range ss {
		for _, st := range s.stages {
			for name := range st.Classes {
				seen[name] = true
			}
		}
	}
	if len(seen) == 0 {
		return "none: the mix has one class"
	}
	return strings.Join(slices.Sorted(maps.Keys(seen)), ", ")
}

func badInput(format string, args ...any) error {
	return &results.InputError{Err: fmt.Errorf(format, args...)}
}

// stageNames lists the stages of some series for messages.
func stageNames(ss []*series) string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s.stage] {
			seen[s.stage] = true
			out = append(out, s.stage)
		}
	}
	return strings.Join(out, ", ")
}

// Evaluate judges the current runs against the assertions and, when a baseline is given,
// against the baseline. Errors are bad input (*results.InputError: no runs, a stage no run
// has, nothing in common with the baseline) or an *OverloadedError.
func Evaluate(current, baseline Input, opts Options) (*Result, error) {
	alpha := cmp.Or(opts.Alpha, DefaultAlpha)
	if !(alpha > 0 && alpha < 1) {
		return nil, badInput("alpha must lie between 0 and 1, got %v", opts.Alpha)
	}
	cur := runsOf(current)
	if len(cur) == 0 {
		return nil, badInput("no runs in the results given")
	}
	if !anyMeasured(cur) {
		// A run killed during its warm-up has no stage: passing it would pass a broken job.
		return nil, badInput("no stage of the current runs sent a request: nothing to judge (was the run stopped before its first stage?)")
	}
	base := runsOf(baseline)
	withBaseline := len(baseline.Files) > 0
	if withBaseline && len(base) == 0 {
		return nil, badInput("no runs in the baseline")
	}
	tols := opts.Tolerances
	if withBaseline && len(tols) == 0 {
		var err error
		if tols, err = ParseTolerances(DefaultTolerances); err != nil {
			return nil, fmt.Errorf("default tolerances: %w", err)
		}
	}
	// Labels that vary within either side tell series apart; a label that is constant on
	// each side (a commit, a branch) does not, so it may differ between them.
	vary := varyingLabels(cur)
	if withBaseline {
		for k := range varyingLabels(base) {
			vary[k] = true
		}
	}
	labelKeys := slices.Sorted(maps.Keys(vary))
	curSeries := groupSeries(cur, labelKeys)
	baseSeries := groupSeries(base, labelKeys)

	present := func(sel string) bool {
		for _, s := range curSeries {
			if s.matches(sel) {
				return true
			}
		}
		return false
	}
	for _, sel := range opts.Stages {
		if !present(sel) {
			return nil, badInput("no stage %q in the current runs (stages: %s)", sel, stageNames(curSeries))
		}
	}
	for _, a := range opts.Assertions {
		if a.Stage != "" && !present(a.Stage) {
			return nil, badInput("assertion %q: no stage %q in the current runs (stages: %s)", a.Expr, a.Stage, stageNames(curSeries))
		}
		if a.Class != "" && !hasClass(curSeries, a.Class) {
			return nil, badInput("assertion %q: no class %q in the current runs (classes: %s)", a.Expr, a.Class, classNames(curSeries))
		}
	}
	for _, t := range tols {
		if t.Stage != "" && !present(t.Stage) {
			return nil, badInput("tolerance %q: no stage %q in the current runs (stages: %s)", t.Text, t.Stage, stageNames(curSeries))
		}
	}
	// selected says whether a check with this stage selector applies to a series.
	selected := func(s *series, sel string) bool {
		if sel != "" {
			return s.matches(sel)
		}
		if len(opts.Stages) == 0 {
			return true
		}
		for _, st := range opts.Stages {
			if s.matches(st) {
				return true
			}
		}
		return false
	}

	r := &Result{Alpha: alpha, CurrentRuns: describe(current, cur)}
	if withBaseline {
		r.BaselineRuns = describe(baseline, base)
	}
	if err := checkClient(r, curSeries, baseSeries, selected, opts.AllowOverloaded, opts.AllowNoisy); err != nil {
		return nil, err
	}
	for _, sr := range append(append([]sourcedRun{}, cur...), base...) {
		if sr.run.Interrupted {
			r.note(fmt.Sprintf("%s was interrupted: its stages hold what was measured before the stop", sr.name))
		}
	}

	for _, a := range opts.Assertions {
		if a.Metric.OfFile != nil {
			r.Checks = append(r.Checks, fileChecks(current, a)...)
			continue
		}
		for _, s := range curSeries {
			if selected(s, a.Stage) {
				r.Checks = append(r.Checks, assertionCheck(r, s, a))
			}
		}
	}
	if withBaseline {
		if err := compareAll(r, curSeries, baseSeries, tols, selected); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// fileChecks judges an assertion on a figure a results file holds as a whole (a capacity
// search's answer), once per file.
func fileChecks(in Input, a Assertion) []*Check {
	var out []*Check
	for i, f := range in.Files {
		name := fmt.Sprintf("file %d", i+1)
		if i < len(in.Sources) {
			name = in.Sources[i]
		}
		c := &Check{Kind: KindAssertion, Series: name, Metric: a.Metric, Name: a.Expr, Change: math.NaN()}
		v, ok := a.Metric.OfFile(f)
		switch {
		case !ok:
			c.Verdict, c.Reason = Fail, fmt.Sprintf("%s has no %s (no capacity search, or one a noisy machine stopped)", name, a.Metric.Name)
		case a.Holds(v):
			c.Verdict, c.Reason = Pass, a.Metric.Unit.Format(v)
		default:
			c.Verdict, c.Reason = Fail, a.Metric.Unit.Format(v)
		}
		c.Current = Summarize([]float64{v}, 0.95)
		out = append(out, c)
	}
	return out
}

// checkClient refuses stages whose client was overloaded, and runs that are noisy, unless
// allowed; then it notes them.
func checkClient(r *Result, cur, base []*series, selected func(*series, string) bool, allowOverloaded, allowNoisy bool) error {
	noted := map[string]bool{}
	for _, ss := range [][]*series{cur, base} {
		for _, s := range ss {
			if !selected(s, "") {
				continue
			}
			for i, st := range s.stages {
				if len(s.noise[i]) > 0 && !noted[s.runs[i]] {
					e := &NoisyError{Run: s.runs[i], Causes: s.noise[i]}
					if !allowNoisy {
						return e
					}
					noted[s.runs[i]] = true
					r.note(e.Error() + "; judged anyway as asked")
				}
				if !st.Client.Overloaded {
					continue
				}
				e := &OverloadedError{Run: s.runs[i], Stage: st.Name, Reason: st.Client.Reason}
				if !allowOverloaded {
					return e
				}
				r.note(e.Error() + "; judged anyway as asked")
			}
		}
	}
	return nil
}

func assertionCheck(r *Result, s *series, a Assertion) *Check {
	display := s.display()
	if a.Class != "" {
		display += " class=" + a.Class
	}
	c := &Check{Kind: KindAssertion, Series: display, Stage: s.stage, Metric: a.Metric, Name: a.Expr, Change: math.NaN()}
	vals := s.classValues(a.Metric, a.Class)
	c.Current = Summarize(vals, 1-r.Alpha)
	if len(vals) == 0 {
		c.Verdict, c.Reason = Fail, fmt.Sprintf("%s was not measured, so the assertion cannot be shown to hold", a.Metric.Name)
		return c
	}
	if len(vals) < len(s.stages) {
		c.note(r, fmt.Sprintf("%s: %s measured in %d of %d runs", s.display(), a.Metric.Name, len(vals), len(s.stages)))
	}
	noteCI(r, c, c.Current)
	v := a.Metric.Unit.Format(c.Current.Median)
	what := v
	if len(vals) > 1 {
		what = fmt.Sprintf("median %s of %d runs", v, len(vals))
	}
	limit := a.Metric.Unit.Format(a.Limit)
	if a.Holds(c.Current.Median) {
		c.Verdict, c.Reason = Pass, fmt.Sprintf("%s %s %s", what, a.Op, limit)
	} else {
		c.Verdict, c.Reason = Fail, fmt.Sprintf("%s, not %s %s", what, a.Op, limit)
	}
	return c
}

// noteCI footnotes a summary of several values that has no confidence interval.
func noteCI(r *Result, c *Check, s Summary) {
	if s.N() > 1 && !s.HasCI {
		conf := 1 - r.Alpha
		c.note(r, fmt.Sprintf("fewer than %d runs: no %s confidence interval for the median", runsForCI(conf), pctText(conf)))
	}
}

func runsForCI(conf float64) int { return stats.RunsForCI(conf) }

func runsForSignificance(alpha float64) int { return stats.RunsForSignificance(alpha) }

func pctText(f float64) string { return sig(100*f) + "%" }

func compareAll(r *Result, cur, base []*series, tols []Tolerance, selected func(*series, string) bool) error {
	baseIndex := map[string]*series{}
	for _, s := range base {
		baseIndex[s.key()] = s
	}
	matched := map[string]bool{}
	compared := 0
	for _, s := range cur {
		b, ok := baseIndex[s.key()]
		var wanted bool
		for _, t := range tols {
			if !selected(s, t.Stage) {
				continue
			}
			wanted = true
			if ok {
				r.Checks = append(r.Checks, compare(r, s, b, t))
				compared++
			}
		}
		if wanted && !ok {
			r.note(fmt.Sprintf("%s: the baseline has no such stage; not compared", s.display()))
		}
		if ok {
			matched[s.key()] = true
		}
	}
	for _, b := range base {
		if !matched[b.key()] && selected(b, "") {
			r.note(fmt.Sprintf("%s: in the baseline but not in the current runs", b.display()))
		}
	}
	if compared == 0 {
		var curNames, baseNames []string
		for _, s := range cur {
			curNames = append(curNames, s.display())
		}
		for _, s := range base {
			baseNames = append(baseNames, s.display())
		}
		return badInput("nothing to compare: no stage of the current runs (%s) is in the baseline (%s)",
			strings.Join(curNames, "; "), strings.Join(baseNames, "; "))
	}
	return nil
}

// compare judges one metric of one series against the baseline. A change fails only when it
// is beyond the tolerance and significant; when the sample sizes cannot reach significance
// at all, the tolerance alone decides, and a footnote says so.
func compare(r *Result, cur, base *series, t Tolerance) *Check {
	m := t.Metric
	c := &Check{Kind: KindBaseline, Series: cur.display(), Stage: cur.stage, Metric: m,
		Name: fmt.Sprintf("%s (%s)", m.Name, t.Limit()), Change: math.NaN()}
	cv, bv := cur.values(m), base.values(m)
	c.Current = Summarize(cv, 1-r.Alpha)
	bs := Summarize(bv, 1-r.Alpha)
	c.Baseline = &bs
	switch {
	case len(cv) == 0 && len(bv) == 0:
		c.Verdict, c.Reason = Skip, "measured on neither side"
		c.note(r, fmt.Sprintf("%s: %s measured neither in the baseline nor in the current runs", cur.display(), m.Name))
		return c
	case len(cv) == 0:
		c.Verdict, c.Reason = Fail, fmt.Sprintf("the baseline measured %s, the current runs did not", m.Name)
		return c
	case len(bv) == 0:
		c.Verdict, c.Reason = Skip, "the baseline did not measure it"
		c.note(r, fmt.Sprintf("%s: the baseline did not measure %s; not compared", cur.display(), m.Name))
		return c
	}
	noteCI(r, c, c.Current)
	noteCI(r, c, bs)
	test := MannWhitney(bv, cv)
	c.Test = &test
	c.Change = relChange(bs.Median, c.Current.Median)
	c.Testable = MinP(len(bv), len(cv)) < r.Alpha
	c.Significant = c.Testable && test.P < r.Alpha
	if !c.Testable {
		c.note(r, fmt.Sprintf("%d baseline and %d current runs: the smallest p-value they can give is %.3g, not below α = %g, "+
			"so no change can be significant and the tolerance alone decides; at α = %g it takes at least %d runs a side (llmload run --repeat N)",
			len(bv), len(cv), MinP(len(bv), len(cv)), r.Alpha, r.Alpha, runsForSignificance(r.Alpha)))
	} else if test.Method == MethodNormal {
		c.note(r, "p-values of samples with ties (or over 50 runs) come from the normal approximation with tie correction; the others are exact")
	}
	if bs.Median == 0 && c.Current.Median != 0 && t.Relative {
		c.note(r, fmt.Sprintf("%s: the baseline median of %s is 0, so any change exceeds a relative tolerance", cur.display(), m.Name))
	}
	beyond := t.exceeded(bs.Median, c.Current.Median)
	change := changeText(c.Change)
	pText := fmt.Sprintf("p=%s", pValueText(test.P))
	switch {
	case beyond && c.Significant:
		c.Verdict, c.Reason = Fail, fmt.Sprintf("%s (%s), beyond the %s tolerance", change, pText, t.Limit())
	case beyond && !c.Testable:
		c.Verdict, c.Reason = Fail, fmt.Sprintf("%s, beyond the %s tolerance (too few runs to test significance)", change, t.Limit())
	case beyond:
		c.Verdict, c.Reason = Pass, fmt.Sprintf("%s but not significant (%s)", change, pText)
	case c.Significant && improved(m, bs.Median, c.Current.Median):
		c.Verdict, c.Reason = Pass, fmt.Sprintf("%s (%s): better", change, pText)
	case c.Significant:
		c.Verdict, c.Reason = Pass, fmt.Sprintf("%s (%s), within %s", change, pText, t.Limit())
	default:
		c.Verdict, c.Reason = Pass, fmt.Sprintf("no significant change (%s)", pText)
		if !c.Testable {
			c.Reason = fmt.Sprintf("%s, within %s", change, t.Limit())
		}
	}
	return c
}

// improved reports whether the change is in the metric's better direction.
func improved(m results.Metric, base, cur float64) bool {
	switch m.Better {
	case results.BetterLower:
		return cur < base
	case results.BetterHigher:
		return cur > base
	}
	return false
}

// changeText is "+12.3%", "-4.1%", "0%", or "+∞" from a baseline of 0.
func changeText(ch float64) string {
	switch {
	case math.IsNaN(ch):
		return ""
	case math.IsInf(ch, 1):
		return "+∞"
	case math.IsInf(ch, -1):
		return "-∞"
	case ch == 0:
		return "0%"
	}
	s := sig(100*ch) + "%"
	if ch > 0 {
		s = "+" + s
	}
	return s
}

// pValueText writes a p-value with three significant digits, e.g. 0.0286, 0.1, 1.
func pValueText(p float64) string {
	if p >= 0.9995 {
		return "1"
	}
	if p < 0.0001 {
		return "<0.0001"
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3g", p), "0"), ".")
}

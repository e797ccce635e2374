package gate

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/llmload/llmload/bench/results"
)

// Op is a comparison of an assertion.
type Op string

const (
	OpLess      Op = "<"
	OpLessEq    Op = "<="
	OpGreater   Op = ">"
	OpGreaterEq Op = ">="
	OpEqual     Op = "=="
	OpNotEqual  Op = "!="
)

// holds applies the comparison v op limit.
func (o Op) holds(v, limit float64) bool {
	switch o {
	case OpLess:
		return v < limit
	case OpLessEq:
		return v <= limit
	case OpGreater:
		return v > limit
	case OpGreaterEq:
		return v >= limit
	case OpEqual:
		return v == limit
	case OpNotEqual:
		return v != limit
	}
	return false
}

// Assertion is a threshold: "[STAGE:]METRIC OP NUMBER[UNIT]", e.g. "c=8:ttft.p95 < 800ms".
type Assertion struct {
	Expr string // as given, trimmed
	// Stage names the stage it applies to ("c=8"); "" is every stage.
	Stage string
	// Class, when set, is the traffic class it applies to (a mix entry's name): the metric is
	// read from that class's share of each stage.
	Class  string
	Metric results.Metric
	Op     Op
	// Limit is in the metric's unit (milliseconds for latencies, a fraction for errors.rate).
	Limit float64
}

// Holds reports whether a value meets the assertion.
func (a Assertion) Holds(v float64) bool { return a.Op.holds(v, a.Limit) }

// Tolerance is how far a metric may move from the baseline: "[STAGE:]METRIC=[+|-|±]AMOUNT"
// with AMOUNT a percentage of the baseline's median (10%) or an amount in the metric's unit
// (50ms, 0.01; pp for percentage points of a rate or percentage).
type Tolerance struct {
	Text   string // as given, trimmed
	Stage  string // "" is every stage
	Metric results.Metric
	// Direction is +1 when a rise beyond Amount fails, −1 when a fall does, 0 for either.
	// Without a sign it is the metric's worse direction.
	Direction int
	// Amount is a fraction of the baseline when Relative, else in the metric's unit.
	Amount   float64
	Relative bool
}

// Limit writes the tolerance for a table: "+10%", "-5%", "±50ms".
func (t Tolerance) Limit() string {
	sign := map[int]string{1: "+", -1: "-", 0: "±"}[t.Direction]
	if t.Relative {
		return sign + sig(100*t.Amount) + "%"
	}
	return sign + t.Metric.Unit.Format(t.Amount)
}

// exceeded reports whether the change from base to cur goes past the tolerance in the
// direction that counts. A relative tolerance against a baseline of 0 counts any change.
func (t Tolerance) exceeded(base, cur float64) bool {
	change := cur - base
	if t.Relative {
		change = relChange(base, cur)
	}
	switch t.Direction {
	case 1:
		return change > t.Amount
	case -1:
		return change < -t.Amount
	}
	return math.Abs(change) > t.Amount
}

// relChange is (cur − base)/|base|: ±Inf when base is 0 and cur is not, 0 when both are.
func relChange(base, cur float64) float64 {
	switch {
	case base == cur:
		return 0
	case base == 0:
		return math.Copysign(math.Inf(1), cur-base)
	}
	return (cur - base) / math.Abs(base)
}

// DefaultTolerances is what a baseline comparison checks when no --max-regression is given:
// the latencies users feel and the throughput they pay for, each 10 % in its worse direction.
const DefaultTolerances = "e2e.p95=+10%,ttft.p95=+10%,tpot.p50=+10%,output_tps=-10%"

// SyntaxError is an assertion or tolerance that does not parse. Its message echoes the text
// with a caret under the part at fault.
type SyntaxError struct {
	Input      string // the whole text given
	Start, End int    // byte offsets of the part at fault
	Msg        string
	Hint       string
}

func (e *SyntaxError) Error() string {
	shown := strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(e.Input)
	start := min(max(e.Start, 0), len(shown))
	end := min(max(e.End, start), len(shown))
	pad := utf8.RuneCountInString(shown[:start])
	width := max(1, utf8.RuneCountInString(shown[start:end]))
	var b strings.Builder
	b.WriteString(e.Msg)
	b.WriteString("\n    " + shown + "\n    " + strings.Repeat(" ", pad) + strings.Repeat("^", width))
	if e.Hint != "" {
		b.WriteString("\n" + e.Hint)
	}
	return b.String()
}

// parser reads one expression of input between pos and end.
type parser struct {
	input    string
	pos, end int
}

func (p *parser) fail(start, end int, hint, format string, args ...any) error {
	return &SyntaxError{Input: p.input, Start: start, End: end, Msg: fmt.Sprintf(format, args...), Hint: hint}
}

func (p *parser) skipSpace() {
	for p.pos < p.end && (p.input[p.pos] == ' ' || p.input[p.pos] == '\t') {
		p.pos++
	}
}

// nextToken is the extent of the next run of non-space characters, for carets.
func (p *parser) nextToken() int {
	i := p.pos
	for i < p.end && p.input[i] != ' ' && p.input[i] != '\t' {
		i++
	}
	if i == p.pos {
		return p.pos + 1
	}
	return i
}

// selector reads "STAGE:", "stage=STAGE:", "class=NAME:" or "STAGE,class=NAME:" up to the
// last colon: metric names, numbers and units hold none, while stage names may.
func (p *parser) selector() (stage, class string, err error) {
	i := strings.LastIndexByte(p.input[p.pos:p.end], ':')
	if i < 0 {
		return "", "", nil
	}
	colon := p.pos + i
	sel := strings.TrimSpace(p.input[p.pos:colon])
	if j := strings.LastIndex(sel, "class="); j >= 0 && (j == 0 || sel[j-1] == ',') {
		class = strings.TrimSpace(sel[j+len("class="):])
		sel = strings.TrimSuffix(strings.TrimSpace(sel[:j]), ",")
		if class == "" {
			return "", "", p.fail(p.pos, colon+1, "write class=NAME:METRIC, e.g. class=chat:ttft.p95", "no class name after class=")
		}
		if sel == "" {
			p.pos = colon + 1
			return "", class, nil
		}
	}
	sel = strings.TrimSpace(strings.TrimPrefix(sel, "stage="))
	if sel == "" {
		return "", "", p.fail(p.pos, colon+1, "write STAGE:METRIC, e.g. c=8:ttft.p95, or leave the stage out to check every stage", "no stage name before ':'")
	}
	p.pos = colon + 1
	return sel, class, nil
}

func isMetricByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.'
}

func (p *parser) metric() (results.Metric, error) {
	p.skipSpace()
	start := p.pos
	for p.pos < p.end && isMetricByte(p.input[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		return results.Metric{}, p.fail(start, p.nextToken(), "valid metrics: "+results.MetricNames(), "expected a metric name")
	}
	name := p.input[start:p.pos]
	m, ok := results.LookupMetric(name)
	if ok {
		return m, nil
	}
	lower := strings.ToLower(name)
	for _, d := range results.LatencyDistributions() {
		if lower == d {
			return results.Metric{}, p.fail(start, p.pos, "", "%s needs a statistic, e.g. %s.p95 (one of %s)", name, d, strings.Join(results.LatencyStats(), ", "))
		}
	}
	hint := "valid metrics: " + results.MetricNames()
	switch s := results.SuggestMetrics(lower); len(s) {
	case 0:
	case 1:
		hint = fmt.Sprintf("did you mean %s? %s", s[0], hint)
	default:
		hint = fmt.Sprintf("did you mean one of %s? %s", strings.Join(s, ", "), hint)
	}
	return results.Metric{}, p.fail(start, p.pos, hint, "unknown metric %q", name)
}

func (p *parser) op() (Op, error) {
	p.skipSpace()
	rest := p.input[p.pos:p.end]
	for _, c := range []struct {
		text string
		op   Op
	}{{"<=", OpLessEq}, {">=", OpGreaterEq}, {"==", OpEqual}, {"!=", OpNotEqual}, {"≤", OpLessEq}, {"≥", OpGreaterEq}, {"≠", OpNotEqual}, {"<", OpLess}, {">", OpGreater}} {
		if strings.HasPrefix(rest, c.text) {
			p.pos += len(c.text)
			return c.op, nil
		}
	}
	if strings.HasPrefix(rest, "=") {
		return "", p.fail(p.pos, p.pos+1, "", "'=' is not a comparison: write == (or <, <=, >, >=, !=)")
	}
	if rest == "" {
		return "", p.fail(p.pos, p.pos+1, "e.g. ttft.p95 < 800ms", "expected a comparison (<, <=, >, >=, ==, !=) after the metric")
	}
	return "", p.fail(p.pos, p.nextToken(), "e.g. ttft.p95 < 800ms", "expected a comparison (<, <=, >, >=, ==, !=), not %q", p.input[p.pos:p.nextToken()])
}

// number reads a decimal number: an optional sign (when signed), digits with an optional
// fraction and exponent.
func (p *parser) number(signed bool) (float64, error) {
	p.skipSpace()
	start := p.pos
	i := p.pos
	if signed && i < p.end && (p.input[i] == '+' || p.input[i] == '-') {
		i++
	}
	digits := 0
	for i < p.end && p.input[i] >= '0' && p.input[i] <= '9' {
		i++
		digits++
	}
	if i < p.end && p.input[i] == '.' {
		i++
		for i < p.end && p.input[i] >= '0' && p.input[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		if start >= p.end {
			return 0, p.fail(start, start+1, "", "expected a number")
		}
		return 0, p.fail(start, p.nextToken(), "", "expected a number, not %q", p.input[start:p.nextToken()])
	}
	// An exponent only when digits follow, so that "5m" stays five minutes.
	if i < p.end && (p.input[i] == 'e' || p.input[i] == 'E') {
		j := i + 1
		if j < p.end && (p.input[j] == '+' || p.input[j] == '-') {
			j++
		}
		if j < p.end && p.input[j] >= '0' && p.input[j] <= '9' {
			for j < p.end && p.input[j] >= '0' && p.input[j] <= '9' {
				j++
			}
			i = j
		}
	}
	v, err := strconv.ParseFloat(p.input[start:i], 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, p.fail(start, i, "", "number %s is out of range", p.input[start:i])
	}
	p.pos = i
	return v, nil
}

// suffix reads the unit after a number up to the next space (or the end).
func (p *parser) suffix() (text string, start int) {
	save := p.pos
	p.skipSpace()
	start = p.pos
	for p.pos < p.end && p.input[p.pos] != ' ' && p.input[p.pos] != '\t' {
		p.pos++
	}
	if p.pos == start {
		p.pos = save
		return "", start
	}
	return p.input[start:p.pos], start
}

func (p *parser) done() error {
	p.skipSpace()
	if p.pos < p.end {
		return p.fail(p.pos, p.end, "", "unexpected %q after the value", strings.TrimSpace(p.input[p.pos:p.end]))
	}
	return nil
}

// ParseAssertion reads "[STAGE:]METRIC OP NUMBER[UNIT]": ttft.p95 < 800ms, output_tps >= 40,
// errors.rate == 0, c=8:e2e.p99 <= 2s, stage=rate=2/s:ttft.p50 < 300ms; a class of traffic
// is selected as class=chat:ttft.p95 < 1s or c=8,class=chat:ttft.p95 < 1s. A bare number is
// in the results file's unit (milliseconds, per second, a fraction for errors.rate).
func ParseAssertion(input string) (Assertion, error) {
	p := &parser{input: input, end: len(input)}
	if strings.TrimSpace(input) == "" {
		return Assertion{}, p.fail(0, 1, "e.g. ttft.p95 < 800ms", "empty assertion")
	}
	stage, class, err := p.selector()
	if err != nil {
		return Assertion{}, err
	}
	m, err := p.metric()
	if err != nil {
		return Assertion{}, err
	}
	op, err := p.op()
	if err != nil {
		return Assertion{}, err
	}
	v, err := p.number(true)
	if err != nil {
		return Assertion{}, err
	}
	unit, ustart := p.suffix()
	scale, ok := m.Unit.Scale(unit)
	if !ok {
		return Assertion{}, p.fail(ustart, p.pos, fmt.Sprintf("%s is %s: write the number bare or with one of %s", m.Name, m.Unit.Kind(), m.Unit.SuffixList()),
			"unit %q does not fit %s", unit, m.Name)
	}
	if err := p.done(); err != nil {
		return Assertion{}, err
	}
	return Assertion{Expr: strings.TrimSpace(input), Stage: stage, Class: class, Metric: m, Op: op, Limit: v * scale}, nil
}

// ParseTolerances reads a comma-separated list of tolerances:
// "e2e.p95=+10%,output_tps=-5%,c=8:ttft.p95=+50ms". A sign says which way a change fails
// (+ a rise, - a fall, ± either); without one, the metric's worse direction.
func ParseTolerances(input string) ([]Tolerance, error) {
	var out []Tolerance
	seen := map[string]bool{}
	start := 0
	for start <= len(input) {
		end := strings.IndexByte(input[start:], ',')
		if end < 0 {
			end = len(input)
		} else {
			end += start
		}
		if strings.TrimSpace(input[start:end]) != "" {
			t, err := parseTolerance(&parser{input: input, pos: start, end: end})
			if err != nil {
				return nil, err
			}
			key := t.Stage + ":" + t.Metric.Name
			if seen[key] {
				p := &parser{input: input}
				return nil, p.fail(start, end, "", "%s is given twice", t.Metric.Name)
			}
			seen[key] = true
			out = append(out, t)
		}
		start = end + 1
	}
	if len(out) == 0 {
		return nil, errors.New("no tolerance given: write METRIC=AMOUNT, e.g. e2e.p95=+10%")
	}
	return out, nil
}

func parseTolerance(p *parser) (Tolerance, error) {
	t := Tolerance{Text: strings.TrimSpace(p.input[p.pos:p.end])}
	stage, class, err := p.selector()
	if err != nil {
		return t, err
	}
	if class != "" {
		return t, p.fail(p.pos, p.end, "select classes in --assert, e.g. --assert 'class=chat:ttft.p95 < 1s'", "a tolerance applies to whole stages")
	}
	t.Stage = stage
	if t.Metric, err = p.metric(); err != nil {
		return t, err
	}
	p.skipSpace()
	if p.pos >= p.end || p.input[p.pos] != '=' {
		return t, p.fail(p.pos, p.nextToken(), "e.g. e2e.p95=+10% or output_tps=-5%", "expected '=' and a tolerance after %s", t.Metric.Name)
	}
	p.pos++
	p.skipSpace()
	rest := p.input[p.pos:p.end]
	switch {
	case strings.HasPrefix(rest, "±"):
		p.pos += len("±")
	case strings.HasPrefix(rest, "+-"), strings.HasPrefix(rest, "-+"):
		p.pos += 2
	case strings.HasPrefix(rest, "+"):
		t.Direction = 1
		p.pos++
	case strings.HasPrefix(rest, "-"):
		t.Direction = -1
		p.pos++
	default:
		t.Direction = map[results.Better]int{results.BetterLower: 1, results.BetterHigher: -1, results.BetterNeither: 0}[t.Metric.Better]
	}
	amount, err := p.number(false)
	if err != nil {
		return t, err
	}
	unit, ustart := p.suffix()
	switch {
	case unit == "%":
		t.Amount, t.Relative = amount/100, true
	case unit == "pp" && (t.Metric.Unit == results.UnitFraction || t.Metric.Unit == results.UnitPercent):
		t.Amount = amount
		if t.Metric.Unit == results.UnitFraction {
			t.Amount = amount / 100
		}
	default:
		scale, ok := t.Metric.Unit.Scale(unit)
		if !ok {
			return t, p.fail(ustart, p.pos, fmt.Sprintf("a tolerance is a percentage of the baseline (10%%) or an amount of %s: bare or with one of %s", t.Metric.Unit.Kind(), t.Metric.Unit.SuffixList()),
				"unit %q does not fit %s", unit, t.Metric.Name)
		}
		t.Amount = amount * scale
	}
	if err := p.done(); err != nil {
		return t, err
	}
	return t, nil
}

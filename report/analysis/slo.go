package analysis

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/internal/prose"
)

// SLO is what a setting must keep to be recommended: bounds on metrics of the catalogue, the
// names `llmload gate` takes too. The zero SLO accepts every setting, and the recommendation
// is then made on throughput alone.
type SLO struct {
	Bounds []Bound
}

// Bound is one objective: a metric where lower is better must be at most Limit, one where
// higher is better at least Limit.
type Bound struct {
	// Key is the metric as the SLO names it: "ttft_p95", "ttft.p95", "errors.rate".
	Key    string
	Metric results.Metric
	// Limit is in the metric's unit: milliseconds for latencies, a fraction for errors.rate.
	Limit float64
	// Class, when set, binds the bound to one traffic class ("class=chat:ttft_p95=1s"): the
	// metric is read from that class's share of each stage.
	Class string
}

// IsZero reports whether the SLO bounds nothing.
func (s SLO) IsZero() bool { return len(s.Bounds) == 0 }

// String writes the SLO in the form ParseSLO reads.
func (s SLO) String() string {
	var parts []string
	for _, b := range s.Bounds {
		parts = append(parts, b.classPrefix()+b.Key+"="+b.limitValue())
	}
	return strings.Join(parts, ",")
}

// Name is the bound's key as given: "ttft_p95", or "class=chat:ttft_p95" for a class.
func (b Bound) Name() string { return b.classPrefix() + b.Key }

func (b Bound) classPrefix() string {
	if b.Class == "" {
		return ""
	}
	return "class=" + b.Class + ":"
}

// String is "ttft_p95 ≤ 2s", "output_tps ≥ 40/s".
func (b Bound) String() string {
	op := "≤"
	if b.Metric.Better == results.BetterHigher {
		op = "≥"
	}
	return b.Name() + " " + op + " " + b.limitText()
}

// limitText writes the limit for people: "2s", "1.0%", "40/s".
func (b Bound) limitText() string {
	if b.Metric.Unit == results.UnitMs {
		return msDuration(b.Limit).String()
	}
	return valueText(b.Metric.Unit, b.Limit)
}

// limitValue writes the limit as ParseSLO reads it: "2s", "1%", "40".
func (b Bound) limitValue() string {
	switch b.Metric.Unit {
	case results.UnitMs:
		return msDuration(b.Limit).String()
	case results.UnitFraction:
		return strconv.FormatFloat(100*b.Limit, 'f', -1, 64) + "%"
	}
	return strconv.FormatFloat(b.Limit, 'f', -1, 64)
}

// MarshalJSON writes a bound with the catalogue's name and unit of its metric.
func (b Bound) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Bound  string         `json:"bound"`
		Metric string         `json:"metric"`
		Limit  float64        `json:"limit"`
		Unit   results.Unit   `json:"unit"`
		Better results.Better `json:"better"`
	}{b.Key, b.Metric.Name, b.Limit, b.Metric.Unit, b.Metric.Better})
}

func msDuration(ms float64) time.Duration { return time.Duration(math.Round(ms * 1e6)) }

// valueText writes a value of a unit as the report's sentences do: "310 ms", "5.0%", "40/s".
func valueText(u results.Unit, v float64) string {
	switch u {
	case results.UnitMs:
		return prose.Ms(v)
	case results.UnitFraction:
		return prose.Pct(v)
	}
	return u.Format(v)
}

// ParseSLO reads "ttft_p95=2s,e2e_p95=30s,errors.rate=1%": comma-separated METRIC=LIMIT with
// any metric of the catalogue that has a better direction (see results.LookupMetric: ttft.p95
// and ttft_p95 are one), the limit in the metric's unit or with a suffix that fits it (a
// duration such as 500ms for a latency, 1% for errors.rate, a count for errors). A metric
// where lower is better must stay at most its limit, one where higher is better (output_tps,
// decode_tps) at least. An empty string is the zero SLO.
func ParseSLO(s string) (SLO, error) {
	var slo SLO
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		class := ""
		if rest, ok := strings.CutPrefix(part, "class="); ok {
			name, bound, ok := strings.Cut(rest, ":")
			if !ok || strings.TrimSpace(name) == "" {
				return SLO{}, fmt.Errorf("slo %q: want class=NAME:METRIC=LIMIT, e.g. class=chat:ttft_p95=1s", part)
			}
			class, part = strings.TrimSpace(name), bound
		}
		key, val, ok := strings.Cut(part, "=")
		key, val = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val)
		if !ok || key == "" || val == "" {
			return SLO{}, fmt.Errorf("slo %q: want METRIC=LIMIT, e.g. ttft_p95=2s", part)
		}
		b, err := parseBound(key, val)
		if err != nil {
			return SLO{}, fmt.Errorf("slo %q: %w", part, err)
		}
		b.Class = class
		if k := b.classPrefix() + b.Metric.Name; seen[k] {
			return SLO{}, fmt.Errorf("slo %q: %s given twice", part, k)
		} else {
			seen[k] = true
		}
		slo.Bounds = append(slo.Bounds, b)
	}
	return slo, nil
}

func parseBound(key, val string) (Bound, error) {
	m, ok := results.LookupMetric(key)
	if !ok {
		return Bound{}, unknownMetric(key)
	}
	if m.Better == results.BetterNeither {
		return Bound{}, fmt.Errorf("%s: neither more nor less of it is better, so an objective cannot bound it", key)
	}
	limit, err := parseLimit(m, key, val)
	if err != nil {
		return Bound{}, err
	}
	return Bound{Key: key, Metric: m, Limit: limit}, nil
}

// unknownMetric says what is wrong with a name the catalogue does not know, and which names
// it does.
func unknownMetric(key string) error {
	if d, ok := results.LatencyDistribution(key); ok {
		return fmt.Errorf("%s: say which statistic, e.g. %s_p95 (one of %s)", key, d, strings.Join(results.LatencyStats(), ", "))
	}
	for _, d := range results.LatencyDistributions() {
		for _, sep := range []string{"_", "."} {
			if stat, ok := strings.CutPrefix(key, d+sep); ok && !strings.ContainsAny(stat, "._") {
				return fmt.Errorf("%s: unknown statistic %q (want one of %s)", key, stat, strings.Join(results.LatencyStats(), ", "))
			}
		}
	}
	hint := ""
	if s := results.SuggestMetrics(key); len(s) > 0 {
		hint = "did you mean " + strings.Join(s, " or ") + "? "
	}
	return fmt.Errorf("%s: unknown metric (%svalid metrics: %s)", key, hint, results.MetricNames())
}

// maxLatencyBoundMs is the longest latency bound: a week, in milliseconds. Longer ones bound
// nothing (the histograms end at an hour) and would not print as durations.
const maxLatencyBoundMs = 7 * 24 * 3600 * 1000

// number is a decimal number at the start of a limit; the rest is its unit.
var number = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?`)

// parseLimit reads a limit in m's unit: a bare number is in the unit the results file uses.
func parseLimit(m results.Metric, key, val string) (float64, error) {
	u := m.Unit
	if m.Name == "errors" && strings.HasSuffix(val, "%") {
		return 0, fmt.Errorf("%s counts failed requests; for a share write errors.rate=%s", key, val)
	}
	var v float64
	if d, err := time.ParseDuration(val); u == results.UnitMs && err == nil {
		v = float64(d) / float64(time.Millisecond)
	} else {
		num := number.FindString(val)
		scale, ok := u.Scale(strings.TrimSpace(val[len(num):]))
		f, err := strconv.ParseFloat(num, 64)
		if num == "" || !ok || err != nil || math.IsInf(f, 0) {
			if u == results.UnitMs {
				return 0, fmt.Errorf("%s is not a duration (e.g. 500ms, 2s)", val)
			}
			return 0, fmt.Errorf("%s is not %s: write a number bare or with one of %s", val, u.Kind(), u.SuffixList())
		}
		v = f * scale
	}
	switch {
	case u == results.UnitMs && v <= 0:
		return 0, fmt.Errorf("%s: the bound must be positive", key)
	case u == results.UnitMs && v > maxLatencyBoundMs:
		return 0, fmt.Errorf("%s: %s is longer than a week: no request lasts that long", key, val)
	case v < 0:
		return 0, fmt.Errorf("%s: the bound must not be negative", key)
	case u == results.UnitFraction && v > 1:
		return 0, fmt.Errorf("%s=%s: must lie between 0 and 100%%", key, val)
	}
	return v, nil
}

// Miss is one bound a level did not keep.
type Miss struct {
	Bound Bound
	// Value is what was measured, in the metric's unit.
	Value float64
	// Over is how far past the bound: Value/Limit − 1 where lower is better (0.55 = 55 %
	// over), Limit/Value − 1 where higher is better. It is +Inf when the limit (or, higher
	// being better, the value) is 0, and for a metric that was not measured (TTFT of a
	// non-streaming run), which sets Unmeasured.
	Over       float64
	Unmeasured bool
}

// String is "ttft_p95 3.10 s, 55% over 2s", "errors.rate 10%, over the 5.0% allowed",
// "output_tps 30/s, 25% short of 40/s".
func (m Miss) String() string {
	b := m.Bound
	switch {
	case m.Unmeasured:
		return fmt.Sprintf("%s not measured", b.Name())
	case b.Metric.Unit == results.UnitMs:
		return fmt.Sprintf("%s %s, %s over %s", b.Name(), prose.Ms(m.Value), prose.Pct(m.Over), b.limitText())
	case b.Metric.Better == results.BetterHigher:
		return fmt.Sprintf("%s %s, %s short of %s", b.Name(), valueText(b.Metric.Unit, m.Value), prose.Pct(1-m.Value/b.Limit), b.limitText())
	}
	return fmt.Sprintf("%s %s, over the %s allowed", b.Name(), valueText(b.Metric.Unit, m.Value), b.limitText())
}

// check judges a level's figures against the SLO; value reads a metric (ok false when it was
// not measured).
func (s SLO) check(value func(m results.Metric, class string) (float64, bool)) []Miss {
	var misses []Miss
	for _, b := range s.Bounds {
		v, ok := value(b.Metric, b.Class)
		switch {
		case !ok:
			misses = append(misses, Miss{Bound: b, Unmeasured: true, Over: math.Inf(1)})
		case b.Metric.Better == results.BetterHigher && v < b.Limit:
			misses = append(misses, Miss{Bound: b, Value: v, Over: ratio(b.Limit, v) - 1})
		case b.Metric.Better != results.BetterHigher && v > b.Limit:
			misses = append(misses, Miss{Bound: b, Value: v, Over: ratio(v, b.Limit) - 1})
		}
	}
	return misses
}

// ratio is a/b, +Inf when b is 0.
func ratio(a, b float64) float64 {
	if b <= 0 {
		return math.Inf(1)
	}
	return a / b
}

// MarshalJSON writes a miss with its bound spelled out; an unmeasured metric or a zero limit
// has no finite "over" and writes null.
func (m Miss) MarshalJSON() ([]byte, error) {
	type out struct {
		Bound      string       `json:"bound"`
		Metric     string       `json:"metric"`
		Limit      float64      `json:"limit"`
		Unit       results.Unit `json:"unit"`
		Value      float64      `json:"value"`
		Over       *float64     `json:"over"`
		Unmeasured bool         `json:"unmeasured,omitempty"`
	}
	o := out{Bound: m.Bound.Key, Metric: m.Bound.Metric.Name, Limit: m.Bound.Limit, Unit: m.Bound.Metric.Unit, Value: m.Value, Unmeasured: m.Unmeasured}
	if !math.IsInf(m.Over, 0) && !math.IsNaN(m.Over) {
		o.Over = &m.Over
	}
	return json.Marshal(o)
}

// CheckStage judges one stage against the SLO: what it missed (nothing when it met every
// bound).
func (s SLO) CheckStage(st *results.StageResult) []Miss {
	return s.check(func(m results.Metric, class string) (float64, bool) { return classValue(m, st, class) })
}

// classValue reads a metric from a stage, or from one class's share of it ("": the stage).
func classValue(m results.Metric, st *results.StageResult, class string) (float64, bool) {
	if class != "" {
		view, ok := st.ClassView(class)
		if !ok {
			return 0, false
		}
		st = view
	}
	return m.Value(st)
}

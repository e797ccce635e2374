package analysis

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/internal/prose"
)

// SLO is what a setting must keep to be recommended: latency bounds and, optionally, a
// ceiling on the failed fraction of requests. The zero SLO accepts every setting, and the
// recommendation is then made on throughput alone.
type SLO struct {
	Bounds []Bound
	// MaxErrorRate bounds the failed fraction of requests when HasErrorRate is set, so that
	// "errors=0" (no failure allowed) differs from no bound at all.
	MaxErrorRate float64
	HasErrorRate bool
}

// Bound is one latency bound: Metric's Stat must be at most Max.
type Bound struct {
	Metric string // a results.Metric* name: e2e, ttft, itl, tpot, queue_wait, …
	Stat   string // p50, p90, p95, p99, max or mean
	Max    time.Duration
}

// sloMetrics are the latency distributions a bound may name.
func sloMetrics() []string {
	return []string{
		results.MetricE2E, results.MetricService, results.MetricTTFT, results.MetricITL, results.MetricTPOT,
		results.MetricQueueWait, results.MetricFirstTokenWait,
	}
}

func sloStats() []string { return []string{"p50", "p90", "p95", "p99", "max", "mean"} }

// IsZero reports whether the SLO bounds nothing.
func (s SLO) IsZero() bool { return len(s.Bounds) == 0 && !s.HasErrorRate }

// String writes the SLO in the form ParseSLO reads.
func (s SLO) String() string {
	var parts []string
	for _, b := range s.Bounds {
		parts = append(parts, b.Name()+"="+b.Max.String())
	}
	if s.HasErrorRate {
		parts = append(parts, "errors="+strconv.FormatFloat(100*s.MaxErrorRate, 'f', -1, 64)+"%")
	}
	return strings.Join(parts, ",")
}

// Name is the bound's key: "ttft_p95".
func (b Bound) Name() string { return b.Metric + "_" + b.Stat }

// String is "ttft_p95 ≤ 2s".
func (b Bound) String() string { return b.Name() + " ≤ " + b.Max.String() }

// ParseSLO reads "ttft_p95=2s,e2e_p95=30s,errors=1%": comma-separated METRIC_STAT=DURATION
// bounds (metrics e2e, service, ttft, itl, tpot, queue_wait, first_token_wait; statistics
// p50, p90, p95, p99, max, mean) and an optional errors=RATE, a fraction (0.01) or a
// percentage (1%). An empty string is the zero SLO.
func ParseSLO(s string) (SLO, error) {
	var slo SLO
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, val, ok := strings.Cut(part, "=")
		key, val = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val)
		if !ok || key == "" || val == "" {
			return SLO{}, fmt.Errorf("slo %q: want KEY=VALUE, e.g. ttft_p95=2s", part)
		}
		if seen[key] {
			return SLO{}, fmt.Errorf("slo %q: %s given twice", part, key)
		}
		seen[key] = true
		if key == "errors" || key == "error_rate" {
			rate, err := parseRate(val)
			if err != nil {
				return SLO{}, fmt.Errorf("slo %q: %w", part, err)
			}
			slo.MaxErrorRate, slo.HasErrorRate = rate, true
			continue
		}
		b, err := parseBoundKey(key)
		if err != nil {
			return SLO{}, fmt.Errorf("slo %q: %w", part, err)
		}
		d, err := time.ParseDuration(val)
		if err != nil {
			return SLO{}, fmt.Errorf("slo %q: %s is not a duration (e.g. 500ms, 2s): %w", part, val, err)
		}
		if d <= 0 {
			return SLO{}, fmt.Errorf("slo %q: the bound must be positive", part)
		}
		b.Max = d
		slo.Bounds = append(slo.Bounds, b)
	}
	return slo, nil
}

func parseBoundKey(key string) (Bound, error) {
	for _, m := range sloMetrics() {
		if key == m {
			return Bound{}, fmt.Errorf("%s: say which statistic, e.g. %s_p95 (one of %s)", key, m, strings.Join(sloStats(), ", "))
		}
		stat, ok := strings.CutPrefix(key, m+"_")
		if !ok {
			continue
		}
		for _, st := range sloStats() {
			if stat == st {
				return Bound{Metric: m, Stat: st}, nil
			}
		}
		return Bound{}, fmt.Errorf("%s: unknown statistic %q (want one of %s)", key, stat, strings.Join(sloStats(), ", "))
	}
	return Bound{}, fmt.Errorf("%s: unknown metric (want METRIC_STAT with a metric of %s, or errors)", key, strings.Join(sloMetrics(), ", "))
}

func parseRate(val string) (float64, error) {
	pct := strings.HasSuffix(val, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(val, "%"), 64)
	if err != nil || math.IsNaN(f) {
		return 0, fmt.Errorf("errors=%s: want a fraction (0.01) or a percentage (1%%)", val)
	}
	if pct {
		f /= 100
	}
	if f < 0 || f > 1 {
		return 0, fmt.Errorf("errors=%s: must lie between 0 and 100%%", val)
	}
	return f, nil
}

// Miss is one bound a level did not keep.
type Miss struct {
	Bound Bound
	// Value is what was measured, in milliseconds (for the error bound: the failed fraction).
	Value float64
	// Over is how far past the bound: Value/limit − 1 (0.55 = 55 % over). For a metric that
	// was not measured (TTFT of a non-streaming run) Unmeasured is set and Over is +Inf.
	Over       float64
	Unmeasured bool
	// ErrorRate marks the errors bound (Bound is then empty).
	ErrorRate bool
}

// String is "ttft_p95 3.1 s, 55 % over 2s".
func (m Miss) String() string {
	switch {
	case m.ErrorRate:
		return fmt.Sprintf("error rate %s, over the %s allowed", prose.Pct(m.Value), prose.Pct(m.Value/(1+m.Over)))
	case m.Unmeasured:
		return fmt.Sprintf("%s not measured", m.Bound.Name())
	}
	return fmt.Sprintf("%s %s, %s over %s", m.Bound.Name(), prose.Ms(m.Value), prose.Pct(m.Over), m.Bound.Max)
}

// check judges a level's figures against the SLO; latency reads one statistic of a metric
// (ok false when the metric was not measured).
func (s SLO) check(latency func(metric, stat string) (float64, bool), errorRate float64) []Miss {
	var misses []Miss
	for _, b := range s.Bounds {
		v, ok := latency(b.Metric, b.Stat)
		if !ok {
			misses = append(misses, Miss{Bound: b, Unmeasured: true, Over: math.Inf(1)})
			continue
		}
		limit := float64(b.Max) / float64(time.Millisecond)
		if v > limit {
			misses = append(misses, Miss{Bound: b, Value: v, Over: v/limit - 1})
		}
	}
	if s.HasErrorRate && errorRate > s.MaxErrorRate {
		over := math.Inf(1)
		if s.MaxErrorRate > 0 {
			over = errorRate/s.MaxErrorRate - 1
		}
		misses = append(misses, Miss{ErrorRate: true, Value: errorRate, Over: over})
	}
	return misses
}

// MarshalJSON writes a miss with its bound spelled out; an unmeasured metric or a zero error
// allowance has no finite "over" and writes null.
func (m Miss) MarshalJSON() ([]byte, error) {
	type out struct {
		Bound      string   `json:"bound"`
		LimitMs    float64  `json:"limit_ms,omitempty"`
		Value      float64  `json:"value"`
		Over       *float64 `json:"over"`
		Unmeasured bool     `json:"unmeasured,omitempty"`
	}
	o := out{Bound: m.Bound.Name(), Value: m.Value, Unmeasured: m.Unmeasured}
	if m.ErrorRate {
		o.Bound = "errors"
	} else {
		o.LimitMs = float64(m.Bound.Max) / float64(time.Millisecond)
	}
	if !math.IsInf(m.Over, 0) && !math.IsNaN(m.Over) {
		o.Over = &m.Over
	}
	return json.Marshal(o)
}

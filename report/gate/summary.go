package gate

import (
	"math"
	"slices"

	"github.com/llmload/llmload/bench/results"
)

// Summary is one side of a comparison: the per-run values of a metric, their median and a
// distribution-free confidence interval for it.
type Summary struct {
	Values []float64 `json:"values"`
	Median float64   `json:"median"`
	// Lo and Hi bound the median with confidence Confidence (at least the level asked for);
	// HasCI is false when there are too few values for that level (fewer than 6 for 95 %).
	Lo         float64 `json:"lo,omitempty"`
	Hi         float64 `json:"hi,omitempty"`
	Confidence float64 `json:"confidence,omitempty"`
	HasCI      bool    `json:"has_ci"`
}

// N is the number of values.
func (s Summary) N() int { return len(s.Values) }

// Summarize takes the median of values and its confidence interval at level conf (0.95).
func Summarize(values []float64, conf float64) Summary {
	vs := slices.Clone(values)
	slices.Sort(vs)
	s := Summary{Values: vs, Median: results.Median(vs)}
	if lo, hi, c, ok := MedianCI(vs, conf); ok {
		s.Lo, s.Hi, s.Confidence, s.HasCI = lo, hi, c, true
	}
	return s
}

// MedianCI is the distribution-free confidence interval for the median of sorted values:
// the order statistics [x(k), x(n+1−k)] for the largest k whose coverage
// 1 − 2·P(Binomial(n, ½) ≤ k−1) is at least conf. It assumes only independent draws from
// one continuous distribution. ok is false when even [min, max] covers less than conf: with
// 5 values it covers 1 − 2/32 = 93.75 %, so a 95 % interval needs 6.
func MedianCI(sorted []float64, conf float64) (lo, hi, coverage float64, ok bool) {
	n := len(sorted)
	if n == 0 {
		return 0, 0, 0, false
	}
	// cdf is P(B ≤ k−1) for the current k, built up term by term.
	total := math.Pow(2, float64(n))
	cdf, best := 0.0, 0
	for k := 1; k <= (n+1)/2; k++ {
		cdf += binomial(n, k-1) / total
		c := 1 - 2*cdf
		if c < conf {
			break
		}
		best, coverage = k, c
	}
	if best == 0 {
		return 0, 0, 0, false
	}
	return sorted[best-1], sorted[n-best], coverage, true
}

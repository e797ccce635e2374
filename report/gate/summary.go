package gate

import (
	"slices"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/internal/stats"
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

// MedianCI is the distribution-free confidence interval for the median of sorted values (see
// stats.MedianCI): ok is false when even [min, max] covers less than conf.
func MedianCI(sorted []float64, conf float64) (lo, hi, coverage float64, ok bool) {
	return stats.MedianCI(sorted, conf)
}

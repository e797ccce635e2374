package stats

import "math"

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

// RangeCoverage is the confidence with which [min, max] of n independent values covers
// their median: 1 − 2/2ⁿ (3 values: 75 %, 4: 87.5 %, 5: 93.75 %); 0 for fewer than 2.
func RangeCoverage(n int) float64 {
	if n < 2 {
		return 0
	}
	return 1 - 2/math.Pow(2, float64(n))
}

// RunsForCI is the fewest values whose [min, max] covers the median with confidence conf.
func RunsForCI(conf float64) int {
	for n := 1; n < 64; n++ {
		if RangeCoverage(n) >= conf {
			return n
		}
	}
	return 64
}

// RunsForSignificance is the fewest values a side (equal sides) that can reach p < α in a
// two-sided Mann-Whitney test: 4 at α = 0.05, 5 at 0.01.
func RunsForSignificance(alpha float64) int {
	for n := 1; n < 64; n++ {
		if MinP(n, n) < alpha {
			return n
		}
	}
	return 64
}

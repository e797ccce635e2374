// Package stats holds the statistics the gate and the analysis share: the two-sided
// Mann-Whitney U test and the distribution-free confidence interval for a median.
package stats

import (
	"math"
	"slices"
)

// Method says how a Mann-Whitney p-value was found.
type Method string

const (
	// MethodExact counts every arrangement of the two samples' ranks: used when there are no
	// ties and both samples are small (at most exactLimit values each).
	MethodExact Method = "exact"
	// MethodNormal is the normal approximation of U with the tie correction of the variance
	// and a continuity correction of 0.5: used when values tie or the samples are large.
	MethodNormal Method = "normal"
)

// exactLimit bounds the sample sizes the exact distribution is computed for: its table has
// n·m+1 entries per row, and beyond 50 a side the normal approximation is already close.
const exactLimit = 50

// UTest is the outcome of a two-sided Mann-Whitney U test of x against y.
type UTest struct {
	// U counts the pairs (xi, yj) with xi > yj, a tie counting one half.
	U float64
	// P is the two-sided p-value: the chance, were x and y drawn from one distribution, of a
	// U at least this far from its mean n·m/2.
	P      float64
	Method Method
	N, M   int
}

// MannWhitney tests whether x and y come from one distribution, against the alternative that
// one tends to be larger (two-sided). It does not assume normality, so a few outliers, common
// in latency figures, do not mislead it. Empty samples give P = 1: nothing shows a difference.
//
// Without ties and with at most 50 values a side the p-value is exact (every arrangement of
// ranks counted); otherwise it is the normal approximation with the tie-corrected variance
// nm/12·((N+1) − Σ(t³−t)/(N(N−1))) and a continuity correction of 0.5.
func MannWhitney(x, y []float64) UTest {
	n, m := len(x), len(y)
	t := UTest{N: n, M: m, P: 1, Method: MethodExact}
	if n == 0 || m == 0 {
		return t
	}
	for _, a := range x {
		for _, b := range y {
			switch {
			case a > b:
				t.U++
			case a == b:
				t.U += 0.5
			}
		}
	}
	ties := tieTerm(x, y)
	if ties == 0 && n <= exactLimit && m <= exactLimit {
		t.P = exactP(n, m, int(t.U))
		return t
	}
	t.Method = MethodNormal
	t.P = normalP(n, m, t.U, ties)
	return t
}

// MinP is the smallest two-sided p-value samples of n and m values can give, reached when
// they do not overlap at all: 2/C(n+m, n). When it is not below α no outcome can be
// significant, whatever the data: 3 against 3 can never do better than 0.1.
func MinP(n, m int) float64 {
	if n == 0 || m == 0 {
		return 1
	}
	return math.Min(1, 2/binomial(n+m, n))
}

// tieTerm is Σ(t³ − t) over the groups of equal values in x and y together; 0 means no ties.
func tieTerm(x, y []float64) float64 {
	all := slices.Concat(x, y)
	slices.Sort(all)
	sum := 0.0
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j] == all[i] {
			j++
		}
		if t := float64(j - i); t > 1 {
			sum += t*t*t - t
		}
		i = j
	}
	return sum
}

// exactP is the two-sided exact p-value of U = u for samples of n and m values without ties:
// twice the smaller tail, capped at 1. The null distribution of U is symmetric about nm/2.
func exactP(n, m, u int) float64 {
	counts := uCounts(n, m)
	total := 0.0
	for _, c := range counts {
		total += c
	}
	lower, upper := 0.0, 0.0
	for k, c := range counts {
		if k <= u {
			lower += c
		}
		if k >= u {
			upper += c
		}
	}
	return math.Min(1, 2*math.Min(lower, upper)/total)
}

// uCounts returns, for every u in 0…n·m, how many of the C(n+m, n) arrangements of n x's and
// m y's in rank order have U = u. It follows the recurrence on the largest value: if it is an
// x it beats all m y's, so c(n, m, u) = c(n−1, m, u−m) + c(n, m−1, u), with c(0, m, 0) =
// c(n, 0, 0) = 1. Rows for every n' ≤ n are kept and advanced one m at a time.
func uCounts(n, m int) []float64 {
	size := n*m + 1
	// rows[i] holds c(i, j, ·) for the j reached so far.
	rows := make([][]float64, n+1)
	for i := range rows {
		rows[i] = make([]float64, size)
		rows[i][0] = 1 // j = 0: no y, U = 0
	}
	for j := 1; j <= m; j++ {
		// rows[0] stays c(0, j, ·) = [1, 0, …]. Going up in i, rows[i-1] already holds
		// c(i−1, j, ·) and rows[i] still holds c(i, j−1, ·).
		for i := 1; i <= n; i++ {
			prev := rows[i-1]
			cur := rows[i]
			for u := size - 1; u >= j; u-- {
				cur[u] += prev[u-j]
			}
		}
	}
	return rows[n]
}

// normalP is the two-sided p-value of U from the normal approximation, with the variance
// corrected for ties and a continuity correction. A variance of 0 (every value equal) shows
// no difference at all: P = 1.
func normalP(n, m int, u, ties float64) float64 {
	nf, mf := float64(n), float64(m)
	total := nf + mf
	variance := nf * mf / 12 * ((total + 1) - ties/(total*(total-1)))
	if variance <= 0 {
		return 1
	}
	z := math.Max(0, math.Abs(u-nf*mf/2)-0.5) / math.Sqrt(variance)
	return math.Min(1, math.Erfc(z/math.Sqrt2))
}

// binomial is C(n, k) as a float, exact well past the sample sizes a gate sees.
func binomial(n, k int) float64 {
	if k < 0 || k > n {
		return 0
	}
	k = min(k, n-k)
	r := 1.0
	for i := 1; i <= k; i++ {
		r = r * float64(n-k+i) / float64(i)
	}
	return r
}

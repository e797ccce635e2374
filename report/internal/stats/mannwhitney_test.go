package stats

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// The p-values below are checked by hand: with n and m values and no ties, each of the
// C(n+m, n) rank arrangements is equally likely, so fully separated samples have one-sided
// probability 1/C(n+m, n) and two-sided 2/C(n+m, n).
func TestMannWhitneyKnownValues(t *testing.T) {
	cases := []struct {
		name   string
		x, y   []float64
		u, p   float64
		method Method
	}{
		{"4 vs 4 separated, exact 2/70", []float64{1, 2, 3, 4}, []float64{5, 6, 7, 8}, 0, 2.0 / 70, MethodExact},
		{"4 vs 4 separated the other way", []float64{15, 16, 17, 18}, []float64{5, 6, 7, 8}, 16, 2.0 / 70, MethodExact},
		{"3 vs 3 separated, exact 2/20", []float64{10.5, 11, 12}, []float64{1, 2, 3}, 9, 0.1, MethodExact},
		{"5 vs 5 separated, exact 2/252", []float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10}, 0, 2.0 / 252, MethodExact},
		// U = 2 for 5 vs 5: the arrangements with U ≤ 2 are 1 + 1 + 2 = 4 of 252.
		{"5 vs 5, U=2, exact 8/252", []float64{1, 2, 3, 4, 7}, []float64{5, 6, 8, 9, 10}, 2, 2 * 4.0 / 252, MethodExact},
		// Interleaved: U = nm/2, the centre of the distribution.
		{"interleaved, p=1", []float64{1, 4, 5, 8}, []float64{2, 3, 6, 7}, 8, 1, MethodExact},
		{"identical constant samples", []float64{3, 3, 3, 3}, []float64{3, 3, 3, 3}, 8, 1, MethodNormal},
		{"identical samples", []float64{1, 2, 3, 4}, []float64{1, 2, 3, 4}, 8, 1, MethodNormal},
		// Ties → normal approximation. By hand: ranks of 1 2 3 3 4 4 5 5 6 7 give U = 4.5,
		// three pairs of ties, σ² = 25/12·(11 − 18/90) = 22.5, z = (12.5 − 4.5 − 0.5)/√22.5
		// = √2.5, p = erfc(√1.25) = 0.113846 (R: wilcox.test(1:5, 3:7) gives W = 4.5,
		// p-value = 0.1138).
		{"ties, normal approximation", []float64{1, 2, 3, 4, 5}, []float64{3, 4, 5, 6, 7}, 4.5, 0.11384629800665812, MethodNormal},
		{"empty side", nil, []float64{1, 2}, 0, 1, MethodExact},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := MannWhitney(c.x, c.y)
			if got.U != c.u {
				t.Errorf("U = %v, want %v", got.U, c.u)
			}
			if !near(got.P, c.p, 1e-12) {
				t.Errorf("p = %.15g, want %.15g", got.P, c.p)
			}
			if got.Method != c.method {
				t.Errorf("method %s, want %s", got.Method, c.method)
			}
			// The test is two-sided: swapping the samples changes nothing but U's side.
			back := MannWhitney(c.y, c.x)
			if !near(back.P, got.P, 1e-12) || back.U != float64(len(c.x)*len(c.y))-got.U {
				t.Errorf("swapped: U = %v, p = %v", back.U, back.P)
			}
		})
	}
}

// Published critical values of U for a two-sided test at α = 0.05 (the standard
// Mann-Whitney table): U ≤ critical is significant, critical + 1 is not.
func TestExactPMatchesPublishedCriticalValues(t *testing.T) {
	cases := []struct{ n, m, critical int }{
		{3, 5, 0}, {3, 6, 1}, {3, 7, 1}, {3, 8, 2},
		{4, 4, 0}, {4, 5, 1}, {4, 6, 2}, {4, 7, 3}, {4, 8, 4},
		{5, 5, 2}, {5, 6, 3}, {6, 6, 5}, {7, 7, 8}, {8, 8, 13}, {9, 9, 17}, {10, 10, 23},
	}
	for _, c := range cases {
		at, above := exactP(c.n, c.m, c.critical), exactP(c.n, c.m, c.critical+1)
		if !(at <= 0.05 && above > 0.05) {
			t.Errorf("n=%d m=%d: p(U=%d) = %.4f, p(U=%d) = %.4f; the table's critical value is %d",
				c.n, c.m, c.critical, at, c.critical+1, above, c.critical)
		}
	}
	// Too small to be significant at all: no critical value in the table.
	for _, nm := range [][2]int{{3, 3}, {3, 4}, {2, 6}, {2, 2}} {
		if p := exactP(nm[0], nm[1], 0); p <= 0.05 {
			t.Errorf("n=%d m=%d: p(U=0) = %.4f, but the table has no critical value", nm[0], nm[1], p)
		}
	}
}

func TestUCountsIsTheRankDistribution(t *testing.T) {
	for _, nm := range [][2]int{{1, 1}, {2, 3}, {4, 4}, {5, 7}, {12, 9}} {
		n, m := nm[0], nm[1]
		counts := uCounts(n, m)
		total := 0.0
		for u, c := range counts {
			total += c
			if mirror := counts[n*m-u]; mirror != c {
				t.Errorf("n=%d m=%d: count(U=%d) = %v but count(U=%d) = %v; the distribution is symmetric", n, m, u, c, n*m-u, mirror)
			}
		}
		if total != binomial(n+m, n) {
			t.Errorf("n=%d m=%d: %v arrangements, want C(%d,%d) = %v", n, m, total, n+m, n, binomial(n+m, n))
		}
	}
	// 4 vs 4 by hand: the partitions of u into at most 4 parts of at most 4.
	want := []float64{1, 1, 2, 3, 5, 5, 7, 7, 8, 7, 7, 5, 5, 3, 2, 1, 1}
	got := uCounts(4, 4)
	for u := range want {
		if got[u] != want[u] {
			t.Errorf("4 vs 4: count(U=%d) = %v, want %v", u, got[u], want[u])
		}
	}
}

func TestMinP(t *testing.T) {
	cases := []struct {
		n, m int
		want float64
	}{
		{4, 4, 2.0 / 70}, {3, 3, 0.1}, {3, 5, 2.0 / 56}, {5, 5, 2.0 / 252}, {1, 1, 1}, {0, 5, 1},
	}
	for _, c := range cases {
		if got := MinP(c.n, c.m); !near(got, c.want, 1e-15) {
			t.Errorf("MinP(%d, %d) = %v, want %v", c.n, c.m, got, c.want)
		}
	}
	if n := RunsForSignificance(0.05); n != 4 {
		t.Errorf("runs a side for α = 0.05: %d, want 4", n)
	}
	if n := RunsForSignificance(0.01); n != 5 {
		t.Errorf("runs a side for α = 0.01: %d, want 5 (2/252 < 0.01 < 2/70)", n)
	}
}

// Without ties, the normal approximation must agree with the exact p-value for large
// samples; at 50 a side both are computed.
func TestNormalApproachesExact(t *testing.T) {
	n, m := 40, 40
	for _, u := range []int{600, 700, 750} {
		exact := exactP(n, m, u)
		approx := normalP(n, m, float64(u), 0)
		if !near(exact, approx, 0.005) {
			t.Errorf("U=%d: exact %.5f, normal %.5f", u, exact, approx)
		}
	}
}

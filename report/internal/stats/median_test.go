package stats

import (
	"math"
	"testing"
)

// The interval is [x(k), x(n+1−k)] with coverage 1 − 2·P(Binomial(n, ½) ≤ k−1), the
// textbook sign-test interval: n = 6 → [x1, x6] at 1 − 2/64 = 96.9 %; n = 10 → [x2, x9] at
// 1 − 2·11/1024 = 97.9 %; n = 5 cannot reach 95 % (1 − 2/32 = 93.75 %).
func TestMedianCI(t *testing.T) {
	seq := func(n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = float64(i + 1)
		}
		return out
	}
	cases := []struct {
		n        int
		conf     float64
		ok       bool
		lo, hi   float64
		coverage float64
	}{
		{5, 0.95, false, 0, 0, 0},
		{6, 0.95, true, 1, 6, 1 - 2.0/64},
		{10, 0.95, true, 2, 9, 1 - 2*11.0/1024},
		{5, 0.90, true, 1, 5, 1 - 2.0/32},
		{1, 0.5, false, 0, 0, 0},
		{0, 0.95, false, 0, 0, 0},
	}
	for _, c := range cases {
		lo, hi, cov, ok := MedianCI(seq(c.n), c.conf)
		if ok != c.ok || lo != c.lo || hi != c.hi || math.Abs(cov-c.coverage) > 1e-12 {
			t.Errorf("n=%d conf=%v: [%v, %v] coverage %v ok %v; want [%v, %v] %v %v", c.n, c.conf, lo, hi, cov, ok, c.lo, c.hi, c.coverage, c.ok)
		}
	}
	if n := RunsForCI(0.95); n != 6 {
		t.Errorf("runs for a 95%% interval: %d, want 6", n)
	}
}

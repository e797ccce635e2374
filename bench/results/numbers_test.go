package results

import (
	"math"
	"slices"
	"testing"
)

func TestTrimFloat(t *testing.T) {
	tests := []struct {
		f        float64
		decimals int
		want     string
	}{
		{2, 3, "2"}, {2.5, 3, "2.5"}, {0.125, 3, "0.125"}, {100, 3, "100"}, {1.0 / 3, 3, "0.333"},
		{0.0004, 3, "0"}, {2.9996, 3, "3"},
		{2, -1, "2"}, {100, -1, "100"}, {2.5, -1, "2.5"}, {1.0 / 3, -1, "0.3333333333333333"},
		{0.0005, -1, "0.0005"}, {1e21, -1, "1000000000000000000000"},
	}
	for _, tt := range tests {
		if got := TrimFloat(tt.f, tt.decimals); got != tt.want {
			t.Errorf("TrimFloat(%v, %d) = %q, want %q", tt.f, tt.decimals, got, tt.want)
		}
	}
	if got := (Stage{Rate: 2.5}).DefaultName(); got != "rate=2.5/s" {
		t.Errorf("stage name %q", got)
	}
}

func TestMedian(t *testing.T) {
	if !math.IsNaN(Median(nil)) {
		t.Error("median of none is not NaN")
	}
	vals := []float64{5, 1, 3, 2}
	if got := Median(vals); got != 2.5 {
		t.Errorf("median = %v, want 2.5", got)
	}
	if !slices.Equal(vals, []float64{5, 1, 3, 2}) {
		t.Errorf("Median reordered its input: %v", vals)
	}
	if got := Median([]float64{7, 1, 4}); got != 4 {
		t.Errorf("odd median = %v, want 4", got)
	}
}

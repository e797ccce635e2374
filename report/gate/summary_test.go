package gate

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	s := Summarize([]float64{5, 1, 4, 2, 3, 6}, 0.95)
	if s.Median != 3.5 || !s.HasCI || s.Lo != 1 || s.Hi != 6 {
		t.Errorf("summary %+v", s)
	}
	if s := Summarize([]float64{7, 1, 3}, 0.95); s.Median != 3 || s.HasCI {
		t.Errorf("odd summary %+v", s)
	}
	if s := Summarize(nil, 0.95); !math.IsNaN(s.Median) || s.N() != 0 {
		t.Errorf("empty summary %+v", s)
	}
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

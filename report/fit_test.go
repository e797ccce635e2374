package report

import (
	"strings"
	"testing"
)

// A table wider than the terminal wraps its column names, then splits into tables that each
// repeat the first column, and wraps a long text cell; numbers stay right-aligned.
func TestFitTable(t *testing.T) {
	cols := []column{{name: "setting"}, {name: "output tok/s", right: true}, {name: "decode tok/s per request", right: true},
		{name: "effective parallelism", right: true}, {name: "SLO"}}
	rows := [][]string{{"num_parallel=1", "1864", "2007", "6.24", "misses: ttft_p95 +144%, e2e_p95 +38%, tpot_p95 +12%, errors.rate +3pp"}}
	got := strings.Join(fitTable(cols, rows, 40, "  "), "\n")
	want := `                           decode
                            tok/s
                  output      per
  setting          tok/s  request
  num_parallel=1    1864     2007

                    effective
  setting         parallelism
  num_parallel=1         6.24

  setting         SLO
  num_parallel=1  misses: ttft_p95
                  +144%, e2e_p95 +38%,
                  tpot_p95 +12%,
                  errors.rate +3pp`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	for _, l := range strings.Split(got, "\n") {
		if runes(l) > 40 {
			t.Errorf("%q is wider than 40", l)
		}
	}
	// A table that fits is left on one line per row, names whole.
	if got := fitTable(cols[:2], rows, 80, ""); len(got) != 2 || got[0] != "setting         output tok/s" {
		t.Errorf("a table that fits: %q", got)
	}
}

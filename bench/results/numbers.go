package results

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// Round3 rounds to three decimals, the precision of a results file's figures (a microsecond
// of a millisecond figure).
func Round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// TrimFloat writes f in decimal without trailing zeros: 2, 2.5, 0.125. decimals ≥ 0 rounds to
// that many places first (stage names give a rate to 3); -1 keeps the shortest text that reads
// back as f.
func TrimFloat(f float64, decimals int) string {
	s := strconv.FormatFloat(f, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// Median is the middle of values, or the mean of the two middle ones; NaN for none. values
// is left as it is.
func Median(values []float64) float64 {
	n := len(values)
	if n == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(values))
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

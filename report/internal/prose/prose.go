// Package prose writes figures the way the report's sentences and tables show them, so that
// the analysis (whose notes and recommendation are sentences) and the renderers agree on
// "850 ms", "12%" and "a, b and c".
package prose

import (
	"fmt"
	"math"
	"strings"

	"github.com/llmload/llmload/bench/results"
)

// Num prints a millisecond figure or a rate with precision that suits its size: "812",
// "45.3", "0.52".
func Num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// Rate prints a throughput figure: the same precision rule as latencies.
func Rate(v float64) string { return Num(v) }

// Ms prints a latency for prose and tables: "850 ms", "12.3 ms", "3.10 s".
func Ms(ms float64) string {
	switch {
	case math.IsNaN(ms) || math.IsInf(ms, 0):
		return "-"
	case ms >= 1000:
		return fmt.Sprintf("%.2f s", ms/1000)
	default:
		return Num(ms) + " ms"
	}
}

// Pct prints a fraction as a percentage with precision that suits its size.
func Pct(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "∞"
	case math.IsNaN(f):
		return "-"
	case math.Abs(f) >= 0.1:
		return fmt.Sprintf("%.0f%%", 100*f)
	default:
		return fmt.Sprintf("%.1f%%", 100*f)
	}
}

// SignedPct is Pct with an explicit sign: "+64%", "-3.0%".
func SignedPct(f float64) string {
	if f >= 0 {
		return "+" + Pct(f)
	}
	return "-" + Pct(-f)
}

// MiB prints a memory figure.
func MiB(v float64) string { return fmt.Sprintf("%.0f MiB", v) }

// JoinAnd joins "a", "a and b", "a, b and c".
func JoinAnd(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// Plural is "s" unless n is 1.
func Plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Labels is "a=1, b=2" in key order.
func Labels(labels map[string]string) string { return results.LabelText(labels) }

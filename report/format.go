package report

import (
	"fmt"
	"math"
	"strings"
)

// msText prints a latency for prose and tables: "850 ms", "12.3 ms", "3.10 s".
func msText(ms float64) string {
	switch {
	case math.IsNaN(ms) || math.IsInf(ms, 0):
		return "-"
	case ms >= 1000:
		return fmt.Sprintf("%.2f s", ms/1000)
	default:
		return num(ms) + " ms"
	}
}

// pct prints a fraction as a percentage with precision that suits its size.
func pct(f float64) string {
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

// signedPct is pct with an explicit sign: "+64%", "-3.0%".
func signedPct(f float64) string {
	if f >= 0 {
		return "+" + pct(f)
	}
	return "-" + pct(-f)
}

// rate prints a throughput figure: "812", "45.3", "0.52" — the same precision rule as
// latencies.
func rate(v float64) string { return num(v) }

// mib prints a memory figure.
func mib(v float64) string { return fmt.Sprintf("%.0f MiB", v) }

// optMs prints a millisecond figure of a table, "-" when not measured.
func optMs(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return num(v)
}

// joinAnd joins "a", "a and b", "a, b and c".
func joinAnd(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

package gate

import "github.com/llmload/llmload/report/internal/stats"

// UTest is the outcome of a two-sided Mann-Whitney U test (see stats.UTest).
type UTest = stats.UTest

// Method says how a Mann-Whitney p-value was found.
type Method = stats.Method

// How a p-value was found: exactly, or by the normal approximation with tie correction.
const (
	MethodExact  = stats.MethodExact
	MethodNormal = stats.MethodNormal
)

// MannWhitney tests whether x and y come from one distribution, against the alternative that
// one tends to be larger (two-sided); see stats.MannWhitney.
func MannWhitney(x, y []float64) UTest { return stats.MannWhitney(x, y) }

// MinP is the smallest two-sided p-value samples of n and m values can give: 2/C(n+m, n).
func MinP(n, m int) float64 { return stats.MinP(n, m) }

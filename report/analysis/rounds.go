package analysis

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/internal/prose"
	"github.com/llmload/llmload/report/internal/stats"
)

// Alpha is the significance level at which a setting's gain over another counts: the gate's.
const Alpha = 0.05

// Interval bounds a median over runs without assuming a distribution: the 95 % interval when
// there are enough runs (6), else the range of the runs with the confidence it has (1 − 2/2ⁿ:
// 3 runs 75 %, 4 runs 87.5 %, 5 runs 93.75 %).
type Interval struct {
	Lo         float64 `json:"lo"`
	Hi         float64 `json:"hi"`
	Confidence float64 `json:"confidence"`
	Runs       int     `json:"runs"`
}

// interval is the median's interval over values; nil for fewer than two.
func interval(values []float64) *Interval {
	if len(values) < 2 {
		return nil
	}
	vs := slices.Sorted(slices.Values(values))
	if lo, hi, c, ok := stats.MedianCI(vs, 1-Alpha); ok {
		return &Interval{Lo: lo, Hi: hi, Confidence: c, Runs: len(vs)}
	}
	return &Interval{Lo: vs[0], Hi: vs[len(vs)-1], Confidence: stats.RangeCoverage(len(vs)), Runs: len(vs)}
}

// String is "1,180–1,260 (87.5 %)".
func (iv *Interval) String() string {
	return fmt.Sprintf("%s–%s (%s)", prose.Rate(iv.Lo), prose.Rate(iv.Hi), confText(iv.Confidence))
}

func confText(c float64) string {
	return strings.TrimRight(strings.TrimRight(strconv.FormatFloat(100*c, 'f', 2, 64), "0"), ".") + " %"
}

// GainTest says whether one setting's output tok/s differ from another's beyond chance, over
// their runs at the judged level: the gate's two-sided Mann-Whitney U test.
type GainTest struct {
	// Over is the setting compared against.
	Over string `json:"over"`
	// Change is this setting's median over the other's, minus one.
	Change float64 `json:"change"`
	P      float64 `json:"p"`
	// N and M are the runs on each side (this setting's, the other's).
	N int `json:"runs"`
	M int `json:"runs_over"`
	// Testable says the runs can reach p < Alpha at all (4 a side); MinP is the smallest
	// p-value they can give.
	Testable bool    `json:"testable"`
	MinP     float64 `json:"min_p"`
	// Significant is P < Alpha on a testable comparison.
	Significant bool `json:"significant"`
	// Wins counts the rounds in which this setting did better than the other, of the Rounds
	// both ran; 0 and 0 without round labels.
	Wins   int `json:"wins,omitempty"`
	Rounds int `json:"rounds,omitempty"`
}

// testGain tests a's judged output tok/s against b's; nil when either was not judged.
func testGain(a, b *Setting) *GainTest {
	if a.Judged == nil || b.Judged == nil {
		return nil
	}
	x, y := a.Judged.throughputs(), b.Judged.throughputs()
	if len(x) == 0 || len(y) == 0 {
		return nil
	}
	u := stats.MannWhitney(x, y)
	g := &GainTest{Over: b.Value, P: u.P, N: len(x), M: len(y), MinP: stats.MinP(len(x), len(y))}
	if mb := results.Median(y); mb > 0 {
		g.Change = results.Median(x)/mb - 1
	}
	g.Testable = g.MinP < Alpha
	g.Significant = g.Testable && g.P < Alpha
	ra, rb := a.Judged.byRound(), b.Judged.byRound()
	for r, v := range ra {
		if w, ok := rb[r]; ok {
			g.Rounds++
			if v > w {
				g.Wins++
			}
		}
	}
	return g
}

// throughputs are the level's output tok/s, one per run.
func (l *Level) throughputs() []float64 {
	var out []float64
	for _, smp := range l.samples {
		out = append(out, smp.st.Throughput.OutputTokensPerS)
	}
	return out
}

// byRound are the level's output tok/s by round, for runs labelled with one (a round run
// twice, by repeats, keeps its median).
func (l *Level) byRound() map[string]float64 {
	all := map[string][]float64{}
	for _, smp := range l.samples {
		if smp.round != "" {
			all[smp.round] = append(all[smp.round], smp.st.Throughput.OutputTokensPerS)
		}
	}
	out := make(map[string]float64, len(all))
	for r, v := range all {
		out[r] = results.Median(v)
	}
	return out
}

// pText is "p = 0.0079", "p = 0.42", "p < 0.0001".
func pText(p float64) string {
	if p < 0.0001 {
		return "p < 0.0001"
	}
	if p >= 0.995 {
		return "p = 1"
	}
	return "p = " + strconv.FormatFloat(p, 'g', 2, 64)
}

// text says the test in a few words: "+31% tok/s over num_parallel=2, better in 5 of 5
// rounds, p = 0.0079".
func (g *GainTest) text(c *Comparison) string {
	s := fmt.Sprintf("%s tok/s over %s", prose.SignedPct(g.Change), c.Name(g.Over))
	if g.Rounds > 0 {
		s += fmt.Sprintf(", better in %d of %d rounds", g.Wins, g.Rounds)
	} else {
		s += fmt.Sprintf(", %d runs against %d", g.N, g.M)
	}
	return s + ", " + pText(g.P)
}

// Cell is the gain as a table shows it: "+31% (p=0.0079)", "+3% ~ (p=0.42)" (benchstat's ~: not
// significant), or "+3%" when the runs cannot be tested.
func (g *GainTest) Cell() string {
	switch {
	case g.Significant:
		return fmt.Sprintf("%s (%s)", prose.SignedPct(g.Change), strings.ReplaceAll(pText(g.P), " ", ""))
	case g.Testable:
		return fmt.Sprintf("%s ~ (%s)", prose.SignedPct(g.Change), strings.ReplaceAll(pText(g.P), " ", ""))
	}
	return prose.SignedPct(g.Change)
}

// better reports whether setting a beats b by the knee's gain in a way the runs can tell:
// its median is at least KneeGain higher and, when the runs can be tested, significantly so.
// Runs too few to test (one a side, or three) leave the medians to decide, as before rounds.
func (c *Comparison) better(a, b *Setting) bool {
	if a.Judged == nil || b.Judged == nil || a.Judged.OutputTokensPerS < b.Judged.OutputTokensPerS*(1+c.KneeGain) {
		return false
	}
	g := testGain(a, b)
	return g == nil || !g.Testable || g.Significant
}

// sureness says how sure the recommendation of chosen is: its gain over its neighbour (the
// setting before it, or after it when it is the first) across the runs, with the test's
// verdict, or that the runs are too few to tell.
func (c *Comparison) sureness(chosen, best *Setting) (string, *GainTest, []string) {
	i := slices.Index(c.Settings, chosen)
	var other *Setting
	for j := i - 1; j >= 0 && other == nil; j-- {
		if c.Settings[j].Judged != nil {
			other = c.Settings[j]
		}
	}
	for j := i + 1; j < len(c.Settings) && other == nil; j++ {
		if c.Settings[j].Judged != nil {
			other = c.Settings[j]
		}
	}
	if other == nil {
		return "", nil, nil
	}
	g := testGain(chosen, other)
	if g == nil {
		return "", nil, nil
	}
	runs := min(g.N, g.M)
	need := stats.RunsForSignificance(Alpha)
	var s string
	var alike []string
	switch {
	case g.N == 1 && g.M == 1:
		s = fmt.Sprintf("How sure: each setting was measured once, so nothing tells the settings' differences from this machine's own variation; %d rounds or more (sweep --rounds %d) can test them.", need, need)
	case !g.Testable:
		s = fmt.Sprintf("How sure: %s: not tested, %d rounds a side cannot show a difference at α = %g (the smallest p-value they can give is %s); it takes %d (sweep --rounds %d).",
			c.Name(chosen.Value)+": "+g.text(c), runs, Alpha, strconv.FormatFloat(g.MinP, 'g', 2, 64), need, need)
	case g.Significant:
		s = fmt.Sprintf("How sure: %s: %s.", c.Name(chosen.Value), g.text(c))
	default:
		s = fmt.Sprintf("How sure: %s and %s are not distinguishable on this machine: %s, %s.", c.Name(chosen.Value), c.Name(other.Value),
			strings.TrimSuffix(g.text(c), ", "+pText(g.P)), pText(g.P))
		alike = append(alike, chosen.Value, other.Value)
	}
	if best != chosen && best.Judged != nil {
		if bg := testGain(best, chosen); bg != nil && bg.Testable && !bg.Significant {
			s += fmt.Sprintf(" %s's %s more is not significant either (%s).", c.Name(best.Value), prose.SignedPct(bg.Change), pText(bg.P))
			if !slices.Contains(alike, best.Value) {
				alike = append(alike, best.Value)
				if !slices.Contains(alike, chosen.Value) {
					alike = append(alike, chosen.Value)
				}
			}
		}
	}
	return s, g, alike
}

// runRound is a run's round label, "" when it has none.
func runRound(r *results.Run) string { return r.Labels[results.LabelRound] }

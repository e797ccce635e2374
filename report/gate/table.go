package gate

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/printable"
)

// row is a check as the table and the markdown show it.
type row struct {
	series, metric, baseline, current, delta, p, verdict, notes string
}

func rowOf(c *Check) row {
	rw := row{series: printable.Line(c.Series), metric: printable.Line(c.Name), current: summaryCell(c.Metric.Unit, c.Current)}
	switch c.Verdict {
	case Pass:
		rw.verdict = "pass"
	case Fail:
		rw.verdict = "FAIL"
	default:
		rw.verdict = "skip"
	}
	if c.Kind == KindAssertion {
		if n := c.Current.N(); n > 1 {
			rw.p = "n=" + strconv.Itoa(n)
		}
	} else {
		rw.baseline = summaryCell(c.Metric.Unit, *c.Baseline)
		if c.Test != nil {
			rw.p = fmt.Sprintf("p=%s n=%d+%d", pValueText(c.Test.P), c.Test.N, c.Test.M)
			rw.delta = changeText(c.Change)
			if c.Testable && !c.Significant {
				rw.delta = "~"
			}
		}
	}
	if len(c.Notes) > 0 {
		var ns []string
		for _, n := range c.Notes {
			ns = append(ns, strconv.Itoa(n))
		}
		rw.notes = "[" + strings.Join(ns, ",") + "]"
	}
	return rw
}

// summaryCell is "38.9ms ±1%": the median and the half-width of its confidence interval
// relative to it (the wider side), or the median alone when there is no interval.
func summaryCell(u results.Unit, s Summary) string {
	if s.N() == 0 {
		return "—"
	}
	out := u.Format(s.Median)
	if s.N() > 1 && s.HasCI {
		half := math.Max(s.Hi-s.Median, s.Median-s.Lo)
		if s.Median != 0 {
			out += " ±" + sig(100*half/math.Abs(s.Median)) + "%"
		} else {
			out += " ±" + u.Format(half)
		}
	}
	return out
}

// errWriter keeps the first write error, so writers can print freely and check once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// Verdict line: "gate: PASS (5 checks)" or "gate: FAIL (2 of 5 checks failed)".
func (r *Result) summaryLine() string {
	n := len(r.Checks)
	if f := r.Failed(); f > 0 {
		return fmt.Sprintf("FAIL (%d of %d checks failed)", f, n)
	}
	if n == 1 {
		return "PASS (1 check)"
	}
	return fmt.Sprintf("PASS (%d checks)", n)
}

// WriteTable writes the judgment for a terminal: what was read, one row per check
// (stage, metric, baseline, current, delta, p, verdict), the failures, then the footnotes.
func WriteTable(w io.Writer, r *Result) error {
	ew := &errWriter{w: w}
	ew.printf("current:  %s\n", printable.Line(r.CurrentRuns))
	if r.BaselineRuns != "" {
		ew.printf("baseline: %s\n", printable.Line(r.BaselineRuns))
		ew.printf("a change fails when significant (two-sided Mann-Whitney U, α = %g) and beyond its tolerance; ~ = not significant\n", r.Alpha)
	}
	if hasKind(r, KindAssertion) {
		ew.printf("assertions judge the median of the runs\n")
	}
	ew.printf("\n")
	tw := tabwriter.NewWriter(ew.w, 0, 0, 2, ' ', 0)
	tab := &errWriter{w: tw}
	tab.printf("STAGE\tMETRIC\tBASELINE\tCURRENT\tDELTA\tP\tVERDICT\n")
	for _, c := range r.Checks {
		rw := rowOf(c)
		verdict := rw.verdict
		if rw.notes != "" {
			verdict += " " + rw.notes
		}
		tab.printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(rw.series), rw.metric, dash(rw.baseline), rw.current, dash(rw.delta), dash(rw.p), verdict)
	}
	if tab.err != nil {
		return tab.err
	}
	if ew.err == nil {
		ew.err = tw.Flush()
	}
	if f := r.Failed(); f > 0 {
		ew.printf("\nfailed:\n")
		for _, c := range r.Checks {
			if c.Verdict == Fail {
				ew.printf("  %s %s: %s\n", printable.Line(c.Series), printable.Line(c.Name), printable.Line(c.Reason))
			}
		}
	}
	if len(r.Notes) > 0 {
		ew.printf("\n")
		for i, n := range r.Notes {
			ew.printf("[%d] %s\n", i+1, printable.Line(n))
		}
	}
	ew.printf("\ngate: %s\n", r.summaryLine())
	return ew.err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func hasKind(r *Result, k Kind) bool {
	for _, c := range r.Checks {
		if c.Kind == k {
			return true
		}
	}
	return false
}

// mdCode escapes text for a code span in a table cell: pipes would end the cell even there,
// a line break the row, a backtick the span. HTML inside a code span is shown, not run.
// Control characters and bidi overrides go first (printable.Line).
func mdCode(s string) string {
	return strings.NewReplacer("|", `\|`, "`", "'").Replace(printable.Line(s))
}

// mdCell escapes plain text for a table cell: mdText, and pipes.
func mdCell(s string) string { return strings.ReplaceAll(mdText(s), "|", `\|`) }

// mdText escapes text outside tables: characters that would start HTML, links or emphasis.
// Control characters, bidi overrides and line breaks go first (printable.Line).
func mdText(s string) string {
	return strings.NewReplacer(`\`, `\\`, "<", "&lt;", ">", "&gt;", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "`", "'").Replace(printable.Line(s))
}

// WriteMarkdown writes the judgment as GitHub markdown, for $GITHUB_STEP_SUMMARY or a PR
// comment: a verdict heading, the table, failures and footnotes.
func WriteMarkdown(w io.Writer, r *Result) error {
	ew := &errWriter{w: w}
	icon := "✅"
	if !r.Passed() {
		icon = "❌"
	}
	ew.printf("### %s llmload gate: %s\n\n", icon, r.summaryLine())
	ew.printf("Current: %s", mdText(r.CurrentRuns))
	if r.BaselineRuns != "" {
		ew.printf("<br>Baseline: %s<br>A change fails when significant (two-sided Mann-Whitney U, α = %g) and beyond its tolerance; ~ = not significant.", mdText(r.BaselineRuns), r.Alpha)
	}
	if hasKind(r, KindAssertion) {
		ew.printf("<br>Assertions judge the median of the runs.")
	}
	ew.printf("\n\n| Stage | Metric | Baseline | Current | Delta | p | Verdict |\n|---|---|--:|--:|--:|---|---|\n")
	for _, c := range r.Checks {
		rw := rowOf(c)
		verdict := map[string]string{"pass": "✅ pass", "FAIL": "❌ **FAIL**", "skip": "➖ skip"}[rw.verdict]
		if rw.notes != "" {
			verdict += " " + rw.notes
		}
		ew.printf("| %s | `%s` | %s | %s | %s | %s | %s |\n", mdCell(dash(rw.series)), mdCode(rw.metric), mdCell(dash(rw.baseline)),
			mdCell(rw.current), mdCell(dash(rw.delta)), mdCell(dash(rw.p)), verdict)
	}
	if r.Failed() > 0 {
		ew.printf("\n**Failed**\n\n")
		for _, c := range r.Checks {
			if c.Verdict == Fail {
				ew.printf("- %s `%s`: %s\n", mdText(c.Series), mdCode(c.Name), mdText(c.Reason))
			}
		}
	}
	if len(r.Notes) > 0 {
		ew.printf("\n")
		for i, n := range r.Notes {
			ew.printf("[%d] %s<br>\n", i+1, mdText(n))
		}
	}
	ew.printf("\n")
	return ew.err
}

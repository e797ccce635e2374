package gate

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/llmload/llmload/bench/results"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Cases     []junitCase `xml:"testcase"`
	SystemOut string      `xml:"system-out,omitempty"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure"`
	Skipped   *junitMessage `xml:"skipped"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the judgment as JUnit XML, one test case per check (each assertion or
// comparison on each stage), so CI systems list the checks and show the failed ones.
func WriteJUnit(w io.Writer, r *Result) error {
	suite := junitSuite{Name: "llmload gate", Time: "0"}
	for _, c := range r.Checks {
		tc := junitCase{
			Name:      c.Series + ": " + c.Name,
			Classname: "llmload.gate." + string(c.Kind),
			Time:      "0",
		}
		detail := checkDetail(r, c)
		switch c.Verdict {
		case Fail:
			suite.Failures++
			tc.Failure = &junitMessage{Message: c.Reason, Type: string(c.Kind), Text: detail}
		case Skip:
			suite.Skipped++
			tc.Skipped = &junitMessage{Message: c.Reason}
		default:
			tc.SystemOut = detail
		}
		suite.Cases = append(suite.Cases, tc)
	}
	suite.Tests = len(suite.Cases)
	var out []string
	out = append(out, "current: "+r.CurrentRuns)
	if r.BaselineRuns != "" {
		out = append(out, "baseline: "+r.BaselineRuns)
	}
	for i, n := range r.Notes {
		out = append(out, fmt.Sprintf("[%d] %s", i+1, n))
	}
	suite.SystemOut = strings.Join(out, "\n")
	doc := junitSuites{Name: "llmload gate", Tests: suite.Tests, Failures: suite.Failures, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// checkDetail is a check in a few lines of text: the verdict's reason, the values, notes.
func checkDetail(r *Result, c *Check) string {
	lines := []string{c.Reason}
	if c.Baseline != nil {
		lines = append(lines, "baseline: "+valuesText(c.Metric.Unit, *c.Baseline))
	}
	lines = append(lines, "current: "+valuesText(c.Metric.Unit, c.Current))
	for _, n := range c.Notes {
		if n >= 1 && n <= len(r.Notes) {
			lines = append(lines, fmt.Sprintf("[%d] %s", n, r.Notes[n-1]))
		}
	}
	return strings.Join(lines, "\n")
}

// valuesText is "median 38.9ms ±1% of 5 runs: 38.1ms 38.5ms …".
func valuesText(u results.Unit, s Summary) string {
	if s.N() == 0 {
		return "not measured"
	}
	vs := make([]string, len(s.Values))
	for i, v := range s.Values {
		vs[i] = u.Format(v)
	}
	return fmt.Sprintf("median %s of %d: %s", summaryCell(u, s), s.N(), strings.Join(vs, " "))
}

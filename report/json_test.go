package report

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/analysis"
)

// The JSON format is the analysis: every note the markdown shows is in it, with its kind,
// its severity and what it concerns, in the same order.
func TestJSONCarriesTheNotesTheReportShows(t *testing.T) {
	for _, tc := range goldenCases(t) {
		if tc.opts.Format != FormatMarkdown {
			continue
		}
		t.Run(tc.golden, func(t *testing.T) {
			paths, names := readFixtures(t, tc.files...)
			files, err := results.ReadFiles(paths)
			if err != nil {
				t.Fatal(err)
			}
			opts := tc.opts
			opts.Sources = names
			var md, js bytes.Buffer
			if err := Render(&md, files, opts); err != nil {
				t.Fatal(err)
			}
			opts.Format = FormatJSON
			if err := Render(&js, files, opts); err != nil {
				t.Fatal(err)
			}
			var a struct{ Notes []analysis.Note }
			if err := json.Unmarshal(js.Bytes(), &a); err != nil {
				t.Fatal(err)
			}
			var shown []string
			_, notes, _ := strings.Cut(md.String(), "\n## Notes\n\n")
			notes, _, _ = strings.Cut(notes, "\n\n")
			for _, line := range strings.Split(notes, "\n") {
				if item, ok := strings.CutPrefix(line, "- "); ok {
					shown = append(shown, item)
				}
			}
			if len(shown) != len(a.Notes) {
				t.Fatalf("the markdown shows %d notes, the JSON holds %d", len(shown), len(a.Notes))
			}
			for i, n := range a.Notes {
				if shown[i] != mdBlockStart(mdEscape(n.Text)) {
					t.Errorf("note %d: markdown %q, JSON %q", i+1, shown[i], n.Text)
				}
				if n.Kind == "" || n.Severity == "" || len(n.Runs)+len(n.Stages)+len(n.Settings) == 0 && n.Kind != analysis.KindMixedServers && n.Kind != analysis.KindMixedHosts && n.Kind != analysis.KindUnequalLoad {
					t.Errorf("note %d lacks its kind, severity or what it concerns: %+v", i+1, n)
				}
			}
		})
	}
}

func TestWriteComparisonNeedsAComparison(t *testing.T) {
	if err := WriteComparison(&bytes.Buffer{}, nil); err == nil {
		t.Error("WriteComparison(nil) did not fail")
	}
}

// Reading results files links no chart library outside the renderers: the gate and the
// analysis depend on bench/results (and the analysis on its prose helper) alone.
func TestAnalysisAndGateLinkNoCharts(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	for pkg, allowed := range map[string][]string{
		"./gate":     {"bench/results", "report/gate"},
		"./analysis": {"bench/results", "report/internal/prose", "report/analysis"},
	} {
		out, err := exec.Command(goTool, "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "gonum.org/v1/plot") {
				t.Errorf("%s links %s", pkg, dep)
			}
			if own, ok := strings.CutPrefix(dep, "github.com/llmload/llmload/"); ok && !contains(allowed, own) {
				t.Errorf("%s depends on %s", pkg, own)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

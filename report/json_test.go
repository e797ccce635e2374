package report

import (
	"bytes"
	"encoding/json"
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

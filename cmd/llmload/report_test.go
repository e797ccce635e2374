package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An HTML report is one self-contained page, on stdout as with -o: its charts are inline SVG,
// no file beside it, so it can be attached to a CI job or mailed.
func TestHTMLReportIsOnePage(t *testing.T) {
	dir := t.TempDir()
	sweep, _ := filepath.Abs("../../testdata/results/sweep.json")
	r := llmload(t, dir, "report", sweep, "-f", "html")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if n := strings.Count(r.stdout, "<svg "); n < 5 || strings.Contains(r.stdout, "<img") {
		t.Errorf("on stdout: %d inline charts, <img> %v", n, strings.Contains(r.stdout, "<img"))
	}
	r = llmload(t, dir, "report", sweep, "-f", "html", "-o", "r.html")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	page, err := os.ReadFile(filepath.Join(dir, "r.html"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(page), "<svg ") < 5 || strings.Contains(string(page), "r_files/") {
		t.Errorf("-o r.html: charts not inline")
	}
	if _, err := os.Stat(filepath.Join(dir, "r_files")); err == nil || strings.Contains(r.stderr, "charts in") {
		t.Errorf("-o r.html wrote a charts folder: %s", r.stderr)
	}
	// --no-charts draws none; markdown keeps its folder.
	if r = llmload(t, dir, "report", sweep, "-f", "html", "--no-charts"); strings.Contains(r.stdout, "<svg") {
		t.Error("--no-charts: charts drawn")
	}
	if r = llmload(t, dir, "report", sweep, "-o", "r.md"); r.code != 0 {
		t.Fatalf("markdown: exit %d: %s", r.code, r.stderr)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "r_files", "*.svg")); len(m) < 5 {
		t.Errorf("markdown -o r.md: %d charts beside it", len(m))
	}
}

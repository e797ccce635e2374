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

// HdrHistogram's plotter reads one distribution per file: --format hgrm writes one, picked
// with --run and --stage, or a file each into the folder -o names.
func TestHgrmOnePerFile(t *testing.T) {
	dir := t.TempDir()
	sweep, _ := filepath.Abs("../../testdata/results/sweep.json")
	r := llmload(t, dir, "report", sweep, "-f", "hgrm")
	if r.code != exitBadInput || !strings.Contains(r.stderr, "12 distributions selected, and HdrHistogram's plotter reads one per file: pick one with --run and --stage, or give -o DIR/") {
		t.Errorf("every stage on stdout: exit %d, %s", r.code, r.stderr)
	}
	r = llmload(t, dir, "report", sweep, "-f", "hgrm", "--run", "num_parallel=2", "--stage", "c=4", "--metric", "ttft")
	if r.code != 0 || strings.Count(r.stdout, "# llmload ttft latency, run num_parallel=2, stage c=4") != 1 || strings.Count(r.stdout, "#[Buckets") != 1 {
		t.Errorf("one selected: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = llmload(t, dir, "report", sweep, "-f", "hgrm", "-o", "hgrm/", "--metric", "e2e")
	m, _ := filepath.Glob(filepath.Join(dir, "hgrm", "*.hgrm"))
	if r.code != 0 || len(m) != 12 {
		t.Fatalf("-o hgrm/: exit %d, %d files: %s", r.code, len(m), r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "hgrm", "num_parallel=4_c=8_e2e.hgrm"))
	if err != nil || strings.Count(string(b), "#[Buckets") != 1 {
		t.Errorf("num_parallel=4_c=8_e2e.hgrm: %v\n%s", err, b)
	}
	if r = llmload(t, dir, "report", sweep, "--stage", "c=8"); r.code != exitBadInput || !strings.Contains(r.stderr, "--run and --stage select the distribution of --format hgrm") {
		t.Errorf("--stage with markdown: exit %d, %s", r.code, r.stderr)
	}
}

// The terminal gets the answer first and nothing wider than 80 columns: the run summary (its
// first line says which stage did best), the sweep's comparison before its settings in short,
// and `report --format text`.
func TestTerminalOutputFits80Columns(t *testing.T) {
	dir := t.TempDir()
	wide := func(what, out string) {
		t.Helper()
		for i, l := range strings.Split(out, "\n") {
			if n := len([]rune(l)); n > 80 {
				t.Errorf("%s: line %d is %d columns: %s", what, i+1, n, l)
			}
		}
	}
	r := llmload(t, dir, "run", "--sim", "--sim-speed", "8", "-c", "1,4", "-n", "8", "--max-tokens", "32", "--gpu", "sim", "--no-progress", "-o", "run.json")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	wide("run", r.stdout)
	if !strings.HasPrefix(r.stdout, "Most throughput at c=") || !strings.Contains(r.stdout, "\nStage c=4 (closed loop, 4 workers)") {
		t.Errorf("run: the answer does not come first:\n%s", r.stdout)
	}
	r = llmload(t, dir, "sweep", "--sim", "--sim-speed", "8", "--num-parallel", "1,2", "-c", "1,4", "-n", "8", "--max-tokens", "32", "--no-progress", "-o", "sweep/")
	if r.code != 0 {
		t.Fatalf("sweep: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	wide("sweep", r.stdout)
	rec, setting := strings.Index(r.stdout, "Recommended: num_parallel="), strings.Index(r.stdout, "=== NUM_PARALLEL=1 ===")
	if rec < 0 || setting < rec || strings.Contains(r.stdout, "latency ms") {
		t.Errorf("sweep: the recommendation does not come first, or the settings are not in short:\n%s", r.stdout)
	}
	r = llmload(t, dir, "report", "sweep/num_parallel-1.json", "sweep/num_parallel-2.json", "run.json", "-f", "text")
	if r.code != 0 {
		t.Fatalf("report: exit %d\n%s", r.code, r.stderr)
	}
	wide("report -f text", r.stdout)
}

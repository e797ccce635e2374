package report

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/analysis"
	goldenfile "github.com/llmload/llmload/report/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const resultsDir = "../testdata/results"

// readFixtures reads results files from testdata/results by base name.
func readFixtures(t *testing.T, names ...string) ([]string, []string) {
	t.Helper()
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = filepath.Join(resultsDir, n)
	}
	return paths, names
}

func mustSLO(t *testing.T, s string) analysis.SLO {
	t.Helper()
	slo, err := analysis.ParseSLO(s)
	if err != nil {
		t.Fatal(err)
	}
	return slo
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, "./report", name, got, *update)
}

type goldenCase struct {
	golden string
	files  []string
	opts   Options
	charts []string // chart files the report must write (markdown and HTML)
}

func goldenCases(t *testing.T) []goldenCase {
	sweep := []string{"sweep.json"}
	files := []string{"run-np1.json", "run-np2.json", "run-np4.json"}
	slo, err := analysis.ParseSLO("ttft_p95=100ms,e2e_p95=200ms")
	if err != nil {
		t.Fatal(err)
	}
	tight, err := analysis.ParseSLO("ttft_p95=20ms")
	if err != nil {
		t.Fatal(err)
	}
	sweepCharts := []string{"decomposition.svg", "latency-e2e-1.svg", "latency-e2e-2.svg", "latency-e2e-3.svg", "latency-ttft-1.svg", "latency-ttft-2.svg", "latency-ttft-3.svg",
		"throughput.svg", "timeline-1.svg", "timeline-2.svg", "timeline-3.svg", "ttft-p95.svg"}
	return []goldenCase{
		{golden: "sweep.md", files: sweep, opts: Options{Format: FormatMarkdown, SLO: slo, ChartsLink: "sweep_files"}, charts: sweepCharts},
		{golden: "sweep.html", files: sweep, opts: Options{Format: FormatHTML, SLO: slo, ChartsLink: "sweep_files"}, charts: sweepCharts},
		{golden: "sweep.txt", files: sweep, opts: Options{Format: FormatText, SLO: slo}},
		{golden: "sweep.csv", files: sweep, opts: Options{Format: FormatCSV}},
		{golden: "sweep.json", files: sweep, opts: Options{Format: FormatJSON, SLO: slo}},
		{golden: "sweep.hgrm", files: sweep, opts: Options{Format: FormatHgrm, Run: "num_parallel=4", Stage: "c=8"}},
		{golden: "sweep-ttft.hgrm", files: sweep, opts: Options{Format: FormatHgrm, Metric: "ttft", Run: "num_parallel=1", Stage: "c=4"}},
		{golden: "sweep-slo-missed.md", files: sweep, opts: Options{Format: FormatMarkdown, SLO: tight}},
		{golden: "sweep-at-c2.txt", files: sweep, opts: Options{Format: FormatText, SLO: slo, Concurrency: 2}},
		{golden: "files.md", files: files, opts: Options{Format: FormatMarkdown, SLO: slo}},
		{golden: "single.md", files: []string{"run-np2.json"}, opts: Options{Format: FormatMarkdown, ChartsLink: "single_files"},
			charts: []string{"decomposition.svg", "latency-e2e.svg", "latency-ttft.svg", "throughput.svg", "timeline-1.svg", "ttft-p95.svg"}},
		{golden: "open-loop.md", files: []string{"open-loop.json"}, opts: Options{Format: FormatMarkdown}},
		{golden: "merge.md", files: []string{"merge-host-a.json", "merge-host-b.json"}, opts: Options{Format: FormatMarkdown, Merge: true}},
		{golden: "merge.json", files: []string{"merge-host-a.json", "merge-host-b.json"}, opts: Options{Format: FormatJSON, Merge: true}},
		{golden: "unmerged.txt", files: []string{"merge-host-a.json", "merge-host-b.json"}, opts: Options{Format: FormatText}},
		{golden: "openai.md", files: []string{"openai-errors.json"}, opts: Options{Format: FormatMarkdown}},
		{golden: "openai.csv", files: []string{"openai-errors.json"}, opts: Options{Format: FormatCSV}},
		{golden: "hostile.md", files: []string{"hostile.json"}, opts: Options{Format: FormatMarkdown, ChartsLink: "hostile_files"},
			charts: []string{"decomposition.svg", "latency-e2e.svg", "latency-ttft.svg", "throughput.svg", "timeline-1.svg", "timeline-2.svg", "ttft-p95.svg"}},
		{golden: "hostile.txt", files: []string{"hostile.json"}, opts: Options{Format: FormatText}},
		{golden: "hostile.html", files: []string{"hostile.json"}, opts: Options{Format: FormatHTML},
			charts: []string{"decomposition.svg", "latency-e2e.svg", "latency-ttft.svg", "throughput.svg", "timeline-1.svg", "timeline-2.svg", "ttft-p95.svg"}},
		{golden: "hostile.csv", files: []string{"hostile.json"}, opts: Options{Format: FormatCSV}},
		{golden: "hostile.hgrm", files: []string{"hostile.json"}, opts: Options{Format: FormatHgrm, Run: "num_parallel=4</td><script>x</script>", Stage: "c=4|</td><script>s</script>"}},
	}
}

// TestGolden renders every format from results files made by real runs and compares the
// output with testdata/golden. Charts are checked for presence and well-formedness (their
// bytes depend on the plotting library's version, so they are not golden).
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.golden, func(t *testing.T) {
			paths, names := readFixtures(t, tc.files...)
			files, err := results.ReadFiles(paths)
			if err != nil {
				t.Fatal(err)
			}
			opts := tc.opts
			opts.Sources = names
			if tc.charts != nil && opts.Format != FormatHTML {
				opts.ChartsDir = t.TempDir()
			}
			var buf bytes.Buffer
			if err := Render(&buf, files, opts); err != nil {
				t.Fatal(err)
			}
			out := buf.Bytes()
			if opts.Format == FormatText {
				checkWidth(t, out)
			}
			if opts.Format == FormatHTML {
				out = checkInlineCharts(t, out, len(tc.charts))
			}
			golden(t, tc.golden, out)
			if tc.charts != nil && opts.Format != FormatHTML {
				checkCharts(t, opts.ChartsDir, tc.charts)
			}
		})
	}
}

// checkWidth checks that terminal output fits TextWidth columns.
func checkWidth(t *testing.T, out []byte) {
	t.Helper()
	for i, l := range strings.Split(string(out), "\n") {
		if n := utf8.RuneCountInString(l); n > TextWidth {
			t.Errorf("line %d is %d columns wide: %s", i+1, n, l)
		}
	}
}

// inlineSVG is a chart drawn into an HTML page.
var inlineSVG = regexp.MustCompile(`(?s)<svg .*?</svg>\n?`)

// checkInlineCharts checks the charts an HTML page holds — want of them, each well-formed and
// holding nothing unescaped from a results file — and returns the page with each replaced by a
// mark: their bytes depend on the plotting library's version, so they are not golden.
func checkInlineCharts(t *testing.T, page []byte, want int) []byte {
	t.Helper()
	svgs := inlineSVG.FindAll(page, -1)
	if len(svgs) != want {
		t.Errorf("the page holds %d charts, want %d", len(svgs), want)
	}
	for i, svg := range svgs {
		if err := wellFormedSVG(svg); err != nil {
			t.Errorf("chart %d: %v", i+1, err)
		}
		for _, bad := range []string{"<script", "<img", "<b>", "\x1b"} {
			if bytes.Contains(svg, []byte(bad)) {
				t.Errorf("chart %d holds %q from a results file unescaped", i+1, bad)
			}
		}
	}
	return inlineSVG.ReplaceAll(page, []byte("<svg>(an SVG chart; not golden)</svg>\n"))
}

func checkCharts(t *testing.T, dir string, want []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("charts written: %v\nwant: %v", got, want)
	}
	for _, name := range got {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := wellFormedSVG(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		for _, bad := range []string{"<script", "<img", "<b>", "\x1b"} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("%s holds %q from a results file unescaped", name, bad)
			}
		}
	}
}

// wellFormedSVG checks that b parses as XML with an <svg> root and holds drawn paths.
func wellFormedSVG(b []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(b))
	root, paths := "", 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			if se.Name.Local == "path" {
				paths++
			}
		}
	}
	if root != "svg" {
		return fmt.Errorf("root element %q, want svg", root)
	}
	if paths < 5 {
		return fmt.Errorf("only %d paths: an empty chart?", paths)
	}
	return nil
}

// TestGoldenWriteComparison is what `llmload sweep` prints at its end.
func TestGoldenWriteComparison(t *testing.T) {
	paths, _ := readFixtures(t, "sweep.json")
	files, err := results.ReadFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteComparison(&buf, analysis.Compare(files[0].Runs, "", mustSLO(t, "ttft_p95=100ms,e2e_p95=200ms"))); err != nil {
		t.Fatal(err)
	}
	golden(t, "comparison.txt", buf.Bytes())
}

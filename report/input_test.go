package report

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/results"
)

func TestRenderRejectsBadInput(t *testing.T) {
	paths, names := readFixtures(t, "run-np1.json", "run-np2.json")
	files, err := results.ReadFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	corrupt, err := results.ReadFile(filepath.Join(resultsDir, "bad", "corrupt-histogram.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files []*results.File
		opts  Options
		want  string
	}{
		{"format", files, Options{Format: "pdf"}, `unknown format "pdf"`},
		{"metric", files, Options{Format: FormatHgrm, Metric: "latency"}, `unknown metric "latency"`},
		{"by", files, Options{By: "gpu"}, "no run has the label gpu (labels: num_parallel)"},
		{"no runs", []*results.File{{Schema: results.Schema}}, Options{}, "hold no runs"},
		{"corrupt histogram hgrm", []*results.File{corrupt}, Options{Format: FormatHgrm}, "stage c=1: histogram e2e"},
		{"corrupt histogram merge", []*results.File{corrupt, files[0]}, Options{Merge: true}, "histogram e2e"},
		{"hgrm without that histogram", []*results.File{openLoopWithout(t)}, Options{Format: FormatHgrm, Metric: "ttft"}, "no stage selected holds a ttft histogram"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Render(io.Discard, tt.files, Options{Format: tt.opts.Format, Metric: tt.opts.Metric, By: tt.opts.By, Merge: tt.opts.Merge, Sources: names})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
			var ie *results.InputError
			if !errors.As(err, &ie) {
				t.Errorf("error %v is not an InputError: a command would not exit 2", err)
			}
		})
	}
}

// openLoopWithout is a results file whose runs kept no TTFT histogram (--no-stream).
func openLoopWithout(t *testing.T) *results.File {
	t.Helper()
	f, err := results.ReadFile(filepath.Join(resultsDir, "open-loop.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range f.Runs[0].Stages {
		delete(st.Histograms, results.MetricTTFT)
	}
	return f
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"": FormatMarkdown, "md": FormatMarkdown, "Markdown": FormatMarkdown, "text": FormatText, "csv": FormatCSV, "json": FormatJSON, "hgrm": FormatHgrm, "html": FormatHTML} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), "markdown, text, html, csv, json, hgrm") {
		t.Errorf("ParseFormat(xml) error = %v", err)
	}
}

func TestChartsFor(t *testing.T) {
	for in, want := range map[string][2]string{
		"REPORT.md":           {"REPORT_files", "REPORT_files"},
		"out/sweep.report.md": {filepath.Join("out", "sweep.report_files"), "sweep.report_files"},
		"/tmp/r":              {"/tmp/r_files", "r_files"},
	} {
		dir, link := ChartsFor(in)
		if dir != want[0] || link != want[1] {
			t.Errorf("ChartsFor(%q) = %q, %q; want %q, %q", in, dir, link, want[0], want[1])
		}
	}
}

// The hgrm output is what HdrHistogram's plotters read: a header, rows of value,
// percentile, count and 1/(1-percentile), percentiles rising to 1, and the footer.
func TestHgrmFormat(t *testing.T) {
	paths, names := readFixtures(t, "run-np2.json")
	files, err := results.ReadFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Render(&buf, files, Options{Format: FormatHgrm, Sources: names, Stage: "c=1"}); err != nil {
		t.Fatal(err)
	}
	tables := strings.Split(buf.String(), "\n\n# ")
	if len(tables) != 1 {
		t.Fatalf("%d tables, want one: the plotter reads one per file", len(tables))
	}
	sc := bufio.NewScanner(strings.NewReader(tables[0]))
	var lastQ float64
	var lastCount int64
	rows := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || f[0] == "Value" {
			continue
		}
		if len(f) != 4 && len(f) != 3 {
			t.Fatalf("row %q: %d fields", sc.Text(), len(f))
		}
		q, err1 := strconv.ParseFloat(f[1], 64)
		n, err2 := strconv.ParseInt(f[2], 10, 64)
		if _, err := strconv.ParseFloat(f[0], 64); err != nil || err1 != nil || err2 != nil {
			t.Fatalf("row %q does not parse", sc.Text())
		}
		if q < lastQ || n < lastCount {
			t.Errorf("row %q goes backwards", sc.Text())
		}
		lastQ, lastCount = q, n
		rows++
	}
	e2e := files[0].Runs[0].Stages[0].LatencyMs[results.MetricE2E]
	if lastQ != 1 || lastCount != e2e.N || rows < 5 {
		t.Errorf("last row percentile %v count %d after %d rows; want 1, %d", lastQ, lastCount, rows, e2e.N)
	}
	if !strings.Contains(tables[0], "#[Buckets =           22, SubBuckets     =         2048]") {
		t.Errorf("footer geometry wrong:\n%s", tables[0])
	}
}

package report

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/results"
)

func TestSummaryNamesTargetModelsAndStages(t *testing.T) {
	f, err := results.ReadFile(filepath.Join(resultsDir, "run-np1.json"))
	if err != nil {
		t.Fatal(err)
	}
	run := f.Runs[0]
	var b strings.Builder
	if err := WriteSummary(&b, run); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"Target: " + run.Target.URL, "\nModel: llama3.2:1b\n", "Stage " + run.Stages[0].Name + " "} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "INTERRUPTED") {
		t.Errorf("a complete run is summarised as interrupted:\n%s", out)
	}

	// Two models in the mix, one template whose model is in its body file (no name), and an
	// interrupted run.
	mix := []*results.Template{{Model: "llama3.2:1b"}, {Model: ""}, {Model: "qwen3:4b"}, {Model: "llama3.2:1b"}}
	cp := *run
	cp.Plan = &results.Plan{Mix: mix}
	cp.Interrupted = true
	b.Reset()
	if err := WriteSummary(&b, &cp); err != nil {
		t.Fatal(err)
	}
	out = b.String()
	if !strings.HasPrefix(out, "INTERRUPTED") || !strings.Contains(out, "\nModels: llama3.2:1b, qwen3:4b\n") {
		t.Errorf("summary of an interrupted two-model run:\n%s", out)
	}

	// A body-only mix names no model: no Model line at all.
	cp.Plan = &results.Plan{Mix: []*results.Template{{Model: ""}}}
	b.Reset()
	if err := WriteSummary(&b, &cp); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Model") {
		t.Errorf("a body-only run prints a model line:\n%s", b.String())
	}
}

// A note several runs carry is written once in a report's notes, naming the runs; a note of
// one run names that run.
func TestReportGroupsRunNotes(t *testing.T) {
	paths, names := readFixtures(t, "run-np1.json", "run-np2.json", "run-np4.json")
	files, err := results.ReadFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	shared, own := "the simulator's steps were short", "only the last run saw this"
	for i, f := range files {
		f.Runs[0].Notes = []string{shared}
		if i == 2 {
			f.Runs[0].Notes = append(f.Runs[0].Notes, own, shared) // a repeat within a run
		}
	}
	var b strings.Builder
	if err := Render(&b, files, Options{Format: FormatMarkdown, Sources: names}); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	if n := strings.Count(md, shared); n != 1 || !strings.Contains(md, "- all runs: "+shared) {
		t.Errorf("shared note written %d times, want once for all runs:\n%s", n, md)
	}
	if !strings.Contains(md, "- num_parallel=4: "+own) {
		t.Errorf("one run's note does not name its run:\n%s", md)
	}
	// Two of three: both named.
	files[0].Runs[0].Notes = nil
	b.Reset()
	if err := Render(&b, files, Options{Format: FormatMarkdown, Sources: names}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "- num_parallel=2 and num_parallel=4: "+shared) {
		t.Errorf("a note of two runs:\n%s", b.String())
	}
}

// The "where the time went" line says whose timings it reads, and over how many requests.
func TestSummaryNamesTheTimingsSource(t *testing.T) {
	f, err := results.ReadFile(filepath.Join(resultsDir, "run-np1.json"))
	if err != nil {
		t.Fatal(err)
	}
	base := f.Runs[0]
	for _, tt := range []struct {
		name, source, engine string
		requests             int // of the decomposition; 0 = all the stage's ok requests
		want, not            []string
	}{
		{"ollama", "", "", 0, []string{"(Ollama's timings):", "load ", "client-side"}, []string{"llama-server"}},
		{"ollama on llama-server", "ollama", "llama-server", 0, []string{"(Ollama's timings, from its llama-server engine):"}, nil},
		{"llama-server", "llama-server", "llama-server", 0, []string{"(llama-server's timings):", "prompt ", "generation ", "reports no total"}, []string{"client-side", "load "}},
		{"part of a mixed stage", "", "", 1, []string{"(Ollama's timings, 1 of "}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			run := *base
			run.Target.Engine = tt.engine
			st := *run.Stages[0]
			d := *st.Decomposition
			d.Source = tt.source
			if tt.requests > 0 {
				d.Requests = tt.requests
			}
			st.Decomposition = &d
			run.Stages = []*results.StageResult{&st}
			var b strings.Builder
			if err := WriteSummary(&b, &run); err != nil {
				t.Fatal(err)
			}
			line := grepLine(b.String(), "where the mean E2E")
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("lacks %q: %s", w, line)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(line, w) {
					t.Errorf("has %q: %s", w, line)
				}
			}
		})
	}
}

// grepLine returns the line of s that holds word, with the lines that continue it (wrapped to
// fit the terminal, two spaces deeper) joined back on.
func grepLine(s, word string) string {
	lines := strings.Split(s, "\n")
	indent := func(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }
	for i, l := range lines {
		if !strings.Contains(l, word) {
			continue
		}
		for j := i + 1; j < len(lines) && indent(lines[j]) == indent(l)+2; j++ {
			l += " " + strings.TrimSpace(lines[j])
		}
		return l
	}
	return ""
}

// A comparison by another label than num_parallel does not speak of slots: the settings are
// that label's values, whatever they count.
func TestComparisonByAnotherLabelSpeaksOfIt(t *testing.T) {
	paths, _ := readFixtures(t, "run-np1.json", "run-np2.json", "run-np4.json")
	files, err := results.ReadFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		for _, r := range f.Runs {
			r.Labels = map[string]string{"max_loaded": r.Labels["num_parallel"]}
		}
	}
	for _, format := range []Format{FormatMarkdown, FormatText} {
		var b strings.Builder
		if err := Render(&b, files, Options{Format: format, By: "max_loaded", Sources: paths}); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		comparison := out[strings.Index(out, "Compared by max_loaded"):]
		comparison = comparison[:strings.Index(comparison, "Stages")]
		if strings.Contains(comparison, "slot") {
			t.Errorf("%s: the comparison by max_loaded speaks of slots:\n%s", format, grepLine(comparison, "slot"))
		}
	}
}

// A run's control shows in its summary and, for a report of runs that have one, as a column
// of the runs table.
func TestControlInSummaryAndReport(t *testing.T) {
	f, err := results.ReadFile(filepath.Join(resultsDir, "sweep.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range f.Runs {
		r.Control = &results.Control{Source: "probe", Requests: 4, OK: 4, Metric: results.MetricDecodeTPS, Value: 1040 + float64(i)}
	}
	var b strings.Builder
	if err := WriteSummary(&b, f.Runs[0]); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(strings.Fields(b.String()), " "), " Control: a lone request decodes at 1040 tok/s (a probe of 4 requests, in no stage) ") {
		t.Errorf("summary:\n%s", b.String())
	}
	b.Reset()
	if err := Render(&b, []*results.File{f}, Options{Format: FormatMarkdown}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| control |") || !strings.Contains(b.String(), "| 1042 tok/s (probe) |") {
		t.Errorf("report runs table:\n%s", b.String()[:min(3000, b.Len())])
	}
}

// A sweep with several runs per setting lists them a line each: the busiest stage, failures,
// the control and a noisy mark, within the terminal's width; a note all runs share comes once.
func TestRunListALineEachWithControlAndNoise(t *testing.T) {
	paths, _ := readFixtures(t, "run-np1.json", "run-np2.json", "run-np4.json")
	files, err := results.ReadFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	var runs []*results.Run
	var titles []string
	for i, f := range files {
		run := *f.Runs[0]
		run.Notes = []string{"the simulator's steps were short"}
		run.Control = &results.Control{Source: "probe", Metric: results.MetricDecodeTPS, Value: 40 + float64(i), OK: 4, Requests: 4}
		if i == 1 {
			run.Noise = []string{"noisy: other processes used 95% of the CPU"}
		}
		runs = append(runs, &run)
		titles = append(titles, fmt.Sprintf("NUM_PARALLEL=%s (round %d/3)", run.Labels["num_parallel"], i+1))
	}
	var b strings.Builder
	if err := WriteRunList(&b, runs, titles); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for i, run := range runs {
		line := grepLine(out, titles[i])
		var best *results.StageResult
		for _, st := range run.Stages {
			if best == nil || st.Throughput.OutputTokensPerS > best.Throughput.OutputTokensPerS {
				best = st
			}
		}
		for _, want := range []string{fmt.Sprintf("%.1f", best.Throughput.OutputTokensPerS), " " + best.Name + " ", fmt.Sprintf("%d", 40+i)} {
			if !strings.Contains(line, want) {
				t.Errorf("run %d's line lacks %q: %q", i, want, line)
			}
		}
		if got := strings.Contains(line, "NOISY"); got != (i == 1) {
			t.Errorf("run %d's line marked noisy %v: %q", i, got, line)
		}
	}
	if n := strings.Count(out, "the simulator's steps were short"); n != 1 {
		t.Errorf("a note every run carries is written %d times:\n%s", n, out)
	}
	if !strings.Contains(out, "1 of 3 runs were noisy") {
		t.Errorf("no count of the noisy runs:\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if len([]rune(l)) > TextWidth {
			t.Errorf("line of %d columns: %q", len([]rune(l)), l)
		}
	}
	if err := WriteRunList(&b, runs, titles[:1]); err == nil {
		t.Error("titles that do not match the runs are taken")
	}
}

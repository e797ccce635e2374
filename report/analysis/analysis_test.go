package analysis

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/llmload/llmload/bench/results"
)

func readResults(t *testing.T, names ...string) []*results.File {
	t.Helper()
	var paths []string
	for _, n := range names {
		paths = append(paths, filepath.Join(resultsDir, n))
	}
	files, err := results.ReadFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestAnalyzeOneRun(t *testing.T) {
	a, err := Analyze(readResults(t, "run-np2.json"), Options{Sources: []string{"run-np2.json"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Schema != Schema || a.By != DefaultBy || len(a.Runs) != 1 || a.Comparison != nil {
		t.Fatalf("schema %q by %q, %d runs, comparison %v", a.Schema, a.By, len(a.Runs), a.Comparison)
	}
	r := a.Runs[0]
	total, best := 0, 0.0
	for _, st := range r.Stages {
		total += st.Requests.Total
		best = max(best, st.Throughput.OutputTokensPerS)
		if st.Data == nil || st.Load().String() != st.Name {
			t.Errorf("stage %s: data %v, load %s", st.Name, st.Data != nil, st.Load())
		}
	}
	if a.Totals.Requests != total {
		t.Errorf("totals %+v, want %d requests", a.Totals, total)
	}
	if a.BestStage == nil {
		t.Fatal("no best stage")
	}
	if gotRun, st := a.Lookup(*a.BestStage); gotRun != r || st == nil || st.Throughput.OutputTokensPerS != best {
		t.Errorf("best stage %+v is not the one with the most tok/s (%v)", a.BestStage, best)
	}
	// A reference read back from JSON (without its indices) finds the stage by name.
	if _, st := a.Lookup(StageRef{Run: r.Name, Stage: r.Stages[1].Name}); st != r.Stages[1] {
		t.Errorf("lookup by name found %v", st)
	}
	for _, n := range a.Notes {
		if n.Kind == "" || n.Severity == "" || n.Text == "" {
			t.Errorf("note without kind, severity or text: %+v", n)
		}
	}
	if len(a.Definitions) != len(results.Definitions()) {
		t.Errorf("%d definitions, the catalogue has %d", len(a.Definitions), len(results.Definitions()))
	}
}

// The notes a report shows are data: a kind and a severity, and the runs or stages they
// concern.
func TestAnalyzeNotes(t *testing.T) {
	files := readResults(t, "run-np1.json", "run-np2.json", "run-np4.json")
	files[2].Runs[0].Stages[1].Client = results.ClientCheck{Overloaded: true, Reason: "send lag p99 40 ms"}
	files[1].Runs[0].Stages[0].TokenSource = "chunks"
	files[0].Runs[0].Interrupted = true
	a, err := Analyze(files, Options{Sources: []string{"a.json", "b.json", "c.json"}})
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[Kind]Note{}
	for _, n := range a.Notes {
		byKind[n.Kind] = n
	}
	if n := byKind[KindInterrupted]; n.Severity != SeverityWarning || len(n.Runs) != 1 || n.Runs[0] != "num_parallel=1" {
		t.Errorf("interrupted note %+v", n)
	}
	if n := byKind[KindClientOverloaded]; n.Severity != SeverityWarning || len(n.Stages) != 1 || n.Stages[0].Run != "num_parallel=4" {
		t.Errorf("overloaded note %+v", n)
	} else if _, st := a.Lookup(n.Stages[0]); st == nil || !st.Client.Overloaded {
		t.Errorf("the overloaded note points at %+v", st)
	}
	if n := byKind[KindTokensFromChunks]; n.Severity != SeverityCaution || len(n.Stages) != 1 {
		t.Errorf("chunk tokens note %+v", n)
	}
	if a.Notes[0].Kind != KindInterrupted {
		t.Errorf("first note is %s, want the interruption first", a.Notes[0].Kind)
	}
}

func TestAnalyzeRejectsBadInput(t *testing.T) {
	var ie *results.InputError
	if _, err := Analyze(nil, Options{}); !errors.As(err, &ie) {
		t.Errorf("no runs: %v, want an input error", err)
	}
	if _, err := Analyze(readResults(t, "run-np2.json"), Options{By: "kv_cache"}); !errors.As(err, &ie) {
		t.Errorf("--by a label no run has: %v, want an input error", err)
	}
}

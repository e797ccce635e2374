package report

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/results"
)

// HdrHistogram's plotter reads one table per file: the hgrm format writes one, picked by run
// and stage, and refuses a selection of several; HgrmFiles gives one per run × stage × metric,
// each with a file name that names it and cannot leave its folder.
func TestHgrmOneTablePerFile(t *testing.T) {
	paths, names := readFixtures(t, "sweep.json")
	files, err := results.ReadFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err = Render(&buf, files, Options{Format: FormatHgrm, Sources: names})
	var several *ErrSeveralHgrm
	var ie *results.InputError
	if !errors.As(err, &several) || len(several.Tables) != 12 || !errors.As(err, &ie) {
		t.Errorf("every stage of every run to one output: %v, want 12 refused as bad input", err)
	}
	if err := Render(&buf, files, Options{Format: FormatHgrm, Sources: names, Stage: "c=9"}); err == nil || !strings.Contains(err.Error(), `no stage is named "c=9" (the stages: c=1, c=2, c=4, c=8)`) {
		t.Errorf("an unknown stage: %v", err)
	}
	if err := Render(&buf, files, Options{Format: FormatHgrm, Sources: names, Run: "x"}); err == nil || !strings.Contains(err.Error(), `no run is named "x" (the runs: num_parallel=1, num_parallel=2, num_parallel=4)`) {
		t.Errorf("an unknown run: %v", err)
	}
	tables, err := HgrmFiles(files, Options{Sources: names, Stage: "c=8"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tb := range tables {
		got = append(got, tb.FileName())
	}
	if len(got) != 3*7 || got[0] != "num_parallel=1_c=8_e2e.hgrm" {
		t.Errorf("files of stage c=8: %v", got)
	}
	// A name from a results file never makes a path.
	paths, names = readFixtures(t, "hostile.json")
	if files, err = results.ReadFiles(paths); err != nil {
		t.Fatal(err)
	}
	if tables, err = HgrmFiles(files, Options{Sources: names}); err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if n := tb.FileName(); strings.ContainsAny(n, "/\\<>|\x1b ") || strings.HasPrefix(n, ".") {
			t.Errorf("file name %q", n)
		}
	}
}

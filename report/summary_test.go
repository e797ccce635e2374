package report

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench"
)

func TestSummaryNamesTargetModelsAndStages(t *testing.T) {
	f, err := bench.ReadFile(filepath.Join(resultsDir, "run-np1.json"))
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
	mix := []*bench.Template{{Model: "llama3.2:1b"}, {Model: ""}, {Model: "qwen3:4b"}, {Model: "llama3.2:1b"}}
	cp := *run
	cp.Plan = &bench.Plan{Mix: mix}
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
	cp.Plan = &bench.Plan{Mix: []*bench.Template{{Model: ""}}}
	b.Reset()
	if err := WriteSummary(&b, &cp); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Model") {
		t.Errorf("a body-only run prints a model line:\n%s", b.String())
	}
}

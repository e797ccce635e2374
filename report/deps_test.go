package report

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Reading results files links no chart library outside the renderers: the gate and the
// analysis depend on bench/results and the statistics they share (the analysis on its prose
// helper, the gate on the text cleaner printable, which links nothing) alone.
func TestAnalysisAndGateLinkNoCharts(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	for pkg, allowed := range map[string][]string{
		"./gate":     {"bench/results", "report/internal/stats", "report/printable", "report/gate"},
		"./analysis": {"bench/results", "report/internal/prose", "report/internal/stats", "report/analysis"},
	} {
		out, err := exec.Command(goTool, "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "gonum.org/v1/plot") {
				t.Errorf("%s links %s", pkg, dep)
			}
			if own, ok := strings.CutPrefix(dep, "github.com/llmload/llmload/"); ok && !slices.Contains(allowed, own) {
				t.Errorf("%s depends on %s", pkg, own)
			}
		}
	}
}

package report

import (
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/results"
)

// Every metric column of the CSV is a metric of the catalogue, named by its Column, which
// --slo and the gate accept: the CSV, the SLO and the gate share one vocabulary. The rest are
// facts of the run and stage, the decomposition, and "errors", the failures by class as text
// (the errors metric, their count, is requests_failed).
func TestCSVColumnsAreCatalogueMetrics(t *testing.T) {
	facts := map[string]bool{"source": true, "run": true, "labels": true, "setting": true, "server_url": true, "api": true,
		"server_version": true, "simulated": true, "host": true, "started": true, "stage": true, "concurrency": true, "rate": true,
		"arrival": true, "max_concurrency": true, "start_s": true, "wall_s": true, "errors": true, "token_source": true, "client_overloaded": true, "class": true,
		"saturation_arrivals": true}
	seen := map[string]bool{}
	metrics := 0
	for _, c := range csvColumns() {
		if c.name == "" || seen[c.name] {
			t.Errorf("column %q is empty or repeated", c.name)
		}
		seen[c.name] = true
		if facts[c.name] || strings.HasPrefix(c.name, "decomp_") || strings.HasSuffix(c.name, "_n") {
			continue
		}
		m, ok := results.LookupMetric(c.name)
		if !ok || m.Column != c.name {
			t.Errorf("column %s is no metric of the catalogue (%q)", c.name, m.Name)
		}
		metrics++
	}
	if want := len(results.LatencyDistributions())*len(csvStats()) + 24; metrics != want {
		t.Errorf("%d metric columns, want %d", metrics, want)
	}
}

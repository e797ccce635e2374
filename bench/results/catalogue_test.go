package results

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

func TestCatalogueNamesResolve(t *testing.T) {
	names, columns := map[string]bool{}, map[string]bool{}
	for _, m := range Metrics() {
		if names[m.Name] {
			t.Errorf("%s is in the catalogue twice", m.Name)
		}
		names[m.Name] = true
		if m.Definition == "" {
			t.Errorf("%s has no definition", m.Name)
		}
		if got, ok := LookupMetric(m.Name); !ok || got.Name != m.Name {
			t.Errorf("LookupMetric(%q) = %q, %v", m.Name, got.Name, ok)
		}
		if m.Column == "" {
			continue
		}
		if columns[m.Column] {
			t.Errorf("column %s belongs to two metrics", m.Column)
		}
		columns[m.Column] = true
		if got, ok := LookupMetric(m.Column); !ok || got.Name != m.Name {
			t.Errorf("the CSV column %s names %q, want %s", m.Column, got.Name, m.Name)
		}
	}
	for in, want := range map[string]string{
		"ttft_p95": "ttft.p95", "TTFT.P95": "ttft.p95", " e2e_mean ": "e2e.mean", "queue_wait_p99": "queue_wait.p99",
		"errors": "errors", "errors.count": "errors", "requests_failed": "errors",
		"errors.rate": "errors.rate", "error_rate": "errors.rate",
		"output_tokens_per_s": "output_tps", "decode_tokens_per_s": "decode_tps", "speedup_vs_first": "speedup",
	} {
		if m, ok := LookupMetric(in); !ok || m.Name != want {
			t.Errorf("LookupMetric(%q) = %q, %v; want %s", in, m.Name, ok, want)
		}
	}
	for _, bad := range []string{"ttft", "ttft.p96", "ttft_p96", "errors_rate", "latency"} {
		if m, ok := LookupMetric(bad); ok {
			t.Errorf("LookupMetric(%q) = %s, want none", bad, m.Name)
		}
	}
	if m, _ := LookupMetric("errors"); m.Unit != UnitCount || m.Better != BetterLower {
		t.Errorf("errors: %v, %v; want a count, lower better", m.Unit, m.Better)
	}
	if m, _ := LookupMetric("errors.rate"); m.Unit != UnitFraction {
		t.Errorf("errors.rate: %v, want a fraction", m.Unit)
	}
}

func TestCatalogueReadsStages(t *testing.T) {
	st := &StageResult{WallS: 2, Requests: Counts{Total: 10, OK: 8, Errors: map[string]int{ClassBusy: 2}},
		Throughput: Throughput{OutputTokensPerS: 40},
		LatencyMs:  map[string]Summary{MetricTTFT: {N: 8, P95: 310}}}
	for name, want := range map[string]float64{"ttft.p95": 310, "errors": 2, "errors.rate": 0.2, "errors.http_503": 2, "output_tps": 40, "requests.ok": 8} {
		m, _ := LookupMetric(name)
		if v, ok := m.Value(st); !ok || v != want {
			t.Errorf("%s = %v, %v; want %v", name, v, ok, want)
		}
	}
	for _, name := range []string{"e2e.p95", "decode_tps", "gpu.energy_j", "speedup"} {
		m, _ := LookupMetric(name)
		if v, ok := m.Value(st); ok {
			t.Errorf("%s = %v, want not measured", name, v)
		}
	}
}

// TestReadmeDefinesTheCatalogue keeps the README's "What the numbers mean" table equal to
// the catalogue's definitions, which `run --help` and the report print: one text, three places.
func TestReadmeDefinesTheCatalogue(t *testing.T) {
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == "## What the numbers mean"
		case in && strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| metric |"):
			var cells []string
			for _, c := range strings.Split(strings.Trim(line, "|"), " | ") {
				cells = append(cells, strings.TrimSpace(strings.ReplaceAll(c, "`", "")))
			}
			rows = append(rows, cells)
		}
	}
	defs := Definitions()
	if len(rows) != len(defs) {
		t.Errorf("the README's table has %d rows, the catalogue %d definitions", len(rows), len(defs))
	}
	for i := range min(len(rows), len(defs)) {
		d := defs[i]
		if want := []string{d.Term, d.Names, d.Text}; strings.Join(rows[i], "\n") != strings.Join(want, "\n") {
			t.Errorf("README row %d:\n  %q\nthe catalogue:\n  %q", i+1, rows[i], want)
		}
	}
}

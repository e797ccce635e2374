package results

import "testing"

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

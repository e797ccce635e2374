package analysis

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/results"
)

func TestParseSLO(t *testing.T) {
	tests := []struct {
		in      string
		want    string // String() of the result: what ParseSLO reads back
		metrics []string
		limits  []float64
		wantErr string
	}{
		{in: "", want: ""},
		{in: "ttft_p95=2s,e2e_p95=30s", want: "ttft_p95=2s,e2e_p95=30s", metrics: []string{"ttft.p95", "e2e.p95"}, limits: []float64{2000, 30000}},
		// The gate's spelling works too, and both spell one metric.
		{in: "ttft.p95=2s,e2e.p99=1m30s", want: "ttft.p95=2s,e2e.p99=1m30s", metrics: []string{"ttft.p95", "e2e.p99"}, limits: []float64{2000, 90000}},
		{in: " TTFT_P50 = 500ms , itl_p99=80ms ", want: "ttft_p50=500ms,itl_p99=80ms", metrics: []string{"ttft.p50", "itl.p99"}, limits: []float64{500, 80}},
		{in: "queue_wait_mean=1s,first_token_wait_max=3s", want: "queue_wait_mean=1s,first_token_wait_max=3s"},
		{in: "tpot_p95=2.5ms,ttft.p95=500", want: "tpot_p95=2.5ms,ttft.p95=500ms", limits: []float64{2.5, 500}},
		// errors is a count, errors.rate a fraction: the gate's meaning.
		{in: "errors=0", want: "errors=0", metrics: []string{"errors"}, limits: []float64{0}},
		{in: "errors.count=3", want: "errors.count=3", metrics: []string{"errors"}, limits: []float64{3}},
		{in: "errors.rate=1%", want: "errors.rate=1%", metrics: []string{"errors.rate"}, limits: []float64{0.01}},
		{in: "error_rate=0.05", want: "error_rate=5%", metrics: []string{"errors.rate"}, limits: []float64{0.05}},
		// Where higher is better, the limit is a floor.
		{in: "output_tps=40,decode_tps=20tok/s", want: "output_tps=40,decode_tps=20", metrics: []string{"output_tps", "decode_tps"}},
		{in: "gpu.memory_peak_mib=20GiB", want: "gpu.memory_peak_mib=20480", limits: []float64{20480}},
		{in: "ttft=2s", wantErr: "say which statistic, e.g. ttft_p95"},
		{in: "ttft_p42=2s", wantErr: `unknown statistic "p42"`},
		{in: "ttft.p42=2s", wantErr: `unknown statistic "p42"`},
		{in: "latency_p95=2s", wantErr: "unknown metric"},
		{in: "ouput_tps=40", wantErr: "did you mean output_tps? valid metrics: {e2e,"},
		{in: "ttft_p95=fast", wantErr: "not a duration"},
		{in: "ttft_p95=-1s", wantErr: "must be positive"},
		{in: "ttft_p95", wantErr: "want METRIC=LIMIT"},
		{in: "ttft_p95=1s,ttft_p95=2s", wantErr: "given twice"},
		{in: "ttft_p95=1s,ttft.p95=2s", wantErr: "ttft.p95 given twice"},
		{in: "errors.rate=150%", wantErr: "between 0 and 100%"},
		{in: "errors.rate=lots", wantErr: "is not a fraction (0.01) or percentage (1%)"},
		{in: "errors=1%", wantErr: "errors counts failed requests; for a share write errors.rate=1%"},
		{in: "errors=-1", wantErr: "must not be negative"},
		{in: "requests.total=10", wantErr: "neither more nor less of it is better"},
		{in: "output_tps=40ms", wantErr: "is not a rate per second"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSLO(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSLO(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Errorf("ParseSLO(%q) = %q, want %q", tt.in, got.String(), tt.want)
			}
			for i, m := range tt.metrics {
				if got.Bounds[i].Metric.Name != m {
					t.Errorf("bound %d is %s, want %s", i, got.Bounds[i].Metric.Name, m)
				}
			}
			for i, l := range tt.limits {
				if math.Abs(got.Bounds[i].Limit-l) > 1e-9 {
					t.Errorf("bound %d limit %v, want %v", i, got.Bounds[i].Limit, l)
				}
			}
			// String writes what ParseSLO reads.
			again, err := ParseSLO(got.String())
			if err != nil || again.String() != got.String() {
				t.Errorf("round trip of %q: %q, %v", got.String(), again.String(), err)
			}
		})
	}
}

// The SLO and the gate read every metric the same way: one catalogue.
func TestSLOReadsWhatTheGateReads(t *testing.T) {
	for _, name := range []string{"ttft_p95", "ttft.p95", "errors", "errors.count", "errors.rate", "output_tps", "requests_failed"} {
		slo, err := ParseSLO(name + "=1")
		if err != nil {
			t.Fatal(err)
		}
		want, _ := results.LookupMetric(name)
		if got := slo.Bounds[0].Metric; got.Name != want.Name || got.Unit != want.Unit || got.Better != want.Better {
			t.Errorf("--slo %s reads %s (%v, %v better); the catalogue says %s (%v, %v better)", name, got.Name, got.Unit, got.Better, want.Name, want.Unit, want.Better)
		}
	}
}

func TestSLOCheck(t *testing.T) {
	slo, err := ParseSLO("ttft_p95=200ms,e2e_p95=1s,errors.rate=5%,output_tps=50,errors=0")
	if err != nil {
		t.Fatal(err)
	}
	measured := map[string]float64{"ttft.p95": 310, "e2e.p95": 900, "errors.rate": 0.10, "output_tps": 40, "errors": 3}
	value := func(m results.Metric, _ string) (float64, bool) { v, ok := measured[m.Name]; return v, ok }
	misses := slo.check(value)
	if len(misses) != 4 {
		t.Fatalf("misses = %v, want TTFT, errors.rate, output_tps and errors", misses)
	}
	if m := misses[0]; m.Bound.Name() != "ttft_p95" || math.Abs(m.Over-0.55) > 1e-9 {
		t.Errorf("miss = %+v, want ttft_p95 55%% over", m)
	}
	for i, want := range []string{
		"ttft_p95 310 ms, 55% over 200ms",
		"errors.rate 10%, over the 5.0% allowed",
		"output_tps 40/s, 20% short of 50/s",
		"errors 3, over the 0 allowed",
	} {
		if got := misses[i].String(); got != want {
			t.Errorf("miss %d: %q, want %q", i, got, want)
		}
	}
	if m := misses[1]; math.Abs(m.Over-1) > 1e-9 {
		t.Errorf("miss = %+v, want errors.rate 100%% over", m)
	}
	if m := misses[3]; !math.IsInf(m.Over, 1) {
		t.Errorf("errors over a limit of 0: over = %v, want +Inf", m.Over)
	}
	// A metric that was not measured cannot meet a bound.
	delete(measured, "ttft.p95")
	measured["errors.rate"], measured["output_tps"], measured["errors"] = 0, 60, 0
	misses = slo.check(value)
	if len(misses) != 1 || !misses[0].Unmeasured {
		t.Errorf("misses = %+v, want TTFT unmeasured", misses)
	}
}

// An SLO may bind a traffic class: the bound reads that class's share of the stage, and a stage
// without the class has not measured it.
func TestSLOBindsAClass(t *testing.T) {
	slo, err := ParseSLO("class=chat:ttft_p95=500ms,e2e_p95=5s")
	if err != nil {
		t.Fatal(err)
	}
	if got := slo.String(); got != "class=chat:ttft_p95=500ms,e2e_p95=5s" {
		t.Errorf("String = %q", got)
	}
	st := &results.StageResult{Requests: results.Counts{Total: 4, OK: 4}, LatencyMs: map[string]results.Summary{"ttft": {N: 4, P95: 100}, "e2e": {N: 4, P95: 900}},
		Classes: map[string]*results.Class{"chat": {Requests: results.Counts{Total: 2, OK: 2}, LatencyMs: map[string]results.Summary{"ttft": {N: 2, P95: 800}}}}}
	misses := slo.CheckStage(st)
	if len(misses) != 1 || misses[0].Bound.Class != "chat" || misses[0].Value != 800 || !strings.HasPrefix(misses[0].String(), "class=chat:ttft_p95 800 ms") {
		t.Errorf("misses %v, want the chat class's TTFT only", misses)
	}
	delete(st.Classes, "chat")
	if misses := slo.CheckStage(st); len(misses) != 1 || !misses[0].Unmeasured {
		t.Errorf("without the class: %v, want it unmeasured", misses)
	}
	for _, bad := range []string{"class=:ttft_p95=1s", "class=chat", "class=chat:ttft_p95=1s,class=chat:ttft.p95=2s"} {
		if _, err := ParseSLO(bad); err == nil {
			t.Errorf("ParseSLO(%q): no error", bad)
		}
	}
}

// FuzzParseSLO: any --slo text gives an objective or an error, never a panic; an objective
// reads back as itself, and a stage can be checked against it.
func FuzzParseSLO(f *testing.F) {
	for _, s := range []string{"ttft_p95=2s,e2e_p95=30s", "errors.rate=1%", "output_tps=40", "ttft.p95=1e400ms", "e2e_p95=-1s", "x=", "=", ",,", "errors=NaN", "ttft_p95=9223372036854775807ns"} {
		f.Add(s)
	}
	st := &results.StageResult{Name: "c=1", Requests: results.Counts{Total: 2, OK: 1, Errors: map[string]int{"http_503": 1}},
		LatencyMs: map[string]results.Summary{results.MetricTTFT: {N: 1, P95: 10}}}
	f.Fuzz(func(t *testing.T, s string) {
		slo, err := ParseSLO(s)
		if err != nil {
			_ = err.Error()
			return
		}
		again, err := ParseSLO(slo.String())
		if err != nil || again.String() != slo.String() {
			t.Fatalf("%q reads back as %q: %v", s, again.String(), err)
		}
		for _, b := range slo.Bounds {
			if math.IsNaN(b.Limit) || math.IsInf(b.Limit, 0) {
				t.Fatalf("%q: limit %v", s, b.Limit)
			}
			_, _ = b.Metric.Value(st)
		}
		if _, err := json.Marshal(slo); err != nil {
			t.Fatalf("%q does not encode: %v", s, err)
		}
	})
}

package analysis

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseSLO(t *testing.T) {
	tests := []struct {
		in      string
		want    SLO
		wantErr string
	}{
		{in: "", want: SLO{}},
		{in: "ttft_p95=2s,e2e_p95=30s", want: SLO{Bounds: []Bound{{"ttft", "p95", 2 * time.Second}, {"e2e", "p95", 30 * time.Second}}}},
		{in: " TTFT_P50 = 500ms , itl_p99=80ms ", want: SLO{Bounds: []Bound{{"ttft", "p50", 500 * time.Millisecond}, {"itl", "p99", 80 * time.Millisecond}}}},
		{in: "queue_wait_mean=1s,first_token_wait_max=3s", want: SLO{Bounds: []Bound{{"queue_wait", "mean", time.Second}, {"first_token_wait", "max", 3 * time.Second}}}},
		{in: "errors=1%", want: SLO{MaxErrorRate: 0.01, HasErrorRate: true}},
		{in: "error_rate=0", want: SLO{HasErrorRate: true}},
		{in: "ttft=2s", wantErr: "say which statistic, e.g. ttft_p95"},
		{in: "ttft_p42=2s", wantErr: `unknown statistic "p42"`},
		{in: "latency_p95=2s", wantErr: "unknown metric"},
		{in: "ttft_p95=fast", wantErr: "not a duration"},
		{in: "ttft_p95=-1s", wantErr: "must be positive"},
		{in: "ttft_p95", wantErr: "want KEY=VALUE"},
		{in: "ttft_p95=1s,ttft_p95=2s", wantErr: "given twice"},
		{in: "errors=150%", wantErr: "between 0 and 100%"},
		{in: "errors=lots", wantErr: "want a fraction"},
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
			if got.String() != tt.want.String() || got.HasErrorRate != tt.want.HasErrorRate || math.Abs(got.MaxErrorRate-tt.want.MaxErrorRate) > 1e-12 {
				t.Errorf("ParseSLO(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			// String writes what ParseSLO reads.
			again, err := ParseSLO(got.String())
			if err != nil || again.String() != got.String() {
				t.Errorf("round trip of %q: %q, %v", got.String(), again.String(), err)
			}
		})
	}
}

func TestSLOCheck(t *testing.T) {
	slo, err := ParseSLO("ttft_p95=200ms,e2e_p95=1s,errors=5%")
	if err != nil {
		t.Fatal(err)
	}
	measured := map[string]float64{"ttft/p95": 310, "e2e/p95": 900}
	lat := func(m, s string) (float64, bool) { v, ok := measured[m+"/"+s]; return v, ok }
	misses := slo.check(lat, 0.10)
	if len(misses) != 2 {
		t.Fatalf("misses = %v, want TTFT and errors", misses)
	}
	if m := misses[0]; m.Bound.Name() != "ttft_p95" || math.Abs(m.Over-0.55) > 1e-9 {
		t.Errorf("miss = %+v, want ttft_p95 55%% over", m)
	}
	if got := misses[0].String(); got != "ttft_p95 310 ms, 55% over 200ms" {
		t.Errorf("String() = %q", got)
	}
	if m := misses[1]; !m.ErrorRate || math.Abs(m.Over-1) > 1e-9 {
		t.Errorf("miss = %+v, want errors 100%% over", m)
	}
	// A metric that was not measured cannot meet a bound.
	delete(measured, "ttft/p95")
	misses = slo.check(lat, 0)
	if len(misses) != 1 || !misses[0].Unmeasured {
		t.Errorf("misses = %+v, want TTFT unmeasured", misses)
	}
}

package gate

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseAssertion(t *testing.T) {
	cases := []struct {
		in     string
		stage  string
		metric string
		op     Op
		limit  float64
	}{
		{"ttft.p95 < 800ms", "", "ttft.p95", OpLess, 800},
		{"output_tps >= 40", "", "output_tps", OpGreaterEq, 40},
		{"errors.rate == 0", "", "errors.rate", OpEqual, 0},
		{"c=8:ttft.p95<0.8s", "c=8", "ttft.p95", OpLess, 800},
		{"stage=c=8:ttft.p95 < 800ms", "c=8", "ttft.p95", OpLess, 800},
		{"rate=2/s: e2e.p99 <= 2s", "rate=2/s", "e2e.p99", OpLessEq, 2000},
		{"errors.rate < 1%", "", "errors.rate", OpLess, 0.01},
		{"errors.rate <= 0.5 %", "", "errors.rate", OpLessEq, 0.005},
		{"gpu.utilization_mean_pct > 50%", "", "gpu.utilization_mean_pct", OpGreater, 50},
		{"ttft_p95 < 1e3", "", "ttft.p95", OpLess, 1000},
		{"output_tokens_per_s >= 40tok/s", "", "output_tps", OpGreaterEq, 40},
		{"requests_per_s > 2/s", "", "requests_per_s", OpGreater, 2},
		{"e2e.p50 != 0", "", "e2e.p50", OpNotEqual, 0},
		{"gpu.memory_peak_mib < 20GiB", "", "gpu.memory_peak_mib", OpLess, 20480},
		{"tpot.p50 ≤ 5ms", "", "tpot.p50", OpLessEq, 5},
		{"ttft.p95 < 500us", "", "ttft.p95", OpLess, 0.5},
		{"e2e.max < 1.5m", "", "e2e.max", OpLess, 90000},
		{"queue_wait.mean < 250", "", "queue_wait.mean", OpLess, 250},
		{"errors.http_503 == 0", "", "errors.http_503", OpEqual, 0},
		{"speedup >= 1.5x", "", "speedup", OpGreaterEq, 1.5},
		{"  e2e.p95 > -1  ", "", "e2e.p95", OpGreater, -1},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			a, err := ParseAssertion(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if a.Stage != c.stage || a.Metric.Name != c.metric || a.Op != c.op || !near(a.Limit, c.limit, 1e-9) {
				t.Errorf("got stage %q metric %q op %q limit %v", a.Stage, a.Metric.Name, a.Op, a.Limit)
			}
			if a.Expr != strings.TrimSpace(c.in) {
				t.Errorf("Expr %q", a.Expr)
			}
		})
	}
}

func TestParseAssertionErrorsMarkTheBadToken(t *testing.T) {
	cases := []struct {
		in         string
		msg        string
		start, end int
		hint       string
	}{
		{"ttft.p96 < 800ms", `unknown metric "ttft.p96"`, 0, 8, "did you mean one of ttft.p90, ttft.p95, ttft.p99?"},
		{"latency < 800ms", `unknown metric "latency"`, 0, 7, "valid metrics: {e2e,service,ttft"},
		{"output_tsp >= 40", `unknown metric "output_tsp"`, 0, 10, "did you mean output_tps?"},
		{"ttft < 800ms", "ttft needs a statistic, e.g. ttft.p95", 0, 4, ""},
		{"ttft.p95 = 800ms", "'=' is not a comparison", 9, 10, ""},
		{"ttft.p95 800ms", "expected a comparison", 9, 14, ""},
		{"ttft.p95", "expected a comparison", 8, 9, ""},
		{"ttft.p95 <", "expected a number", 10, 11, ""},
		{"ttft.p95 < fast", `expected a number, not "fast"`, 11, 15, ""},
		{"ttft.p95 < 800kg", `unit "kg" does not fit ttft.p95`, 14, 16, "ns, us, µs, ms, s, m, min, h"},
		{"output_tps >= 40ms", `unit "ms" does not fit output_tps`, 16, 18, "a rate per second"},
		{"ttft.p95 < 800ms extra", `unexpected "extra"`, 17, 22, ""},
		{":ttft.p95 < 1", "no stage name before ':'", 0, 1, ""},
		{"ttft.p95 < 1e999", "out of range", 11, 16, ""},
		{"   ", "empty assertion", 0, 1, ""},
		{"< 5", "expected a metric name", 0, 1, ""},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			_, err := ParseAssertion(c.in)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SyntaxError", err)
			}
			if !strings.Contains(se.Msg, c.msg) {
				t.Errorf("message %q lacks %q", se.Msg, c.msg)
			}
			if se.Start != c.start || se.End != c.end {
				t.Errorf("marks [%d, %d), want [%d, %d)\n%s", se.Start, se.End, c.start, c.end, err)
			}
			if !strings.Contains(se.Hint, c.hint) {
				t.Errorf("hint %q lacks %q", se.Hint, c.hint)
			}
		})
	}
}

func TestSyntaxErrorShowsACaret(t *testing.T) {
	_, err := ParseAssertion("c=8:ttft.p95 < 800 kg")
	want := "unit \"kg\" does not fit ttft.p95\n" +
		"    c=8:ttft.p95 < 800 kg\n" +
		"                       ^^\n"
	if got := err.Error(); !strings.HasPrefix(got, want) {
		t.Errorf("error:\n%s\nwant it to start with:\n%s", got, want)
	}
	// Carets count characters, not bytes.
	_, err = ParseAssertion("tpot.p50 ≤ 5 µg")
	lines := strings.Split(err.Error(), "\n")
	if len(lines) < 3 || strings.Index(lines[2], "^") != utf8.RuneCountInString(lines[1][:strings.Index(lines[1], "µg")]) {
		t.Errorf("caret misplaced:\n%s", err)
	}
}

func TestParseTolerances(t *testing.T) {
	cases := []struct {
		in   string
		want []Tolerance
	}{
		{"e2e.p95=+10%,output_tps=-5%", []Tolerance{
			{Text: "e2e.p95=+10%", Direction: 1, Amount: 0.10, Relative: true},
			{Text: "output_tps=-5%", Direction: -1, Amount: 0.05, Relative: true},
		}},
		{"tpot.p50=10%, output_tps=10%, gpu.utilization_mean_pct=10%", []Tolerance{
			{Text: "tpot.p50=10%", Direction: 1, Amount: 0.10, Relative: true},
			{Text: "output_tps=10%", Direction: -1, Amount: 0.10, Relative: true},
			{Text: "gpu.utilization_mean_pct=10%", Direction: 0, Amount: 0.10, Relative: true},
		}},
		{"e2e.p95=±10%,ttft.p95=+-10%", []Tolerance{
			{Text: "e2e.p95=±10%", Amount: 0.10, Relative: true},
			{Text: "ttft.p95=+-10%", Amount: 0.10, Relative: true},
		}},
		{"c=8:ttft.p95=+50ms,errors.rate=+1pp,errors.count=2", []Tolerance{
			{Text: "c=8:ttft.p95=+50ms", Stage: "c=8", Direction: 1, Amount: 50},
			{Text: "errors.rate=+1pp", Direction: 1, Amount: 0.01},
			{Text: "errors.count=2", Direction: 1, Amount: 2},
		}},
		{"gpu.utilization_mean_pct=-5pp,e2e.p50=+0.1s", []Tolerance{
			{Text: "gpu.utilization_mean_pct=-5pp", Direction: -1, Amount: 5},
			{Text: "e2e.p50=+0.1s", Direction: 1, Amount: 100},
		}},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseTolerances(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("%d tolerances, want %d", len(got), len(c.want))
			}
			for i, w := range c.want {
				g := got[i]
				if g.Text != w.Text || g.Stage != w.Stage || g.Direction != w.Direction || !near(g.Amount, w.Amount, 1e-12) || g.Relative != w.Relative {
					t.Errorf("[%d] = %+v, want %+v", i, g, w)
				}
			}
		})
	}
	if _, err := ParseTolerances(DefaultTolerances); err != nil {
		t.Errorf("DefaultTolerances: %v", err)
	}
}

func TestParseTolerancesErrors(t *testing.T) {
	cases := []struct {
		in         string
		msg        string
		start, end int
	}{
		{"e2e.p95=+10%,outptu_tps=-5%", `unknown metric "outptu_tps"`, 13, 23},
		{"e2e.p95", "expected '=' and a tolerance", 7, 8},
		{"e2e.p95 +10%", "expected '=' and a tolerance", 8, 12},
		{"e2e.p95=+10kg", `unit "kg" does not fit e2e.p95`, 11, 13},
		{"e2e.p95=++10%", "expected a number", 9, 13},
		{"output_tps=-5pp", `unit "pp" does not fit output_tps`, 13, 15},
		{"e2e.p95=+10%,e2e.p95=+5%", "e2e.p95 is given twice", 13, 24},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			_, err := ParseTolerances(c.in)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SyntaxError", err)
			}
			if !strings.Contains(se.Msg, c.msg) || se.Start != c.start || se.End != c.end {
				t.Errorf("got %q at [%d, %d), want %q at [%d, %d)\n%s", se.Msg, se.Start, se.End, c.msg, c.start, c.end, err)
			}
		})
	}
	if _, err := ParseTolerances(" , "); err == nil {
		t.Error("an empty list parsed")
	}
}

func TestToleranceExceeded(t *testing.T) {
	rise := Tolerance{Direction: 1, Amount: 0.10, Relative: true}
	fall := Tolerance{Direction: -1, Amount: 0.05, Relative: true}
	either := Tolerance{Amount: 0.10, Relative: true}
	abs := Tolerance{Direction: 1, Amount: 50}
	cases := []struct {
		name      string
		tol       Tolerance
		base, cur float64
		want      bool
	}{
		{"rise 11%", rise, 100, 111, true},
		{"rise 9%", rise, 100, 109, false},
		{"a fall is no rise", rise, 100, 50, false},
		{"fall 6%", fall, 100, 94, true},
		{"fall 4%", fall, 100, 96, false},
		{"either, down 15%", either, 100, 85, true},
		{"either, up 15%", either, 100, 115, true},
		{"either, up 5%", either, 100, 105, false},
		{"from zero", rise, 0, 0.01, true},
		{"zero to zero", rise, 0, 0, false},
		{"absolute +51", abs, 100, 151, true},
		{"absolute +49", abs, 100, 149, false},
	}
	for _, c := range cases {
		if got := c.tol.exceeded(c.base, c.cur); got != c.want {
			t.Errorf("%s: exceeded = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestOpHolds(t *testing.T) {
	cases := []struct {
		op       Op
		v, limit float64
		want     bool
	}{
		{OpLess, 1, 2, true}, {OpLess, 2, 2, false}, {OpLessEq, 2, 2, true}, {OpGreater, 3, 2, true},
		{OpGreater, 2, 2, false}, {OpGreaterEq, 2, 2, true}, {OpEqual, 0, 0, true}, {OpEqual, 0.1, 0, false},
		{OpNotEqual, 0.1, 0, true}, {OpNotEqual, 0, 0, false},
	}
	for _, c := range cases {
		if got := (Assertion{Op: c.op, Limit: c.limit}).Holds(c.v); got != c.want {
			t.Errorf("%v %s %v = %v", c.v, c.op, c.limit, got)
		}
	}
}

// No input makes the parsers panic, and every failure is a *SyntaxError whose message renders.
func FuzzParseAssertion(f *testing.F) {
	for _, s := range []string{"ttft.p95 < 800ms", "c=8:", ":", "stage=:x", "e2e.p95 <= 1e", "x ≤ ≥", "errors.rate == 1%%", "\t\n", "ttft.p95 < 5 µ", "a:b:c < 1", "e2e.p95=+10%,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := ParseAssertion(s); err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("%q: %v is not a *SyntaxError", s, err)
			}
			_ = se.Error()
		}
		if _, err := ParseTolerances(s); err != nil {
			_ = err.Error()
		}
	})
}

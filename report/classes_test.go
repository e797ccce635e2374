package report

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/results"
)

// A stage with classes shows each class apart: a CSV row per class with its own figures, and
// a row per class in the report's classes table with its goodput.
func TestClassesAreReportedApart(t *testing.T) {
	summary := func(p95 float64) map[string]results.Summary {
		return map[string]results.Summary{results.MetricTTFT: {N: 10, P50: p95 / 2, P95: p95}, results.MetricE2E: {N: 10, P50: p95, P95: 2 * p95}}
	}
	st := &results.StageResult{Name: "c=4", Concurrency: 4, WallS: 2, Requests: results.Counts{Total: 20, OK: 20},
		Throughput: results.Throughput{OutputTokensPerS: 300}, LatencyMs: summary(400), Histograms: map[string]string{},
		Goodput: &results.Goodput{SLO: "ttft<=500ms", Good: 15, Total: 20, Share: 0.75},
		Classes: map[string]*results.Class{
			"chat":  {Requests: results.Counts{Total: 15, OK: 15}, Throughput: results.Throughput{OutputTokensPerS: 100}, LatencyMs: summary(900), Goodput: &results.Goodput{Good: 10, Total: 15, Share: 0.667}},
			"batch": {Requests: results.Counts{Total: 5, OK: 5}, Throughput: results.Throughput{OutputTokensPerS: 200}, LatencyMs: summary(200), Goodput: &results.Goodput{Good: 5, Total: 5, Share: 1}},
		}}
	f := &results.File{Schema: results.Schema, Runs: []*results.Run{{Stages: []*results.StageResult{st}}}}
	var out bytes.Buffer
	if err := Render(&out, []*results.File{f}, Options{Format: FormatCSV}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil || len(rows) != 4 {
		t.Fatalf("%d rows (%v), want a header, the stage and its two classes", len(rows), err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for i, want := range []struct{ class, ttft, tps string }{{"", "400", "300"}, {"batch", "200", "200"}, {"chat", "900", "100"}} {
		r := rows[i+1]
		if r[col["class"]] != want.class || r[col["ttft_p95_ms"]] != want.ttft || r[col["output_tokens_per_s"]] != want.tps {
			t.Errorf("row %d: class %q TTFT p95 %q tok/s %q; want %+v", i+1, r[col["class"]], r[col["ttft_p95_ms"]], r[col["output_tokens_per_s"]], want)
		}
	}
	out.Reset()
	if err := Render(&out, []*results.File{f}, Options{Format: FormatText}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Classes of traffic", "chat", "batch", "67%", "100%"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, out.String())
		}
	}
}

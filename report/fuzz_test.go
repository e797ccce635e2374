package report

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/analysis"
)

// FuzzReport: any results file that decodes goes through the whole report — the analysis,
// every format (markdown with its charts), the run summaries and the comparison — without a
// panic, and fails, if at all, as bad input. The seeds are the fixtures (hostile.json
// among them) and files that are nearly empty.
func FuzzReport(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "testdata", "results", "*.json"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"schema":"llmload/v1","runs":[{"stages":[{"name":"c=1","requests":{"total":1,"ok":1},"latency_ms":{"e2e":{"n":1,"p50":1e308,"max":1e308}}}],"plan":{"mix":[{"model":"m"}]}}]}`,
		`{"schema":"llmload/v1","runs":[{"labels":{"num_parallel":"x"},"stages":[{"name":"","concurrency":-1,"rate":1e300,"wall_s":-1}]},{"labels":{"num_parallel":"0"},"stages":[]}]}`,
		`{"schema":"llmload/v1","runs":[{"stages":[{"name":"c=1","histograms":{"e2e":"HISTFAAAAA=="}}]}]}`,
		`{"schema":"llmload/v1","runs":[{}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := results.Decode(bytes.NewReader(b))
		if err != nil {
			return
		}
		files := []*results.File{file}
		inputErr := func(what string, err error) {
			var ie *results.InputError
			if err != nil && !errors.As(err, &ie) {
				t.Errorf("%s: %v (not bad input)", what, err)
			}
		}
		for _, run := range file.Runs {
			if err := WriteSummary(io.Discard, run); err != nil {
				t.Errorf("summary: %v", err)
			}
		}
		a, err := analysis.Analyze(files, analysis.Options{Sources: []string{"fuzz.json"}})
		if err != nil {
			inputErr("analyze", err)
			return
		}
		if a.Comparison != nil {
			_ = WriteComparison(io.Discard, a.Comparison)
		}
		charts := Charts{Dir: t.TempDir(), Link: "charts"}
		inputErr("markdown", WriteMarkdown(io.Discard, a, charts))
		inputErr("html", WriteHTML(io.Discard, a, Charts{}))
		inputErr("text", WriteText(io.Discard, a))
		inputErr("csv", WriteCSV(io.Discard, a))
		inputErr("json", WriteJSON(io.Discard, a))
		for _, m := range histogramMetrics() {
			tables, err := HgrmTables(a, HgrmSelection{Metrics: []string{m}})
			inputErr("hgrm "+m, err)
			for _, tb := range tables {
				inputErr("hgrm "+m, tb.Write(io.Discard))
			}
		}
		for _, opts := range []Options{{Merge: true}, {By: "num_parallel", Concurrency: 2}} {
			opts.Format = FormatText
			inputErr("render", Render(io.Discard, files, opts))
		}
	})
}

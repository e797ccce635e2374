package gate

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/llmload/llmload/bench/results"
)

// FuzzGate: any results file that decodes is judged (against assertions, and against itself
// as a baseline) and written in every format of the gate — table, markdown, benchstat, JUnit —
// without a panic; a refusal is bad input, an overloaded client or a noisy run.
func FuzzGate(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "results", "*.json"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"schema":"llmload/v1","runs":[{"labels":{"num_parallel":"1"},"stages":[{"name":"c=1","requests":{"total":3,"ok":2,"errors":{"http_503":1}},"latency_ms":{"ttft":{"n":2,"p95":1e308}}}]}]}`))
	assertions := []string{"ttft.p95 < 800ms", "errors.rate == 0", "c=1:e2e.p99 <= 2s", "output_tps >= 1", "class=chat:ttft.p50 < 1s"}
	var as []Assertion
	for _, s := range assertions {
		a, err := ParseAssertion(s)
		if err != nil {
			f.Fatal(err)
		}
		as = append(as, a)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := results.Decode(bytes.NewReader(b))
		if err != nil {
			return
		}
		in := Input{Files: []*results.File{file}, Sources: []string{"fuzz.json"}}
		for _, base := range []Input{{}, in} {
			r, err := Evaluate(in, base, Options{Assertions: as, AllowOverloaded: true, AllowNoisy: true})
			if err != nil {
				var ie *results.InputError
				if !errors.As(err, &ie) {
					t.Fatalf("evaluate: %v (not bad input)", err)
				}
				continue
			}
			for name, write := range map[string]func(io.Writer, *Result) error{"table": WriteTable, "markdown": WriteMarkdown, "junit": WriteJUnit} {
				if err := write(io.Discard, r); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		}
		if err := WriteBenchstat(io.Discard, in, nil); err != nil {
			t.Errorf("benchstat: %v", err)
		}
	})
}

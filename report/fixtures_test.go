package report

import (
	"flag"
	"path/filepath"
	"testing"

	"github.com/llmload/llmload/bench/results"
)

// genFixtures regenerates testdata/results/hostile.json from the CLI-made fixtures (see
// testdata/results/README.md): go test ./report -run TestGenerateHostile -gen-fixtures
var genFixtures = flag.Bool("gen-fixtures", false, "regenerate testdata/results/hostile.json")

// hostileText is what a malicious or broken server could put into a results file: HTML,
// markdown that would break a table or open a link, terminal escapes, bidi overrides,
// spreadsheet formulas.
const hostileText = "<script>alert(1)</script> | cell | <img src=x onerror=alert(2)>\n# heading\n[click](javascript:alert(3)) ![i](http://evil.example/x.png) \x1b[31mred\x1b[0m \u202eevil `code` **bold** &lt;b&gt; $x$"

// TestGenerateHostile derives hostile.json from two engine-made fixtures by putting
// hostileText (and variations) wherever a results file carries text from the server, the
// user or the environment.
func TestGenerateHostile(t *testing.T) {
	if !*genFixtures {
		t.Skip("regenerate with -gen-fixtures")
	}
	a, err := results.ReadFile(filepath.Join("..", "testdata", "results", "run-np1.json"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := results.ReadFile(filepath.Join("..", "testdata", "results", "openai-errors.json"))
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := a.Runs[0], b.Runs[0]
	r1.Labels = map[string]string{"num_parallel": "1", "team|x": hostileText}
	r1.GPU.Devices[0].Name = "GPU <img src=x onerror=alert(4)>\x1b[2J"
	r2.Labels = map[string]string{"num_parallel": "4</td><script>x</script>", "=HYPERLINK(\"http://evil\")": "-2+3"}
	for _, r := range []*results.Run{r1, r2} {
		r.Plan.Mix[0].Model = "llama<img src=x onerror=alert(1)>|pwn\n## x"
		r.Target.ServerVersion = "0.17.4\x1b]8;;http://evil\x07link\x1b]8;;\x07"
		r.Target.URL = "http://127.0.0.1:11434/<b>x</b>|"
		r.Host.Hostname = "**host** _x_ `y`"
		r.Notes = []string{hostileText, "=cmd|' /C calc'!A0", "@SUM(1+1)"}
		r.Stages[len(r.Stages)-1].Name = "c=4|</td><script>s</script>"
	}
	r2.GPU.Reason, r2.GPU.Notices = hostileText, []string{hostileText}
	for class := range r2.Stages[1].Requests.Errors {
		r2.Stages[1].Requests.ErrorSamples[class] = hostileText + " (" + class + ")"
	}
	f := &results.File{Schema: results.Schema, Tool: results.Tool{Name: "llmload", Version: "fixture-generator"}, Runs: []*results.Run{r1, r2}}
	if err := f.Write(filepath.Join("..", "testdata", "results", "hostile.json")); err != nil {
		t.Fatal(err)
	}
}

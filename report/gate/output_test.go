package gate

import (
	"bytes"
	"encoding/xml"
	"flag"
	"strconv"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/results"
	goldenfile "github.com/llmload/llmload/report/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, "./report/gate", name, got, *update)
}

// scenario is a build whose c=8 stage decodes 50 % slower than the baseline's, judged with
// assertions and the default tolerances: five runs a side.
func scenario(t *testing.T) *Result {
	t.Helper()
	base := []*results.Run{}
	cur := []*results.Run{}
	for i, jitter := range []float64{0, 0.01, -0.01, 0.02, -0.02} {
		b := &results.Run{Repeat: i + 1, Stages: []*results.StageResult{stageOf(1, 1+jitter), stageOf(8, 2+jitter)}}
		c := &results.Run{Repeat: i + 1, Stages: []*results.StageResult{stageOf(1, 1+jitter/2), stageOf(8, 3+jitter)}}
		base, cur = append(base, b), append(cur, c)
	}
	r, err := Evaluate(input("current.json", cur), input("baseline.json", base), Options{
		Assertions: mustAssert(t, "ttft.p95 < 800ms", "c=8:output_tps >= 400/s"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWriteTableGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, scenario(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "slower.txt", b.Bytes())
}

func TestWriteMarkdownGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMarkdown(&b, scenario(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "slower.md", b.Bytes())
}

func TestWriteJUnit(t *testing.T) {
	r := scenario(t)
	var b bytes.Buffer
	if err := WriteJUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	golden(t, "slower.xml", b.Bytes())
	var doc junitSuites
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	s := doc.Suites[0]
	if s.Tests != len(r.Checks) || len(s.Cases) != len(r.Checks) || s.Failures != r.Failed() || doc.Failures != r.Failed() {
		t.Errorf("tests %d cases %d failures %d; checks %d failed %d", s.Tests, len(s.Cases), s.Failures, len(r.Checks), r.Failed())
	}
	var failed []string
	for _, c := range s.Cases {
		if c.Failure != nil {
			failed = append(failed, c.Name+": "+c.Failure.Message)
		}
	}
	want := "c=8: c=8:output_tps >= 400/s"
	if len(failed) == 0 || !strings.HasPrefix(failed[0], want) {
		t.Errorf("failures %q, want the first to be %q", failed, want)
	}
}

func TestWriteBenchstat(t *testing.T) {
	var runs []*results.Run
	for i := range 3 {
		r := &results.Run{Repeat: i + 1, Labels: map[string]string{"num_parallel": "4", "commit": "abc"}}
		r.Stages = []*results.StageResult{stageOf(1, 2), stageOf(8, 3)}
		r.Stages[1].Name = "rate=2/s"
		runs = append(runs, r)
	}
	other := &results.Run{Labels: map[string]string{"num_parallel": "8", "commit": "abc"}, Stages: []*results.StageResult{stageOf(1, 2)}}
	m, _ := results.LookupMetric("gpu.energy_j")
	var b bytes.Buffer
	if err := WriteBenchstat(&b, input("cur.json", runs, []*results.Run{other}), []results.Metric{m}); err != nil {
		t.Fatal(err)
	}
	golden(t, "benchstat.txt", b.Bytes())
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	bench := 0
	for _, l := range lines {
		if !strings.HasPrefix(l, "Benchmark") {
			continue
		}
		bench++
		f := strings.Fields(l)
		// Name, iterations, then value-unit pairs.
		if len(f) < 4 || len(f)%2 != 0 || f[1] != "1" {
			t.Errorf("malformed line %q", l)
		}
		for i := 2; i < len(f); i += 2 {
			if _, err := strconv.ParseFloat(f[i], 64); err != nil {
				t.Errorf("value %q in %q", f[i], l)
			}
		}
		if !strings.HasPrefix(f[0], "BenchmarkLLM/num_parallel=") || strings.Contains(f[0], "commit") {
			t.Errorf("name %q: want the varying label and not the constant one", f[0])
		}
	}
	if bench != 7 {
		t.Errorf("%d benchmark lines, want 7 (3 runs x 2 stages + 1)", bench)
	}
}

func TestBenchName(t *testing.T) {
	cases := map[string]string{"c=8": "c=8", "rate=2/s": "rate=2", "warm up": "warm_up", "step-2": "step-2_", "a/b": "a_b"}
	for in, want := range cases {
		if got := benchName(in); got != want {
			t.Errorf("benchName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMarkdownEscapesHostileNames(t *testing.T) {
	rs := runs(map[string]string{"x": "a|b"}, []float64{2})
	rs = append(rs, runs(map[string]string{"x": "<script>"}, []float64{2})...)
	rs[0].Stages[0].Name = "c=2 | <b>*x*</b>"
	r, err := Evaluate(input("cur.json", rs), Input{}, Options{Assertions: mustAssert(t, "tpot.p50 > 5")})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, bad := range []string{"<script>", "<b>"} {
		if strings.Contains(out, bad) {
			t.Errorf("markdown holds %q unescaped:\n%s", bad, out)
		}
	}
	rows := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "| x=") {
			rows++
			if n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|"); n != 8 {
				t.Errorf("row has %d cell borders, want 8: %s", n, line)
			}
		}
	}
	if rows != 2 {
		t.Errorf("%d table rows, want 2:\n%s", rows, out)
	}
}

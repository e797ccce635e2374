package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/bench/sim"
)

// gateCmd runs the built llmload with a $GITHUB_STEP_SUMMARY of the test's choosing ("" for
// none), so that tests run inside GitHub Actions never write to the real step summary. The
// runs these tests judge are made while `go test ./...` runs other packages on the same cores,
// so they may say they are noisy: the gate judges them anyway (--allow-noisy), except in the
// test of exactly that (gateNoisyCmd).
func gateCmd(t *testing.T, dir, summary string, args ...string) result {
	t.Helper()
	if len(args) > 0 && args[0] == "gate" {
		args = append(args, "--allow-noisy")
	}
	return gateNoisyCmd(t, dir, summary, args...)
}

// gateNoisyCmd is gateCmd that leaves --allow-noisy to the caller.
func gateNoisyCmd(t *testing.T, dir, summary string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "OLLAMA_HOST=", "GITHUB_STEP_SUMMARY="+summary)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// slowProfile writes a simulator profile file whose llama3.2:1b decodes 1.5 times slower
// than the preset: the "slower build".
func slowProfile(t *testing.T, dir string) string {
	t.Helper()
	var step time.Duration
	for _, p := range sim.Presets() {
		if p.Name == "llama3.2:1b" {
			step = p.DecodeStep
		}
	}
	if step == 0 {
		t.Fatal("no llama3.2:1b preset")
	}
	path := filepath.Join(dir, "slow.yaml")
	yaml := fmt.Sprintf("models:\n  - from: llama3.2:1b\n    decode_step: %s\n", step*3/2)
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// simRun writes five repeats of a small seeded simulator run to out. Speed 2 keeps a decode
// step at 2 ms of wall time, coarse enough that timer jitter on a busy machine stays small
// against it.
func simRun(t *testing.T, dir, out string, extra ...string) {
	t.Helper()
	args := append([]string{"run", "--sim", "--sim-speed", "2", "-m", "llama3.2:1b", "-c", "2", "-n", "4",
		"--max-tokens", "32", "--repeat", "5", "--gpu", "off", "-q", "-o", out}, extra...)
	if r := llmload(t, dir, args...); r.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// The gate on real results: a baseline, the same build again, and a build whose decode step
// is 1.5x slower, five repeats each. Tolerances are generous (20 %) against a 50 % slowdown,
// because the machine running the tests is shared and noisy.
func TestGateOnSimulatorRuns(t *testing.T) {
	dir := t.TempDir()
	simRun(t, dir, "base.json")
	simRun(t, dir, "rerun.json")
	simRun(t, dir, "slow.json", "--sim-profile", slowProfile(t, dir))
	tol := "tpot.p50=+20%,output_tps=-20%"

	t.Run("slower build fails", func(t *testing.T) {
		summary := filepath.Join(dir, "summary.md")
		if err := os.WriteFile(summary, []byte("# earlier step\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := gateCmd(t, dir, summary, "gate", "slow.json", "--baseline", "base.json", "--max-regression", tol, "--junit", "gate.xml")
		t.Logf("\n%s", r.stdout)
		if r.code != 1 {
			t.Fatalf("exit %d, want 1 (gate failed)\n%s%s", r.code, r.stdout, r.stderr)
		}
		// Five against five fully separated is p = 2/252 = 0.00794 exactly; TPOT values may tie
		// (HDR buckets), which moves p a little, so the test asks for the verdict only.
		for _, want := range []string{"tpot.p50 (+20%)", "output_tps (-20%)", " n=5+5", "beyond the +20% tolerance", "gate: FAIL (2 of 2 checks failed)"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("table lacks %q", want)
			}
		}
		if !strings.Contains(r.stderr, "gate failed: 2 of 2 checks failed") {
			t.Errorf("stderr %q", r.stderr)
		}
		var doc struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Suites   []struct {
				Cases []struct {
					Name    string `xml:"name,attr"`
					Failure *struct {
						Message string `xml:"message,attr"`
					} `xml:"failure"`
				} `xml:"testcase"`
			} `xml:"testsuite"`
		}
		b, err := os.ReadFile(filepath.Join(dir, "gate.xml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := xml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("gate.xml: %v", err)
		}
		if doc.Tests != 2 || doc.Failures != 2 || len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != 2 {
			t.Fatalf("junit: %d tests, %d failures: %s", doc.Tests, doc.Failures, b)
		}
		if c := doc.Suites[0].Cases[0]; c.Name != "c=2: tpot.p50 (+20%)" || c.Failure == nil || !strings.Contains(c.Failure.Message, "beyond the +20% tolerance") {
			t.Errorf("junit case %+v", c)
		}
		md, _ := os.ReadFile(summary)
		if !strings.HasPrefix(string(md), "# earlier step\n### ❌ llmload gate: FAIL") || !strings.Contains(string(md), "| c=2 | `tpot.p50 (+20%)` |") {
			t.Errorf("step summary not appended as markdown:\n%s", md)
		}
	})

	t.Run("same build rerun passes", func(t *testing.T) {
		r := gateCmd(t, dir, "", "gate", "rerun.json", "--baseline", "base.json", "--max-regression", tol)
		t.Logf("\n%s", r.stdout)
		if r.code != 0 {
			t.Fatalf("exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "gate: PASS (2 checks)") {
			t.Errorf("table:\n%s", r.stdout)
		}
	})

	t.Run("assertions", func(t *testing.T) {
		r := gateCmd(t, dir, "", "gate", "base.json", "--assert", "tpot.p50 < 1s", "--assert", "errors.rate == 0",
			"--assert", "stage=c=2:output_tps > 1/s", "--stage", "c=2")
		if r.code != 0 || !strings.Contains(r.stdout, "gate: PASS (3 checks)") {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		r = gateCmd(t, dir, "", "gate", "slow.json", "--assert", "tpot.p50 <= 1us")
		if r.code != 1 || !strings.Contains(r.stdout, "not <= 0.001ms") {
			t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("benchstat lines", func(t *testing.T) {
		r := gateCmd(t, dir, "", "gate", "base.json", "--format", "benchstat", "--assert", "ttft.p95 < 10s")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		n := 0
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(l, "BenchmarkLLM/stage=c=2 1 ") && strings.Contains(l, " ns/tpot-p50") && strings.Contains(l, " tok/s") {
				n++
			}
		}
		if n != 5 {
			t.Errorf("%d benchmark lines, want one per repeat (5):\n%s", n, r.stdout)
		}
		if !strings.Contains(r.stderr, "gate: PASS") {
			t.Errorf("the table should go to stderr with --format benchstat:\n%s", r.stderr)
		}
	})

	t.Run("overloaded client exits 2", func(t *testing.T) {
		f := readResults(t, filepath.Join(dir, "base.json"))
		f.Runs[2].Stages[0].Client.Overloaded = true
		f.Runs[2].Stages[0].Client.Reason = "send lag p99 250ms"
		if err := f.Write(filepath.Join(dir, "overloaded.json")); err != nil {
			t.Fatal(err)
		}
		r := gateCmd(t, dir, "", "gate", "overloaded.json", "--assert", "errors.rate == 0")
		if r.code != 2 || !strings.Contains(r.stderr, "client overloaded: results unreliable (overloaded.json run 3, stage c=2: send lag p99 250ms)") {
			t.Fatalf("exit %d, want 2\n%s", r.code, r.stderr)
		}
		r = gateCmd(t, dir, "", "gate", "overloaded.json", "--assert", "errors.rate == 0", "--allow-overloaded")
		if r.code != 0 || !strings.Contains(r.stdout, "judged anyway") {
			t.Fatalf("--allow-overloaded: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
}

// tinyResults writes a results file with one run of one stage, c=2.
func tinyResults(t *testing.T, path string) {
	t.Helper()
	f := &results.File{Schema: results.Schema, Runs: []*results.Run{{Stages: []*results.StageResult{{
		Name: "c=2", Concurrency: 2, WallS: 1, Requests: results.Counts{Total: 4, OK: 4},
		Throughput: results.Throughput{RequestsPerS: 4, OutputTokensPerS: 100},
		LatencyMs:  map[string]results.Summary{"ttft": {N: 4, P50: 10, P95: 12}, "e2e": {N: 4, P50: 100, P95: 120}, "tpot": {N: 4, P50: 3, P95: 4}},
	}}}}}
	if err := f.Write(path); err != nil {
		t.Fatal(err)
	}
}

func TestGateBadInputExitsTwo(t *testing.T) {
	dir := t.TempDir()
	tinyResults(t, filepath.Join(dir, "r.json"))
	tinyResults(t, filepath.Join(dir, "cur", "r.json"))
	tinyResults(t, filepath.Join(dir, "base", "a.json"))
	tinyResults(t, filepath.Join(dir, "base", "b.json"))
	if err := os.WriteFile(filepath.Join(dir, "junk.json"), []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown metric lists the valid ones", []string{"r.json", "--assert", "ttft.p96 < 800ms"},
			[]string{"--assert: unknown metric \"ttft.p96\"\n    ttft.p96 < 800ms\n    ^^^^^^^^\n", "did you mean one of ttft.p90, ttft.p95, ttft.p99?", "valid metrics: {e2e,service,ttft"}},
		{"syntax error marks the token", []string{"r.json", "--assert", "c=2:ttft.p95 = 800ms"},
			[]string{"'=' is not a comparison", "    c=2:ttft.p95 = 800ms\n                 ^\n"}},
		{"unit that does not fit", []string{"r.json", "--assert", "output_tps >= 40ms"},
			[]string{"unit \"ms\" does not fit output_tps", "                  ^^"}},
		{"bad tolerance", []string{"r.json", "--baseline", "r.json", "--max-regression", "e2e.p95=+10%,ttft.p95=fast"},
			[]string{"--max-regression: expected a number, not \"fast\"", "                          ^^^^"}},
		{"missing file", []string{"missing.json", "--assert", "errors.rate == 0"}, []string{"missing.json"}},
		{"not JSON", []string{"junk.json", "--assert", "errors.rate == 0"}, []string{"junk.json: not valid JSON"}},
		{"no files", nil, []string{"give at least one results file"}},
		{"nothing to check", []string{"r.json"}, []string{"nothing to check"}},
		{"unknown stage", []string{"r.json", "--assert", "errors.rate == 0", "--stage", "c=99"}, []string{`no stage "c=99" in the current runs (stages: c=2)`}},
		{"unknown stage in an assertion", []string{"r.json", "--assert", "c=9:errors.rate == 0"}, []string{`no stage "c=9"`}},
		{"alpha", []string{"r.json", "--baseline", "r.json", "--alpha", "2"}, []string{"--alpha must lie between 0 and 1"}},
		{"format", []string{"r.json", "--assert", "errors.rate == 0", "--format", "xml"}, []string{"--format must be table, markdown or benchstat"}},
		{"tolerance without baseline", []string{"r.json", "--max-regression", "e2e.p95=+10%"}, []string{"--max-regression needs --baseline"}},
		{"same file on both sides", []string{"r.json", "--baseline", "r.json"}, []string{"given both as a current file and as --baseline"}},
		{"unquoted baseline glob", []string{"cur/r.json", "--baseline", "base/a.json", "base/b.json"}, []string{"base/b.json sits beside the baseline", "quote it (--baseline 'base/*.json')"}},
		{"baseline glob without a match", []string{"r.json", "--baseline", "nothing/*.json"}, []string{"--baseline: nothing/*.json: no file matches"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := gateCmd(t, dir, "", append([]string{"gate"}, c.args...)...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
				t.Errorf("stack trace on bad input:\n%s", r.stderr)
			}
		})
	}
}

// A baseline may be a directory or a quoted glob; both name the same files.
func TestGateBaselineDirectoryAndGlob(t *testing.T) {
	dir := t.TempDir()
	tinyResults(t, filepath.Join(dir, "cur.json"))
	tinyResults(t, filepath.Join(dir, "base", "a.json"))
	tinyResults(t, filepath.Join(dir, "base", "b.json"))
	for _, b := range []string{"base", "base/*.json"} {
		r := gateCmd(t, dir, "", "gate", "cur.json", "--baseline", b, "--format", "markdown")
		if r.code != 0 || !strings.Contains(r.stdout, "Baseline: 2 runs (base/a.json, base/b.json)") {
			t.Errorf("--baseline %s: exit %d\n%s%s", b, r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "1 baseline and 1 current runs") && !strings.Contains(r.stdout, "2 baseline and 1 current runs") {
			t.Errorf("--baseline %s: no warning about too few runs:\n%s", b, r.stdout)
		}
	}
}

func TestCheckSidesCatchesAnUnquotedGlobOnly(t *testing.T) {
	cases := []struct {
		name       string
		args, base []string
		bad        bool
	}{
		{"one file each", []string{"current.json"}, []string{"main.json"}, false},
		{"quoted glob", []string{"cur/1.json", "cur/2.json"}, []string{"base/1.json", "base/2.json"}, false},
		{"unquoted glob after one file", []string{"current.json", "base/2.json", "base/3.json"}, []string{"base/1.json"}, true},
		{"unquoted glob after a glob", []string{"cur/1.json", "cur/2.json", "base/2.json"}, []string{"base/1.json"}, true},
		{"all in one directory", []string{"a.json", "main2.json"}, []string{"main.json"}, false},
		{"beside the baseline but sorting before it", []string{"cur/x.json", "base/0.json"}, []string{"base/1.json"}, false},
		{"the same file twice", []string{"a.json"}, []string{"./a.json"}, true},
	}
	for _, c := range cases {
		err := checkSides(c.args, c.args, c.base)
		if (err != nil) != c.bad {
			t.Errorf("%s: error %v, want one: %v", c.name, err, c.bad)
		}
	}
}

// A noisy run is refused (exit 2, the causes named) unless --allow-noisy.
func TestGateRefusesNoisyRuns(t *testing.T) {
	dir := t.TempDir()
	f := &results.File{Schema: results.Schema, Runs: []*results.Run{{
		Stages: []*results.StageResult{{Name: "c=1", Concurrency: 1, WallS: 1, Requests: results.Counts{Total: 3, OK: 3},
			LatencyMs: map[string]results.Summary{"e2e": {N: 3, P50: 10, Max: 12}}, Histograms: map[string]string{}}},
		Noise: []string{"noisy: the machine was busy during stage c=1: other processes used 60% of its CPUs"},
	}}}
	if err := f.Write(filepath.Join(dir, "noisy.json")); err != nil {
		t.Fatal(err)
	}
	r := gateNoisyCmd(t, dir, "", "gate", "noisy.json", "--assert", "errors.rate == 0")
	if r.code != 2 || !strings.Contains(r.stderr, "noisy: the machine was busy") || !strings.Contains(r.stderr, "--allow-noisy") {
		t.Errorf("exit %d, want 2 naming the cause and --allow-noisy:\n%s", r.code, r.stderr)
	}
	r = gateNoisyCmd(t, dir, "", "gate", "noisy.json", "--assert", "errors.rate == 0", "--allow-noisy")
	if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "judged anyway") {
		t.Errorf("--allow-noisy: exit %d, want 0 with a note\n%s%s", r.code, r.stdout, r.stderr)
	}
}

package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench"
)

// quickSim are the flags of a run on the simulator's instant model: done in a moment.
var quickSim = []string{"--sim", "-m", "instant", "-n", "2", "--warmup", "0", "--gpu", "off", "--no-progress"}

// `run -o DIR/` and `run -o newdir/` write a results file inside the folder, as sweep does,
// instead of failing at the end with "is a directory" or "file exists".
func TestRunWritesInsideAFolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "outdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{"outdir/", "outdir", "newdir/"} {
		r := llmload(t, dir, append([]string{"run", "-o", o}, quickSim...)...)
		if r.code != 0 {
			t.Fatalf("run -o %s: exit %d\n%s%s", o, r.code, r.stdout, r.stderr)
		}
		m, _ := filepath.Glob(filepath.Join(dir, strings.TrimSuffix(o, "/"), "llmload-*.json"))
		if len(m) == 0 {
			t.Fatalf("run -o %s: no results file inside the folder; stderr %q", o, r.stderr)
		}
		readResults(t, m[0])
		if !strings.Contains(r.stderr, "results written to "+filepath.Join(strings.TrimSuffix(o, "/"), "llmload-")) {
			t.Errorf("run -o %s: stderr does not say where: %q", o, r.stderr)
		}
		for _, f := range m {
			os.Remove(f)
		}
	}
}

// Every output path is checked before the first request: a path that cannot be written is
// bad input (exit 2) named in the error, and nothing is sent.
func TestOutputPathsAreCheckedBeforeAnythingRuns(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tinyResults(t, filepath.Join(dir, "r.json"))
	bad := filepath.Join(file, "under-a-file.json") // its folder is a file: never writable
	for _, tt := range []struct {
		args []string
		flag string
	}{
		{append([]string{"run", "-o", "/proc/x/y.json"}, quickSim...), "-o /proc/x/y.json"},
		{append([]string{"run", "-o", bad}, quickSim...), "-o " + bad},
		{append([]string{"run", "--records", bad}, quickSim...), "--records " + bad},
		{append([]string{"sweep", "--num-parallel", "1", "-o", bad}, quickSim...), "-o " + bad},
		{[]string{"report", "r.json", "-o", bad}, "-o " + bad},
		{[]string{"gate", "r.json", "--assert", "errors == 0", "--junit", bad}, "--junit " + bad},
	} {
		r := llmload(t, dir, tt.args...)
		if r.code != exitBadInput || !strings.Contains(r.stderr, tt.flag+": cannot write there") {
			t.Errorf("%s: exit %d, stderr %q; want 2 naming %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.flag)
		}
		if r.stdout != "" {
			t.Errorf("%s: something ran before the check:\n%s", strings.Join(tt.args[:2], " "), r.stdout)
		}
	}
}

// An output that is also an input is refused before it is overwritten.
func TestAnOutputThatIsAlsoAnInputIsRefused(t *testing.T) {
	dir := t.TempDir()
	tinyResults(t, filepath.Join(dir, "x.json"))
	tinyResults(t, filepath.Join(dir, "y.json"))
	writeFile(t, dir, "p.yaml", "stages: [{concurrency: 1, requests: 1}]\nmix: [{model: instant, prompt_file: prompts.txt}]\n")
	writeFile(t, dir, "prompts.txt", "hello")
	before, _ := os.ReadFile(filepath.Join(dir, "x.json"))
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "x.json", "-o", "x.json"}, "-o x.json is also a results file it reads"},
		{[]string{"report", "x.json", "-o", "./x.json", "-f", "json"}, "-o ./x.json is also a results file it reads"},
		{[]string{"gate", "x.json", "--assert", "errors == 0", "--junit", "x.json"}, "--junit x.json is also a results file it judges"},
		{[]string{"gate", "y.json", "--baseline", "x.json", "--junit", "x.json"}, "--junit x.json is also a --baseline file"},
		{append([]string{"run", "-o", "x.json", "--records", "x.json"}, quickSim...), "--records x.json is also -o x.json"},
		{[]string{"run", "--sim", "--plan", "p.yaml", "-o", "p.yaml"}, "-o p.yaml is also the --plan file"},
		{[]string{"run", "--sim", "--plan", "p.yaml", "--records", "prompts.txt"}, "--records prompts.txt is also an input of the workload"},
		{[]string{"sweep", "--sim", "--num-parallel", "1", "--plan", "p.yaml", "-o", "p.yaml"}, "-o p.yaml is also the --plan file"},
	} {
		r := llmload(t, dir, tt.args...)
		if r.code != exitBadInput || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "x.json")); string(after) != string(before) {
		t.Error("x.json was changed")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "p.yaml")); !strings.HasPrefix(string(b), "stages:") {
		t.Error("the plan was overwritten")
	}
	// /dev/null may take every output: it is no file to lose.
	r := llmload(t, dir, append([]string{"run", "-o", "/dev/null", "--records", "/dev/null"}, quickSim...)...)
	if r.code != 0 {
		t.Errorf("run -o /dev/null --records /dev/null: exit %d, %s", r.code, r.stderr)
	}
}

// When the results cannot be written at the end after all (a disk filled, a folder removed
// during the run), the summary is still printed and the results are saved to a temporary
// file that the error names.
func TestResultsSavedElsewhereWhenTheWriteFailsAtTheEnd(t *testing.T) {
	dir := t.TempDir()
	sys, stdout, _ := testSystem(nil)
	o, err := runOptionsOf(t, sys, append([]string{"-o", filepath.Join(dir, "out.json")}, quickSim...)...)
	if err != nil {
		t.Fatal(err)
	}
	// The check passed; now the path cannot take a file: it became a folder.
	if err := os.Mkdir(o.output, 0o755); err != nil {
		t.Fatal(err)
	}
	err = runChecked(context.Background(), o)
	var we *bench.WriteError
	if !errors.As(err, &we) || we.Saved == "" {
		t.Fatalf("err = %v, want a WriteError that names where the results went", err)
	}
	t.Cleanup(func() { os.Remove(we.Saved) })
	text := errorText(err)
	if !strings.Contains(text, "cannot write the results to "+o.output) || !regexp.MustCompile(`saved them to \S+llmload-results-\d+\.json instead`).MatchString(text) {
		t.Errorf("error text %q", text)
	}
	if exitCode(err) != exitFailed {
		t.Errorf("exit code %d, want 1", exitCode(err))
	}
	if f := readResults(t, we.Saved); len(f.Runs) != 1 || f.Runs[0].Stages[0].Requests.OK != 2 {
		t.Errorf("saved results: %+v", f.Runs)
	}
	if !strings.Contains(stdout.String(), "Stage c=1") {
		t.Errorf("no summary printed:\n%s", stdout.String())
	}
}

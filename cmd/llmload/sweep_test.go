package main

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/bench/sim"
	"github.com/llmload/llmload/report/analysis"
)

// fakeOllama writes an `ollama` that is really `llmload sim`: started as `ollama serve`,
// configured by the same OLLAMA_* variables. The sweep drives it as a real subprocess.
func fakeOllama(t *testing.T, speed string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ollama")
	// The seed is this test's mark on the server's command line (the script execs away).
	body := "#!/bin/sh\nexec \"" + binary + "\" sim --speed " + speed + " --seed " + simMark(p) + " \"$@\"\n"
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func llama1bProfile(t *testing.T) sim.Profile {
	for _, p := range sim.Presets() {
		if p.Name == "llama3.2:1b" {
			return p
		}
	}
	t.Fatal("no llama3.2:1b preset")
	return sim.Profile{}
}

func TestSweepManagedRecoversTheSimulatorsParameters(t *testing.T) {
	// The throughput ratios are timings of a simulator in another process: a shared machine's
	// bursts of load can skew one sweep, so a sweep whose ratios miss is measured again (at most
	// three times); what must hold in any case is checked every time.
	for attempt := 1; ; attempt++ {
		missed := sweepRecovers(t, attempt)
		if len(missed) == 0 {
			return
		}
		if attempt == 3 {
			for _, m := range missed {
				t.Error(m)
			}
			return
		}
		t.Logf("attempt %d: %s; measuring again", attempt, strings.Join(missed, "; "))
	}
}

// sweepRecovers runs one managed sweep of the simulator and returns the timing bounds it missed.
func sweepRecovers(t *testing.T, attempt int) (missed []string) {
	t.Helper()
	dir := t.TempDir()
	r := llmload(t, dir, "sweep", "--ollama", fakeOllama(t, "8"), "--num-parallel", "1,2,4", "-m", "llama3.2:1b",
		"-c", "1,4", "-n", "12", "--max-tokens", "48", "-o", "out/", "--no-progress")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var runs []*results.Run
	for _, k := range []string{"1", "2", "4"} {
		f := readResults(t, filepath.Join(dir, "out", "num_parallel-"+k+".json"))
		run := f.Runs[0]
		if run.Labels["num_parallel"] != k {
			t.Errorf("labels = %v", run.Labels)
		}
		if run.Server == nil || !run.Server.Verified || !run.Server.Managed {
			t.Errorf("NUM_PARALLEL=%s: server info %+v, want managed and verified", k, run.Server)
		}
		if run.Server != nil && run.Server.PID > 0 && syscall.Kill(run.Server.PID, 0) == nil {
			t.Errorf("server %d for NUM_PARALLEL=%s still running", run.Server.PID, k)
		}
		log, err := os.ReadFile(filepath.Join(dir, "out", "server-num_parallel-"+k+".log"))
		if err != nil || !bytes.Contains(log, []byte("parallel="+k)) {
			t.Errorf("server log for %s missing or without its setting: %v", k, err)
		}
		runs = append(runs, run)
	}
	p := llama1bProfile(t)
	cmp := analysis.Compare(runs, analysis.DefaultBy, analysis.SLO{})
	// Memory: weights + overhead + NUM_PARALLEL × KV per slot, so the fitted slope is the
	// profile's KV cache per slot at its context length.
	want := p.MiBPerSlot(p.ContextLength)
	if cmp.MiBPerSlot == nil || math.Abs(cmp.MiBPerSlot.Slope-want) > 0.5 {
		t.Errorf("MiB per slot = %+v, want %.1f", cmp.MiBPerSlot, want)
	}
	// Throughput at c=4: a step of b sequences costs base × (1 + α(b−1)), so b slots give
	// b / (1 + α(b−1)) times the tokens/s of one.
	tps := map[string]float64{}
	for _, s := range cmp.Settings {
		tps[s.Value] = s.Judged.OutputTokensPerS
	}
	for _, b := range []float64{2, 4} {
		model := b / (1 + p.BatchAlpha*(b-1))
		got := tps[map[float64]string{2: "2", 4: "4"}[b]] / tps["1"]
		if got < 0.75*model || got > 1.25*model {
			missed = append(missed, fmt.Sprintf("NUM_PARALLEL=%g: throughput ×%.2f over 1, the cost model says ×%.2f", b, got, model))
		}
	}
	if cmp.Recommendation.Setting != "4" {
		missed = append(missed, fmt.Sprintf("recommendation = %+v, want 4 (throughput still grows and there is no SLO)", cmp.Recommendation))
	}
	if !strings.Contains(r.stdout, "Recommended") {
		t.Errorf("terminal output lacks the recommendation:\n%s", r.stdout)
	}
	return missed
}

func TestSweepSLOPicksASmallerSetting(t *testing.T) {
	// At c=4 a single slot makes requests queue: a tight TTFT objective rules it out, so the
	// answer is a setting with enough slots, on the simulator in-process.
	dir := t.TempDir()
	r := llmload(t, dir, "sweep", "--sim", "--sim-speed", "8", "--num-parallel", "1,4", "-m", "llama3.2:1b",
		"-c", "4", "-n", "12", "--max-tokens", "48", "-o", "one.json", "--slo", "ttft_p95=20ms", "--no-progress")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	f := readResults(t, filepath.Join(dir, "one.json"))
	if len(f.Runs) != 2 {
		t.Fatalf("one results file should hold both runs, has %d", len(f.Runs))
	}
	cmp := analysis.Compare(f.Runs, analysis.DefaultBy, mustSLO(t, "ttft_p95=20ms"))
	if cmp.Recommendation.Setting != "4" {
		t.Errorf("recommendation %+v, want 4", cmp.Recommendation)
	}
	for _, s := range cmp.Settings {
		if s.Value == "1" && s.Judged.Meets {
			t.Errorf("NUM_PARALLEL=1 meets ttft_p95 ≤ 20ms at c=4 with TTFT p95 %.1f ms: queueing not modelled?", s.Judged.TTFTP95)
		}
	}
	for _, k := range []string{"1", "4"} {
		if _, err := os.Stat(filepath.Join(dir, "one-server-num_parallel-"+k+".log")); err == nil {
			t.Errorf("--sim wrote a server log file for %s; only managed servers have one", k)
		}
	}
}

func mustSLO(t *testing.T, s string) analysis.SLO {
	t.Helper()
	slo, err := analysis.ParseSLO(s)
	if err != nil {
		t.Fatal(err)
	}
	return slo
}

func TestSweepServerCrashIsReportedAndNothingLeftRunning(t *testing.T) {
	dir := t.TempDir()
	crash := filepath.Join(dir, "ollama")
	os.WriteFile(crash, []byte("#!/bin/sh\necho 'Error: listen tcp: bind: permission denied' >&2\nexit 1\n"), 0o755)
	r := llmload(t, dir, "sweep", "--ollama", crash, "--num-parallel", "1,2", "-m", "m", "-n", "2", "-o", "out/", "--no-progress")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"NUM_PARALLEL=1", "exited before it was ready", "permission denied"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	// Said once: by the one place that turns errors into words and an exit code.
	if n := strings.Count(r.stderr, "exited before it was ready"); n != 1 {
		t.Errorf("the failure is said %d times:\n%s", n, r.stderr)
	}
}

func TestSweepInterruptedStopsTheServerAndKeepsResults(t *testing.T) {
	dir := t.TempDir()
	ollama := fakeOllama(t, "1") // real time: the second setting is surely still running
	cmd := exec.Command(binary, "sweep", "--ollama", ollama, "--num-parallel", "1,2", "-m", "llama3.2:1b",
		"-c", "2", "-n", "6", "--max-tokens", "16", "-o", "out/", "--no-progress")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the first setting's results exist and the second server listens, then
	// interrupt during the second setting.
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := os.Stat(filepath.Join(dir, "out", "num_parallel-1.json"))
		log, _ := os.ReadFile(filepath.Join(dir, "out", "server-num_parallel-2.log"))
		if err == nil && bytes.Contains(log, []byte("Listening")) {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the second setting's server never started:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("sweep did not stop within 30 s of Ctrl-C")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d, want 130\n%s", code, stderr.String())
	}
	readResults(t, filepath.Join(dir, "out", "num_parallel-1.json"))
	// No server may outlive the sweep: every `llmload sim` started through this wrapper is gone.
	if pids := processesRunning("--seed " + simMark(ollama)); len(pids) > 0 {
		t.Errorf("servers still running after Ctrl-C: pids %v", pids)
	}
}

func TestSweepBadInput(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"sweep", "-m", "x"}, "--num-parallel or --set is required"},
		{[]string{"sweep", "-m", "x", "--num-parallel", "0"}, "--num-parallel values must be at least 1"},
		{[]string{"sweep", "-m", "x", "--num-parallel", "1", "--ollama", "/nonexistent/ollama"}, "--ollama"},
		{[]string{"sweep", "-m", "x", "--num-parallel", "1", "--slo", "ttft=fast"}, "--slo"},
		{[]string{"sweep", "-m", "x", "--external", "--num-parallel", "2"}, "--external"},
		{[]string{"sweep", "-m", "x", "--num-parallel", "1", "--sim", "--server-env", "A=1"}, "do not apply with --sim"},
		{[]string{"sweep", "-m", "x", "--num-parallel", "1", "--url", "http://127.0.0.1:1"}, "--url is for --external"},
	}
	for _, c := range cases {
		r := llmload(t, dir, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

// simMark is a number that only the servers started through one fake ollama carry.
func simMark(path string) string {
	h := fnv.New32a()
	h.Write([]byte(path))
	return strconv.FormatUint(uint64(h.Sum32()), 10)
}

// processesRunning lists the processes whose command line mentions s, from /proc (no pgrep:
// a minimal Debian has none).
func processesRunning(s string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(bytes.ReplaceAll(b, []byte{0}, []byte(" ")), []byte(s)) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// A managed sweep applies --repeat and --records as run does: each setting runs the plan
// --repeat times, and writes its own records file, named after the setting.
func TestSweepManagedRepeatsAndWritesRecords(t *testing.T) {
	dir := t.TempDir()
	r := llmload(t, dir, "sweep", "--ollama", fakeOllama(t, "50"), "--num-parallel", "1,2", "-m", "llama3.2:1b",
		"-c", "2", "-n", "3", "--max-tokens", "8", "--repeat", "2", "--records", "rec.jsonl", "-o", "out.json", "--no-progress")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	f := readResults(t, filepath.Join(dir, "out.json"))
	var got []string
	for _, run := range f.Runs {
		got = append(got, run.Labels["num_parallel"]+"#"+strconv.Itoa(run.Repeat))
	}
	if strings.Join(got, " ") != "1#1 1#2 2#1 2#2" {
		t.Errorf("runs %v, want each setting twice", got)
	}
	for _, k := range []string{"1", "2"} {
		b, err := os.ReadFile(filepath.Join(dir, "rec-num_parallel-"+k+".jsonl"))
		if n := bytes.Count(b, []byte("\n")); err != nil || n != 6 {
			t.Errorf("records of NUM_PARALLEL=%s: %d lines (%v), want 2 repeats × 3", k, n, err)
		}
	}
}

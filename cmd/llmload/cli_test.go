package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/llmload/llmload/bench"
	"github.com/llmload/llmload/bench/results"
)

// binary is llmload built once for the tests that run it as a user would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "llmload-cli")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "llmload")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build llmload: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func llmload(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "OLLAMA_HOST=")
	return runCmd(t, cmd)
}

// runCmd runs cmd to its end and returns what it printed and its exit status; a command that
// cannot start fails the test.
func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
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

func readResults(t *testing.T, path string) *results.File {
	t.Helper()
	f, err := results.ReadFile(path)
	if err != nil {
		t.Fatalf("results file: %v", err)
	}
	return f
}

// fixtureServer replays a recorded Ollama response for every POST.
func fixtureServer(t *testing.T, fixture string, hits *atomic.Int64) *httptest.Server {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("../../testdata/ollama-0.17.4", fixture))
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(raw), "\n\n")
	lines := strings.Split(head, "\n")
	var status int
	fmt.Sscanf(lines[0], "HTTP/1.1 %d", &status)
	ctype := "application/json"
	for _, l := range lines[1:] {
		if k, v, ok := strings.Cut(l, ": "); ok && strings.EqualFold(k, "Content-Type") {
			ctype = v
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		if hits != nil {
			hits.Add(1)
		}
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		fl, _ := w.(http.Flusher)
		sc := bufio.NewScanner(strings.NewReader(body))
		for sc.Scan() {
			fmt.Fprintln(w, sc.Text())
			if fl != nil {
				fl.Flush()
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRunAgainstRecordedOllama(t *testing.T) {
	var hits atomic.Int64
	srv := fixtureServer(t, "generate-stream.http", &hits)
	dir := t.TempDir()
	r := llmload(t, dir, "run", "--url", srv.URL, "-m", "rand-tiny", "-n", "6", "-c", "1,3", "--warmup", "1",
		"-o", "out.json", "--records", "rec.jsonl", "--label", "num_parallel=1", "--header", "Authorization: Bearer sekrit", "--gpu", "off")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if hits.Load() != 13 {
		t.Errorf("server saw %d requests, want 1 warm-up + 2 stages x 6", hits.Load())
	}
	f := readResults(t, filepath.Join(dir, "out.json"))
	run := f.Runs[0]
	if run.Labels["num_parallel"] != "1" || len(run.Stages) != 2 {
		t.Fatalf("labels %v, stages %d", run.Labels, len(run.Stages))
	}
	if run.Target.Sender != "own-http1" || run.Target.SenderReason == "" {
		t.Errorf("sender %q (%q), want own-http1 and why", run.Target.Sender, run.Target.SenderReason)
	}
	st := run.Stages[1]
	if st.Requests.OK != 6 || st.OutputTokens != 48 || st.TokenSource != "server" {
		t.Errorf("stage c=3: ok %d tokens %d source %q", st.Requests.OK, st.OutputTokens, st.TokenSource)
	}
	if st.Histograms["e2e"] == "" || st.LatencyMs["ttft"].N != 6 {
		t.Errorf("histograms/ttft missing: %v %+v", st.Histograms, st.LatencyMs["ttft"])
	}
	for _, name := range []string{"out.json", "rec.jsonl"} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if bytes.Contains(b, []byte("sekrit")) {
			t.Errorf("%s contains the Authorization header's secret", name)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "sekrit") {
		t.Error("output shows the Authorization header's secret")
	}
	recs, _ := os.ReadFile(filepath.Join(dir, "rec.jsonl"))
	if n := bytes.Count(recs, []byte("\n")); n != 12 {
		t.Errorf("records file has %d lines, want 12", n)
	}
	for _, want := range []string{"Stage c=1", "Stage c=3", "E2E", "TTFT", "speed-up"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestRunCountsTruncationAndExitsOne(t *testing.T) {
	srv := fixtureServer(t, "generate-truncated-stream.http", nil)
	dir := t.TempDir()
	r := llmload(t, dir, "run", "--url", srv.URL, "-m", "rand-tiny", "-n", "4", "--warmup", "0", "-o", "out.json", "--gpu", "off", "-q")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (every request truncated)\n%s%s", r.code, r.stdout, r.stderr)
	}
	st := readResults(t, filepath.Join(dir, "out.json")).Runs[0].Stages[0]
	if st.Requests.Errors["truncated"] != 4 || st.Requests.OK != 0 {
		t.Errorf("counts = %+v, want 4 truncated", st.Requests)
	}
	if !strings.Contains(r.stdout, "truncated") {
		t.Errorf("summary does not name the truncation:\n%s", r.stdout)
	}
}

func TestRunConnectionRefusedStillWritesResults(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	r := llmload(t, dir, "run", "--url", "http://"+addr, "-m", "x", "-n", "3", "--warmup", "0", "-o", "out.json", "--gpu", "off", "-q")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	st := readResults(t, filepath.Join(dir, "out.json")).Runs[0].Stages[0]
	if st.Requests.Errors["connection_refused"] != 3 {
		t.Errorf("errors = %v", st.Requests.Errors)
	}
	if !strings.Contains(r.stdout, "No request reached http://"+addr) {
		t.Errorf("no hint that the server is down:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "client overloaded") {
		t.Errorf("a run of refused connections judged the client overloaded:\n%s", r.stdout)
	}
}

func TestBadInputNamesTheFlagAndExitsTwo(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "plan.yaml"), []byte("stages:\n  - concurrency: 0\nmix:\n  - model: m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "negative-timeout.yaml"), []byte("stall_timeout: -1s\nstages:\n  - concurrency: 1\nmix:\n  - model: m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", "-m", "x", "-c", "0"}, "-c/--concurrency"},
		{[]string{"run", "-m", "x", "-c", "two"}, "invalid argument \"two\" for \"-c, --concurrency\""},
		{[]string{"run", "-m", "x", "--api", "grpc"}, "--api: unknown API \"grpc\""},
		{[]string{"run", "-m", "x", "--rate", "2", "-c", "4"}, "not both"},
		{[]string{"run", "-m", "x", "--arrival", "bursty", "--rate", "1"}, "--arrival"},
		{[]string{"run", "--sim", "-c", "4", "--arrival", "poisson"}, "--arrival applies to open-loop runs (--rate) only"},
		{[]string{"sweep", "--sim", "--num-parallel", "1", "-c", "4", "--arrival", "poisson"}, "--arrival applies to open-loop runs (--rate) only"},
		{[]string{"run", "-m", "x=heavy"}, "-m \"x=heavy\""},
		{[]string{"run", "-m", "x", "--option", "num_ctx"}, "--option \"num_ctx\""},
		{[]string{"run", "-m", "x", "--label", "np"}, "--label \"np\""},
		{[]string{"run", "-m", "x", "--header", "NoColon"}, "--header"},
		{[]string{"run", "-m", "x", "--url", "ftp://h"}, "--url"},
		{[]string{"run", "-m", "x", "--gpu", "cuda"}, "--gpu must be auto, off, nvml or sim"},
		{[]string{"run", "--plan", "plan.yaml"}, "plan.yaml:2: stages[0].concurrency: must be at least 1"},
		{[]string{"run", "--plan", "missing.yaml"}, "missing.yaml"},
		{[]string{"run"}, "no model"},
		{[]string{"run", "-m", "x", "--prompt-file", "nope.txt"}, "nope.txt"},
		{[]string{"run", "-m", "x", "extra"}, "unexpected argument \"extra\""},
		{[]string{"sim", "--fault", "meteor:0.1"}, "--fault \"meteor:0.1\""},
		// Bounds are said in the flags' words, not the plan's fields.
		{[]string{"run", "-m", "x", "-c", "100000000"}, "-c/--concurrency values must be from 1 to 100000"},
		{[]string{"run", "-m", "x", "--warmup", "100000000"}, "--warmup must be from 0 to 10000"},
		{[]string{"run", "-m", "x", "--rate", "1e-10", "-d", "2s"}, "--rate values must be from 0.001"},
		{[]string{"run", "-m", "x", "--rate", "NaN"}, "--rate values must be from 0.001"},
		{[]string{"run", "-m", "x", "--synthetic-words", "2000000000000000000"}, "--synthetic-words must be from 0 to 1000000"},
		{[]string{"run", "-m", "x", "-n", "0"}, "-n/--requests must be at least 1"},
		{[]string{"run", "-m", "x", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"run", "-m", "x", "--stall-timeout", "-1s"}, "--stall-timeout must not be negative"},
		{[]string{"run", "-m", "x", "--grace", "-1s"}, "--grace must not be negative"},
		{[]string{"sweep", "--sim", "--num-parallel", "1", "--first-byte-timeout", "-1s"}, "--first-byte-timeout must not be negative"},
		{[]string{"run", "--sim", "--sim-speed", "NaN"}, "--sim-speed must be a positive number, got NaN"},
		{[]string{"capacity", "--sim", "--sim-speed", "Inf"}, "--sim-speed must be a positive number, got +Inf"},
		{[]string{"run", "--plan", "negative-timeout.yaml"}, "negative-timeout.yaml:1: stall_timeout: want a duration"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			r := llmload(t, dir, c.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2\nstderr: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr %q does not name %q", r.stderr, c.want)
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
				t.Errorf("stack trace on bad input:\n%s", r.stderr)
			}
		})
	}
}

func TestInterruptWritesResultsAndExits130(t *testing.T) {
	// A server that answers slowly, so the run is surely in the middle when interrupted.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		fl := w.(http.Flusher)
		for i := 0; i < 5; i++ {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
			fmt.Fprintf(w, `{"model":"m","response":"x","done":false}`+"\n")
			fl.Flush()
		}
		fmt.Fprintf(w, `{"model":"m","response":"","done":true,"done_reason":"length","eval_count":5,"total_duration":100000000,"load_duration":1000,"prompt_eval_duration":1000,"eval_duration":90000000}`+"\n")
	}))
	defer srv.Close()
	dir := t.TempDir()
	cmd := exec.Command(binary, "run", "--url", srv.URL, "-m", "m", "-n", "100000", "-c", "4", "-o", "out.json", "--gpu", "off", "--no-progress")
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("llmload did not stop within 30 s of Ctrl-C")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d, want 130\nstderr: %s", code, stderr.String())
	}
	f := readResults(t, filepath.Join(dir, "out.json"))
	run := f.Runs[0]
	if !run.Interrupted {
		t.Error("results not marked interrupted")
	}
	st := run.Stages[0]
	if st.Requests.OK == 0 || st.Requests.Total >= 100000 {
		t.Errorf("stage counts %+v", st.Requests)
	}
	if st.Requests.Errors["cancelled"] != 0 {
		t.Errorf("in-flight requests were cancelled despite the grace period: %v", st.Requests.Errors)
	}
	if !strings.Contains(stdout.String(), "INTERRUPTED") {
		t.Errorf("summary does not say it was interrupted:\n%s", stdout.String())
	}
}

func TestRunOnSimulatorShowsQueueing(t *testing.T) {
	dir := t.TempDir()
	r := llmload(t, dir, "run", "--sim", "--sim-speed", "4", "-m", "llama3.2:1b", "-c", "1,2", "-n", "6", "--max-tokens", "32", "-o", "out.json", "-q")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	run := readResults(t, filepath.Join(dir, "out.json")).Runs[0]
	if !run.Target.Simulated || run.GPU == nil || !run.GPU.Simulated {
		t.Errorf("simulated run not labelled so: target %+v gpu %+v", run.Target, run.GPU)
	}
	one, two := run.Stages[0], run.Stages[1]
	ratio := two.LatencyMs["e2e"].P50 / one.LatencyMs["e2e"].P50
	if ratio < 1.5 {
		t.Errorf("E2E p50 at c=2 is only %.2fx c=1 at NUM_PARALLEL=1", ratio)
	}
	if two.Decomposition == nil || two.Decomposition.QueueShare < 0.25 {
		t.Errorf("queue wait share at c=2 = %+v, want a large share", two.Decomposition)
	}
}

// `--sim` alone, as the README's quick tour and run --help write it: the simulator's first
// preset is the model.
func TestSimNeedsNoModelFlag(t *testing.T) {
	dir := t.TempDir()
	r := llmload(t, dir, "run", "--sim", "--sim-speed", "50", "-n", "2", "--max-tokens", "8", "-o", "out.json", "-q")
	if r.code != 0 {
		t.Fatalf("run --sim without -m: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	run := readResults(t, filepath.Join(dir, "out.json")).Runs[0]
	if got := run.Plan.Models(); len(got) != 1 || got[0] != "llama3.2:1b" || run.Stages[0].Requests.OK != 2 {
		t.Errorf("models %q, requests %+v; want llama3.2:1b, 2 ok", got, run.Stages[0].Requests)
	}
	if !strings.Contains(r.stdout, "Model: llama3.2:1b") {
		t.Errorf("summary does not name the model:\n%s", r.stdout)
	}
	// At speed 50 a decode step is 80 µs, under twice any timer's granularity (a timer asked
	// for 50 µs waits at least that): the results and the summary carry the caveat.
	if len(run.Notes) != 1 || !strings.Contains(run.Notes[0], "80µs (llama3.2:1b at speed 50)") || !strings.Contains(r.stdout, "note: simulator: a decode step") {
		t.Errorf("notes %q; summary:\n%s", run.Notes, r.stdout)
	}
	// Without --sim a model is still required, and the error says which flag.
	r = llmload(t, dir, "run", "--url", "http://127.0.0.1:1", "-n", "1")
	if r.code != 2 || !strings.Contains(r.stderr, "-m/--model") {
		t.Errorf("run without -m against a real server: exit %d, stderr %q; want 2 naming -m/--model", r.code, r.stderr)
	}
}

func TestHelpShowsExamplesAndMetrics(t *testing.T) {
	r := llmload(t, t.TempDir(), "run", "--help")
	for _, want := range []string{"-c 1,10", "--rate 2 --arrival poisson", "TTFT", "queue wait", "decode_tps", "(last byte − first token)", "--max-error-rate"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("run --help lacks %q", want)
		}
	}
}

func TestRunAgainstASimulatorInAnotherProcess(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := exec.Command(binary, "sim", "--listen", addr, "--speed", "10")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	dir := t.TempDir()
	r := llmload(t, dir, "run", "--url", "http://"+addr, "-m", "llama3.2:1b", "-n", "4", "-c", "2", "--max-tokens", "16", "-o", "out.json", "-q")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	run := readResults(t, filepath.Join(dir, "out.json")).Runs[0]
	if !run.Target.Simulated || run.GPU == nil || !run.GPU.Simulated || run.Stages[0].GPU == nil {
		t.Errorf("a run against llmload sim must be labelled simulated, with its GPU: target %+v gpu %+v", run.Target, run.GPU)
	}
}

// readRecords reads a --records file.
func readRecords(t *testing.T, path string) []bench.RecordLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []bench.RecordLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r bench.RecordLine
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// grepLines returns the lines of s that contain every word.
func grepLines(s string, words ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A --body file is sent as it is: the model and protocol it names are what the run reports,
// and a -m or --api that says otherwise is refused.
func TestBodyFileNamesTheModelAndProtocol(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "chat.json", `{"model":"codellama:7b","messages":[{"role":"user","content":"hi"}],"options":{"num_predict":8}}`)
	writeFile(t, dir, "openai.json", `{"model":"codellama:7b","prompt":"hi","max_tokens":8,"stream":true}`)
	r := llmload(t, dir, "run", "--sim", "--sim-speed", "20", "--body", "chat.json", "-n", "2", "--warmup", "0", "--gpu", "off", "-o", "out.json", "--records", "rec.jsonl", "--no-progress")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	run := readResults(t, filepath.Join(dir, "out.json")).Runs[0]
	if m := run.Plan.Mix[0]; m.Model != "codellama:7b" || m.API != "ollama-chat" || run.Target.API != "ollama-chat" || run.Stages[0].Requests.OK != 2 {
		t.Errorf("mix %+v, target API %s, requests %+v; want codellama:7b over ollama-chat, 2 ok", m, run.Target.API, run.Stages[0].Requests)
	}
	if !strings.Contains(r.stdout, "Model: codellama:7b") {
		t.Errorf("summary does not name the body's model:\n%s", r.stdout)
	}
	for _, rec := range readRecords(t, filepath.Join(dir, "rec.jsonl")) {
		if rec.Model != "codellama:7b" {
			t.Errorf("record says model %q", rec.Model)
		}
	}
	// A body with OpenAI's fields goes to OpenAI's endpoint.
	r = llmload(t, dir, "run", "--sim", "--sim-speed", "20", "--body", "openai.json", "-n", "1", "--warmup", "0", "--gpu", "off", "-o", "out2.json", "-q")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if m := readResults(t, filepath.Join(dir, "out2.json")).Runs[0].Plan.Mix[0]; m.API != "openai-completions" || !m.Stream {
		t.Errorf("openai.json: api %s stream %v; want openai-completions, streamed", m.API, m.Stream)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-m", "llama3.2:1b", "--body", "chat.json"}, `--body chat.json names model "codellama:7b", -m "llama3.2:1b"`},
		{[]string{"--api", "ollama-generate", "--body", "chat.json"}, "--body chat.json is written for ollama-chat, not for --api ollama-generate"},
		{[]string{"--api", "openai-chat", "--body", "openai.json"}, "--body openai.json is written for openai-completions"},
	} {
		r := llmload(t, dir, append([]string{"run", "--sim"}, tt.args...)...)
		if r.code != exitBadInput || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
	// The same body under -m of its own model, or --api of its own protocol, is fine.
	sys, _, _ := testSystem(nil)
	if _, err := runOptionsOf(t, sys, "--sim", "-m", "codellama:7b", "--api", "ollama-chat", "--body", filepath.Join(dir, "chat.json")); err != nil {
		t.Errorf("agreeing -m and --api: %v", err)
	}
}

// -n below -c: the default -n grows to the stage's concurrency, so that a stage named c=16
// has 16 requests in flight; an -n given explicitly is kept, and the run says what it means.
func TestRequestsBelowConcurrency(t *testing.T) {
	sys, _, _ := testSystem(nil)
	o, err := runOptionsOf(t, sys, "--sim", "-c", "1,4,16")
	if err != nil {
		t.Fatal(err)
	}
	var ns []int
	for _, st := range o.session.Workload.Plan.Stages {
		ns = append(ns, st.Requests)
	}
	if len(ns) != 3 || ns[0] != 10 || ns[1] != 10 || ns[2] != 16 {
		t.Errorf("default -n per stage of -c 1,4,16: %v, want [10 10 16]", ns)
	}
	if len(o.session.Workload.Notes) != 0 {
		t.Errorf("notes %q", o.session.Workload.Notes)
	}
	// The sweep's own example.
	so, err := sweepOptionsOf(t, sys, "--sim", "--num-parallel", "1,2", "-c", "1,4,16")
	if err != nil {
		t.Fatal(err)
	}
	if st := sweepSession(so).Workload.Plan.Stages; st[2].Requests != 16 {
		t.Errorf("sweep -c 1,4,16: stage c=16 has %d requests", st[2].Requests)
	}
	dir := t.TempDir()
	r := llmload(t, dir, "run", "--sim", "-m", "instant", "-c", "2,8", "-n", "4", "--warmup", "0", "--gpu", "off", "-o", "out.json", "--no-progress")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	const note = "stage c=8 sends 4 requests: no more than 4 are ever in flight, not 8"
	if run := readResults(t, filepath.Join(dir, "out.json")).Runs[0]; len(run.Notes) == 0 || !strings.Contains(strings.Join(run.Notes, "\n"), note) {
		t.Errorf("results notes %q", run.Notes)
	}
	if !strings.Contains(r.stdout, note) {
		t.Errorf("summary does not say it:\n%s", r.stdout)
	}
}

// simServer starts `llmload sim` in a process of its own with args, and returns its URL.
func simServer(t *testing.T, args ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := exec.Command(binary, append([]string{"sim", "--listen", addr}, args...)...)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "http://" + addr
}

// A warm-up that fails with a client error (404, 400, 401, 403) or cannot connect stops the
// run before its stages, with exit 2 and the server's message; a server error (5xx) does not.
func TestFailedWarmupStopsTheRun(t *testing.T) {
	url := simServer(t, "--model", "llama3.2:1b")
	dir := t.TempDir()
	start := time.Now()
	r := llmload(t, dir, "run", "--api", "openai-chat", "--url", url, "-m", "qwen", "-c", "8", "-d", "5s", "-o", "out.json", "--gpu", "off")
	if r.code != exitBadInput || !strings.Contains(r.stderr, `warm-up request for model "qwen" failed: HTTP 404: model 'qwen' not found`) {
		t.Errorf("unknown model: exit %d, stderr %q; want 2 and the server's message", r.code, r.stderr)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("took %s: the stages ran", d)
	}
	if _, err := os.Stat(filepath.Join(dir, "out.json")); err == nil || strings.Contains(r.stdout, "Stage") {
		t.Errorf("a results file or a stage summary after a failed warm-up:\n%s", r.stdout)
	}

	var hits atomic.Int64
	status := func(code int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				hits.Add(1)
			}
			w.WriteHeader(code)
			fmt.Fprint(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()
	for _, tt := range []struct {
		url, want string
		code      int
		posts     int64
	}{
		{status(401, `{"error":"invalid api key"}`), "HTTP 401: invalid api key; nothing was measured: does the server want a key", exitBadInput, 1},
		{status(403, `{"error":"forbidden"}`), "HTTP 403: forbidden", exitBadInput, 1},
		{status(400, `{"error":"bad options"}`), "HTTP 400: bad options", exitBadInput, 1},
		{refused, "connection refused; nothing was measured: is the server running", exitBadInput, 0},
		{status(500, `{"error":"boom"}`), "4 of 4 requests failed", exitFailed, 5},
	} {
		hits.Store(0)
		r := llmload(t, dir, "run", "--url", tt.url, "-m", "x", "-n", "4", "-o", "out.json", "--gpu", "off", "-q")
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) || hits.Load() != tt.posts {
			t.Errorf("%s: exit %d, %d requests, stderr %q; want %d, %d requests and %q", tt.want, r.code, hits.Load(), r.stderr, tt.code, tt.posts, tt.want)
		}
	}
}

// An open loop capped by --max-concurrency against a server that cannot keep up: the arrivals
// that found no free place are the server's saturation (counted, delayed or dropped), not the
// client's lag, so the self-check passes and the gate judges the run.
func TestCappedOpenLoopReportsTheServersSaturation(t *testing.T) {
	dir := t.TempDir()
	r := llmload(t, dir, "run", "--sim", "--rate", "8", "--max-concurrency", "2", "-d", "2s", "--max-tokens", "64", "--gpu", "off", "--no-progress", "-o", "out.json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	st := readResults(t, filepath.Join(dir, "out.json")).Runs[0].Stages[0]
	sat := st.Saturation
	if sat == nil || sat.Arrivals != 16 || sat.Delayed+sat.Dropped == 0 || sat.Arrivals != st.Requests.Total+sat.Dropped {
		t.Fatalf("saturation %+v, %d sent; want 16 arrivals = sent + dropped, some waiting", sat, st.Requests.Total)
	}
	// The wait for a place is the server's: the client's own send lag stays a small part of it
	// (a busy test machine may still delay a send by some ms, and then the client is judged).
	if wait := st.LatencyMs["cap_wait"]; sat.Delayed > 0 && st.Client.SendLagP99Ms > wait.P50/4 {
		t.Errorf("send lag p99 %.1f ms against a wait for a place of %.0f ms: the server's saturation counted as the client's lag", st.Client.SendLagP99Ms, wait.P50)
	}
	if !strings.Contains(r.stdout, "the server's saturation: ") {
		t.Errorf("summary:\n%s", r.stdout)
	}
	if st.Client.Overloaded {
		t.Logf("the client itself lagged on this machine (%s): the gate is not asked", st.Client.Reason)
		return
	}
	if g := llmload(t, dir, "gate", "out.json", "--assert", "errors == 0", "--allow-noisy"); g.code != 0 {
		t.Errorf("gate: exit %d\n%s%s", g.code, g.stdout, g.stderr)
	}
}

// `report --merge` of two runs made one after the other: they did not load the server at once,
// so their throughputs are not added up; the report says why they stayed apart.
func TestReportMergeOfRunsOneAfterTheOther(t *testing.T) {
	dir := t.TempDir()
	for _, out := range []string{"a.json", "b.json"} {
		if r := llmload(t, dir, append([]string{"run", "-o", out, "-q", "--label", "num_parallel=1"}, quickSim...)...); r.code != 0 {
			t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
		}
	}
	r := llmload(t, dir, "report", "a.json", "b.json", "--merge", "-f", "json")
	if r.code != 0 {
		t.Fatalf("report --merge: exit %d\n%s", r.code, r.stderr)
	}
	var a struct {
		Runs []struct {
			Merged bool `json:"merged"`
		} `json:"runs"`
		Notes []struct{ Text string } `json:"notes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
		t.Fatal(err)
	}
	if len(a.Runs) != 2 || a.Runs[0].Merged {
		t.Errorf("%d runs, merged %v: want the two apart", len(a.Runs), a.Runs)
	}
	found := false
	for _, n := range a.Notes {
		found = found || strings.Contains(n.Text, "Not merged: num_parallel=1 of a.json and b.json ran one after the other")
	}
	if !found {
		t.Errorf("no note says why: %+v", a.Notes)
	}
}

// The simulator says what it simulates: a model that is no preset runs with another's numbers
// (said in the run and by `llmload sim`); the caveat about this machine's timers is said once
// however many repeats, and not at all when no token is timed (--no-stream).
func TestSimulatorSaysWhatItSimulates(t *testing.T) {
	dir := t.TempDir()
	const timer = "note: simulator: a decode step of 80µs (llama3.2:1b at speed 50)"
	r := llmload(t, dir, "run", "--sim", "--sim-speed", "50", "-n", "2", "--max-tokens", "8", "--repeat", "3", "--warmup", "0", "--gpu", "off", "--no-progress", "-o", "out.json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := strings.Count(r.stdout, timer); n != 1 {
		t.Errorf("the timer note is said %d times over 3 repeats, want once:\n%s", n, r.stdout)
	}
	if !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), "TTFT and TPOT may be off too") {
		t.Errorf("the timer note claims more than it can:\n%s", r.stdout)
	}
	for _, run := range readResults(t, filepath.Join(dir, "out.json")).Runs {
		if !strings.Contains(strings.Join(run.Notes, "\n"), "a decode step of 80µs") {
			t.Errorf("repeat %d does not carry the note in the results: %q", run.Repeat, run.Notes)
		}
	}
	r = llmload(t, dir, "run", "--sim", "--sim-speed", "50", "-n", "2", "--max-tokens", "8", "--no-stream", "--warmup", "0", "--gpu", "off", "--no-progress", "-o", "out.json")
	if r.code != 0 || strings.Contains(r.stdout, "decode step") {
		t.Errorf("--no-stream: exit %d, a timer note for untimed tokens:\n%s", r.code, r.stdout)
	}
	const borrowed = "qwen is not a preset model and has no profile: it runs with llama3.2:1b's timings and memory"
	r = llmload(t, dir, append([]string{"run", "-o", "out.json"}, "--sim", "-m", "qwen", "--sim-speed", "20", "-n", "1", "--warmup", "0", "--gpu", "off", "--no-progress")...)
	if r.code != 0 || !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), borrowed) {
		t.Errorf("run --sim -m qwen: exit %d, no word of whose numbers it has:\n%s", r.code, r.stdout)
	}
	srv := exec.Command(binary, "sim", "--listen", "127.0.0.1:0", "--model", "qwen")
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	stop := time.AfterFunc(5*time.Second, func() { srv.Process.Kill() }) // a note that never comes ends the read
	defer stop.Stop()
	buf := make([]byte, 4096)
	var said strings.Builder
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(said.String(), "its own, see") && time.Now().Before(deadline) {
		n, err := stderr.Read(buf)
		said.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if !strings.Contains(strings.Join(strings.Fields(said.String()), " "), "llmload sim: note: "+borrowed) {
		t.Errorf("llmload sim --model qwen says:\n%s", said.String())
	}
}

// At concurrency 1 nothing waits, so the wait for the first token is about nothing: the first
// token leaves with the end of prompt evaluation, as Ollama's runner times it, not a decode step
// later.
func TestFirstTokenWaitAtConcurrencyOne(t *testing.T) {
	dir := t.TempDir()
	r := llmload(t, dir, "run", "--sim", "-m", "codellama:7b", "-n", "6", "--max-tokens", "16", "--gpu", "off", "--no-progress", "-q", "-o", "out.json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	st := readResults(t, filepath.Join(dir, "out.json")).Runs[0].Stages[0]
	// codellama:7b decodes a step in 9 ms: a wait of a step would be 9 ms.
	if w := st.LatencyMs["first_token_wait"]; w.N == 0 || w.P50 > 4.5 {
		t.Errorf("wait for the first token at c=1: %+v, want under half a decode step", w)
	}
}

// The report's JSON carries a capped open loop's saturation, as its markdown shows it.
func TestReportCarriesSaturation(t *testing.T) {
	dir := t.TempDir()
	r := llmload(t, dir, "run", "--sim", "--rate", "20", "--max-concurrency", "1", "-d", "1s", "--max-tokens", "16", "--gpu", "off", "-q", "-o", "out.json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	md := llmload(t, dir, "report", "out.json")
	js := llmload(t, dir, "report", "out.json", "-f", "json")
	if !strings.Contains(md.stdout, "The server's saturation: ") || !strings.Contains(js.stdout, `"saturation": {`) || !strings.Contains(js.stdout, `"cap_wait": {`) {
		t.Errorf("markdown:\n%s\njson:\n%s", md.stdout, js.stdout)
	}
}

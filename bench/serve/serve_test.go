package serve

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llmload/llmload/bench"
	"github.com/llmload/llmload/bench/results"
)

// llmloadBin is llmload, built once: `llmload sim serve` stands in for `ollama serve`, read
// from the same environment variables, so these tests drive a real process.
var llmloadBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "serve-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	llmloadBin = filepath.Join(dir, "llmload")
	if out, err := exec.Command("go", "build", "-o", llmloadBin, "../../cmd/llmload").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build llmload: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ollama")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func simServe(t *testing.T) string {
	return script(t, `exec "`+llmloadBin+`" sim --speed 20 "$@"`)
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestStartReadyVerifyStop(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "server.log")
	s, err := Start(context.Background(), Config{
		Binary: simServe(t), NumParallel: 3, LogPath: logPath,
		Env: []string{"OLLAMA_NUM_PARALLEL=9", "PATH=" + os.Getenv("PATH")}, Extra: []string{"OLLAMA_MAX_QUEUE=7"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Errorf("URL %q is not loopback", s.URL)
	}
	// Preload, as the sweep does, so a runner starts and logs its setting.
	resp, err := http.Post(s.URL+"/api/generate", "application/json", strings.NewReader(`{"model":"llama3.2:1b"}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	var n int
	var ok bool
	for time.Now().Before(deadline) {
		var r RunnerSettings
		if r, ok = RunnerFromLog(s.Log()); ok {
			n = r.Parallel
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !ok || n != 3 {
		t.Errorf("parallel from log = %d (found %v), want 3 (our setting wins over the inherited 9)\nlog:\n%s", n, ok, s.Log())
	}
	if !strings.Contains(s.Log(), "OLLAMA_MAX_QUEUE=7") {
		t.Errorf("--server-env setting not passed on; log:\n%s", s.Log())
	}
	pid := s.PID
	s.Stop()
	if alive(pid) {
		t.Errorf("server %d still alive after Stop", pid)
	}
	b, _ := os.ReadFile(logPath)
	if !strings.Contains(string(b), "Listening on") {
		t.Errorf("log file lacks the server's output:\n%s", b)
	}
	s.Stop() // twice is fine
}

func TestStartReportsACrash(t *testing.T) {
	bin := script(t, `echo "Error: could not load models folder" >&2; exit 3`)
	start := time.Now()
	_, err := Start(context.Background(), Config{Binary: bin, NumParallel: 1})
	if err == nil {
		t.Fatal("no error from a server that exits at once")
	}
	for _, want := range []string{"exited before it was ready", "exit status 3", "could not load models folder"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %v to notice the crash", time.Since(start))
	}
}

func TestStartReportsPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	_, err = Start(context.Background(), Config{Binary: simServe(t), NumParallel: 1, Port: port})
	if err == nil || !strings.Contains(err.Error(), "port "+strconv.Itoa(port)+" already in use") {
		t.Errorf("error = %v, want the port clash named", err)
	}
}

func TestStopKillsAServerThatIgnoresSIGTERM(t *testing.T) {
	// Never ready, ignores SIGTERM: readiness times out, and Stop must escalate to SIGKILL.
	bin := script(t, `trap '' TERM; echo started; while :; do sleep 0.05; done`)
	start := time.Now()
	_, err := Start(context.Background(), Config{Binary: bin, NumParallel: 1, ReadyTimeout: 300 * time.Millisecond, StopGrace: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "did not answer GET /") {
		t.Fatalf("error = %v", err)
	}
	if !strings.Contains(err.Error(), "started") {
		t.Errorf("error lacks the log tail: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("Start took %v", time.Since(start))
	}
}

func TestStartHonoursCancel(t *testing.T) {
	bin := script(t, `while :; do sleep 0.05; done`)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := Start(ctx, Config{Binary: bin, NumParallel: 1, StopGrace: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "context deadline exceeded") {
		t.Errorf("error = %v", err)
	}
}

func TestMissingBinary(t *testing.T) {
	_, err := Start(context.Background(), Config{Binary: "/nonexistent/ollama", NumParallel: 1})
	if err == nil || !strings.Contains(err.Error(), "server binary") {
		t.Errorf("error = %v", err)
	}
}

func TestRunnerFromLog(t *testing.T) {
	cases := []struct {
		log     string
		want    RunnerSettings
		ok      bool
		perSlot int
	}{
		// Ollama 0.11: its own runner.
		{`time=… level=INFO msg="starting llama server" cmd="/usr/bin/ollama runner --model /m --ctx-size 8192 --batch-size 512 --threads 2 --parallel 4 --port 40235"`, RunnerSettings{4, 8192}, true, 2048},
		// Ollama 0.30+: upstream llama-server.
		{`time=… level=INFO source=llama_server.go:436 msg="starting llama-server" cmd="/opt/lib/ollama/llama-server --model /m/blobs/sha256-1 --port 41000 --host 127.0.0.1 --no-webui --offline -c 4096 -np 2 --cache-type-k f16 -t 1"`, RunnerSettings{2, 4096}, true, 2048},
		{`msg="starting llama-server" cmd="/x/llama-server -np=3 --ctx-size=6144"`, RunnerSettings{3, 6144}, true, 2048},
		{`level=INFO msg="loading model (simulated)" model=llama3.2:1b parallel=2 num_ctx=4096`, RunnerSettings{Parallel: 2}, true, 0},
		{`level=INFO msg="server config" env="map[OLLAMA_NUM_PARALLEL:8]"` + "\n" + `runner --parallel 1 --port 1`, RunnerSettings{Parallel: 1}, true, 0},
		// Flags only as whole words: --cache-type-k is not -c, -npx is not -np.
		{`cmd="llama-server --cache-type-k 8 -npx 4"`, RunnerSettings{}, false, 0},
		{`level=INFO msg="Listening on 127.0.0.1:11434"`, RunnerSettings{}, false, 0},
	}
	for _, c := range cases {
		r, ok := RunnerFromLog(c.log)
		if r != c.want || ok != c.ok || r.SlotContext() != c.perSlot {
			t.Errorf("RunnerFromLog(%q) = %+v, %v (per slot %d); want %+v, %v (%d)", c.log, r, ok, r.SlotContext(), c.want, c.ok, c.perSlot)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"A=1", "B=2"}, []string{"B=3", "C=4"}, []string{"A=5"})
	want := "A=5 B=3 C=4"
	if strings.Join(got, " ") != want {
		t.Errorf("mergeEnv = %v, want %s", got, want)
	}
}

func TestVerifyTellsForcedAndMissingSettings(t *testing.T) {
	cases := []struct {
		log      string
		asked    int
		verified bool
		note     string
	}{
		{"msg=x parallel=4", 4, true, "started with 4"},
		{"runner --parallel 1 --port 9", 4, false, "forces NUM_PARALLEL=1"},
		{"runner --parallel 2 --port 9", 4, false, "asked for 4, the runner started with 2"},
		{"Listening on 127.0.0.1:1", 2, false, "shows no runner"},
		// Ollama 0.34: llama-server's command line, with the context each slot gets.
		{`msg="starting llama-server" cmd="/l/llama-server --model /b -c 4096 -np 2 -t 1"`, 2, true, "2 parallel slots, 2048 tokens of context each"},
		{`msg="starting llama-server" cmd="/l/llama-server --model /b -c 8192 -np 2 -t 1"`, 2, false, "the plan asks num_ctx 2048"},
	}
	for _, c := range cases {
		cfg := &SweepConfig{VerifyTimeout: 100 * time.Millisecond, Session: bench.SessionConfig{Workload: &bench.Workload{Plan: &results.Plan{Mix: []*results.Template{{Options: map[string]any{"num_ctx": 2048}}}}}}}
		info := &results.ServerInfo{NumParallel: c.asked}
		verify(context.Background(), cfg, &Instance{Log: func() string { return c.log }}, info)
		if info.Verified != c.verified || !strings.Contains(info.Note, c.note) {
			t.Errorf("log %q asked %d: verified %v note %q; want %v and %q", c.log, c.asked, info.Verified, info.Note, c.verified, c.note)
		}
	}
}

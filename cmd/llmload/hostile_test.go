package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/llmload/llmload/bench/results"
)

// llmloadLimited runs llmload as llmload does under a shell's `ulimit` (limit: "-n 40" sets
// both limits, "-S -n 40" the soft one alone).
func llmloadLimited(t *testing.T, dir, limit string, args ...string) result {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", "ulimit " + limit + ` && exec "$0" "$@"`, binary}, args...)...)
	cmd.Dir = dir
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

// slowServer holds every request for hold before its one-chunk reply: many connections open
// at once.
func slowServer(t *testing.T, hold time.Duration) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(hold)
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprintln(w, `{"response":"hi","done":true,"done_reason":"stop","eval_count":1,"total_duration":5}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Running out of file descriptors is the client's failure: its own class, and the stage's
// self-check says the client was overloaded and why; the results are still written. A soft
// limit below the hard one is no limit: Go raises it for its own process (since Go 1.19), so
// llmload needs no code of its own for that, and this test says if that ever changes.
func TestOutOfFileDescriptorsIsTheClients(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("descriptor limits as Linux counts them")
	}
	srv := slowServer(t, 300*time.Millisecond)
	dir := t.TempDir()
	args := []string{"run", "--url", srv.URL, "-m", "m", "-c", "64", "-n", "128", "--warmup", "0", "--gpu", "off", "--no-progress"}

	r := llmloadLimited(t, dir, "-n 40", append(args, "-o", "low.json")...)
	if r.code != exitFailed || strings.Contains(r.stderr, "panic") {
		t.Fatalf("exit %d, want %d\n%s%s", r.code, exitFailed, r.stdout, r.stderr)
	}
	st := readResults(t, filepath.Join(dir, "low.json")).Runs[0].Stages[0]
	if st.Requests.Errors[results.ClassClientLimit] == 0 || st.Requests.Errors[results.ClassNetwork] != 0 || st.Requests.OK == 0 {
		t.Errorf("requests %+v", st.Requests)
	}
	if !st.Client.Overloaded || !strings.Contains(st.Client.Reason, "file descriptors") {
		t.Errorf("self-check %+v", st.Client)
	}
	if !strings.Contains(r.stdout, "client overloaded") || !strings.Contains(r.stdout, "too many open files: the client is out of file descriptors") {
		t.Errorf("the summary does not say whose limit it was:\n%s", r.stdout)
	}

	r = llmloadLimited(t, dir, "-S -n 40", append(args, "-o", "soft.json")...)
	st = readResults(t, filepath.Join(dir, "soft.json")).Runs[0].Stages[0]
	if r.code != exitOK || st.Requests.OK != 128 || st.Client.Overloaded {
		t.Errorf("a soft limit of 40 under a higher hard one: exit %d, requests %+v, self-check %+v\n%s", r.code, st.Requests, st.Client, r.stderr)
	}
}

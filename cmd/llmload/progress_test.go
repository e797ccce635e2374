package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmload/llmload/bench"
	"github.com/llmload/llmload/bench/results"
)

// lockedBuffer is a bytes.Buffer safe for the progress goroutine and the test together.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestProgressWithoutTerminalPrintsPlainStatusLines(t *testing.T) {
	var errb lockedBuffer
	s := &streams{out: &bytes.Buffer{}, err: &errb, errTerminal: false}
	plan := &results.Plan{Stages: []results.Stage{{Name: "c=4", Concurrency: 4, Requests: 100}}}
	live := &bench.Live{}
	p := startProgress(s, plan, live, false, 20*time.Millisecond)
	live.StageStart.Store(time.Now().UnixNano())
	p.stage(0, plan.Stages[0])
	live.Done.Store(42)
	live.InFlight.Store(4)
	live.Errors.Store(1)
	time.Sleep(150 * time.Millisecond)
	p.finish()
	out := errb.String()
	if !strings.Contains(out, "stage 1/1 c=4: started") {
		t.Errorf("no start line:\n%s", out)
	}
	if !strings.Contains(out, "42 done") || !strings.Contains(out, "in flight 4") || !strings.Contains(out, "errors 1") {
		t.Errorf("no status line with the counters:\n%s", out)
	}
	if strings.ContainsAny(out, "\r\x1b") {
		t.Errorf("terminal control characters in non-terminal output: %q", out)
	}
}

func TestProgressOffPrintsNothing(t *testing.T) {
	var errb lockedBuffer
	s := &streams{out: &bytes.Buffer{}, err: &errb, errTerminal: true}
	plan := &results.Plan{Stages: []results.Stage{{Name: "c=1", Concurrency: 1, Requests: 1}}}
	p := startProgress(s, plan, &bench.Live{}, true, 10*time.Millisecond)
	p.stage(0, plan.Stages[0])
	time.Sleep(30 * time.Millisecond)
	p.finish()
	if errb.String() != "" {
		t.Errorf("quiet progress printed %q", errb.String())
	}
}

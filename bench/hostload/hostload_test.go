package hostload

import (
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"testing"
	"testing/fstest"
)

// fakeProc is a /proc with a cpu line and processes given as pid → (ppid, utime+stime).
func fakeProc(busy, idle uint64, procs map[int][2]uint64) fstest.MapFS {
	fsys := fstest.MapFS{
		// user nice system idle iowait irq softirq steal guest guest_nice
		"stat": {Data: fmt.Appendf(nil, "cpu  %d 0 0 %d 0 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n", busy, idle)},
	}
	for pid, p := range procs {
		// The name holds a space and a parenthesis, as process names may.
		fsys[fmt.Sprintf("%d/stat", pid)] = &fstest.MapFile{Data: fmt.Appendf(nil,
			"%d (a (b) c) S %d 1 1 0 -1 0 0 0 0 0 %d 0 0 0 20 0 1 0 100 0 0", pid, p[0], p[1])}
	}
	fsys["self"] = &fstest.MapFile{Data: []byte("not a pid")}
	return fsys
}

func TestOthersShare(t *testing.T) {
	// llmload is 10, the server 20 with a runner 21 (and its child 22); 30 is someone else.
	before := fakeProc(1000, 1000, map[int][2]uint64{10: {1, 100}, 20: {1, 100}, 21: {20, 100}, 22: {21, 0}, 30: {1, 100}})
	// 400 ticks pass, all busy: llmload 50, server 100, runner 100, its child 50 → 300 mine, 100 other.
	after := fakeProc(1400, 1000, map[int][2]uint64{10: {1, 150}, 20: {1, 200}, 21: {20, 200}, 22: {21, 50}, 30: {1, 200}})
	m := &Meter{FS: before, Exclude: []int{10, 20}}
	a, err := m.Read()
	if err != nil {
		t.Fatal(err)
	}
	m.FS = after
	b, err := m.Read()
	if err != nil {
		t.Fatal(err)
	}
	if got := OthersShare(a, b); math.Abs(got-0.25) > 1e-9 {
		t.Errorf("others' share %.3f, want 0.25 (100 of 400 ticks)", got)
	}
	// Nothing excluded: all the busy time is someone else's.
	m.Exclude, m.FS = nil, before
	a, _ = m.Read()
	m.FS = after
	b, _ = m.Read()
	if got := OthersShare(a, b); math.Abs(got-1) > 1e-9 {
		t.Errorf("with nothing excluded, others' share %.3f, want 1", got)
	}
	if got := OthersShare(b, b); !math.IsNaN(got) {
		t.Errorf("no time passed: %v, want NaN", got)
	}
}

func TestBadProc(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"no stat":     {},
		"no cpu line": {"stat": {Data: []byte("intr 1 2 3\n")}},
		"bad number":  {"stat": {Data: []byte("cpu  1 x 3 4 5 6 7 8\n")}},
	} {
		if _, err := (&Meter{FS: fsys}).Read(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// A process whose stat is cut short is skipped, not an error.
	fsys := fakeProc(10, 10, nil)
	fsys["5/stat"] = &fstest.MapFile{Data: []byte("5 (x) S 1")}
	if _, err := (&Meter{FS: fsys, Exclude: []int{5}}).Read(); err != nil {
		t.Errorf("a short process stat: %v", err)
	}
}

func TestThisMachine(t *testing.T) {
	m := New()
	if runtime.GOOS != "linux" {
		if m != nil {
			t.Errorf("a meter without /proc")
		}
		return
	}
	r, err := m.Read()
	if err != nil || r.Total == 0 || r.Mine == 0 && r.Busy == 0 {
		t.Errorf("reading %+v, %v", r, err)
	}
}

func TestListenerPID(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	m := New()
	if m == nil {
		t.Skip("no /proc on this system")
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if pid, ok := m.ListenerPID(port); !ok || pid != os.Getpid() {
		t.Errorf("listener of port %d: %d, %v; want this process %d", port, pid, ok, os.Getpid())
	}
	ln.Close()
	if pid, ok := m.ListenerPID(port); ok {
		t.Errorf("a closed port has listener %d", pid)
	}
}

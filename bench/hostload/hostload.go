// Package hostload measures how busy the machine was with work other than the measurement:
// the share of all CPUs that processes other than llmload and the server under test used
// during a stage, read from Linux's /proc. A load test on a workstation shares it with a
// browser, an IDE, a build; their CPU time is what makes two runs of the same workload differ.
package hostload

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
)

// Reading is the machine's CPU time and the excluded processes' at one moment, in clock ticks.
type Reading struct {
	Busy  uint64 // all CPUs: user, nice, system, irq, softirq, steal
	Total uint64 // Busy plus idle and iowait
	Mine  uint64 // the excluded processes and their descendants: user and system
}

// Meter reads a /proc file system. Exclude lists the process IDs whose CPU time is not
// "other": llmload's own and the server's (their descendants too, such as Ollama's runners).
type Meter struct {
	FS      fs.FS // a /proc file system; os.DirFS("/proc") on Linux
	Exclude []int
}

// New returns a Meter over this machine's /proc, excluding this process and pids, or nil when
// there is no /proc to read (not Linux).
func New(pids ...int) *Meter {
	fsys := os.DirFS("/proc")
	if _, err := fs.Stat(fsys, "stat"); err != nil {
		return nil
	}
	return &Meter{FS: fsys, Exclude: append([]int{os.Getpid()}, pids...)}
}

// Read takes a reading. Processes that end between two readings take their CPU time with
// them; an exited server's children are rare enough that the error is small.
func (m *Meter) Read() (Reading, error) {
	var r Reading
	stat, err := fs.ReadFile(m.FS, "stat")
	if err != nil {
		return r, fmt.Errorf("hostload: %w", err)
	}
	if r.Busy, r.Total, err = parseCPU(stat); err != nil {
		return r, err
	}
	procs, err := m.processes()
	if err != nil {
		return r, err
	}
	mine := map[int]bool{}
	for _, pid := range m.Exclude {
		mine[pid] = true
	}
	// Descendants: repeat until no process joins (a tree a few levels deep takes a few passes).
	for changed := true; changed; {
		changed = false
		for pid, p := range procs {
			if !mine[pid] && mine[p.ppid] {
				mine[pid], changed = true, true
			}
		}
	}
	for pid := range mine {
		if p, ok := procs[pid]; ok {
			r.Mine += p.cpu
		}
	}
	return r, nil
}

// OthersShare is the share of all CPUs (0 to 1) that other processes used between two
// readings; NaN when no time passed.
func OthersShare(from, to Reading) float64 {
	total := float64(to.Total) - float64(from.Total)
	if total <= 0 {
		return math.NaN()
	}
	others := (float64(to.Busy) - float64(from.Busy)) - (float64(to.Mine) - float64(from.Mine))
	return min(max(others/total, 0), 1)
}

// parseCPU reads the aggregate "cpu" line of /proc/stat.
func parseCPU(stat []byte) (busy, total uint64, err error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 8 || string(f[0]) != "cpu" {
		return 0, 0, errors.New("hostload: /proc/stat has no cpu line")
	}
	var v [8]uint64 // user nice system idle iowait irq softirq steal
	for i := range v {
		if v[i], err = strconv.ParseUint(string(f[i+1]), 10, 64); err != nil {
			return 0, 0, fmt.Errorf("hostload: /proc/stat: %w", err)
		}
	}
	busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	return busy, busy + v[3] + v[4], nil
}

type proc struct {
	ppid int
	cpu  uint64 // utime + stime
}

// processes reads every /proc/PID/stat it can; a process that ends while it reads is skipped.
func (m *Meter) processes() (map[int]proc, error) {
	entries, err := fs.ReadDir(m.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("hostload: %w", err)
	}
	out := make(map[int]proc, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		b, err := fs.ReadFile(m.FS, e.Name()+"/stat")
		if err != nil {
			continue
		}
		if p, ok := parseProc(b); ok {
			out[pid] = p
		}
	}
	return out, nil
}

// parseProc reads the parent and the CPU time from /proc/PID/stat. The command name (field 2)
// is in parentheses and may hold spaces and parentheses itself: the fields after it start past
// the last ')'.
func parseProc(b []byte) (proc, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return proc{}, false
	}
	f := bytes.Fields(b[i+1:])
	// After the name: state(3) ppid(4) … utime(14) stime(15), i.e. f[0] is field 3.
	if len(f) < 13 {
		return proc{}, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	ut, err2 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err3 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return proc{}, false
	}
	return proc{ppid: ppid, cpu: ut + st}, true
}

// ListenerPID finds the process listening on a TCP port of this machine (the server under test,
// when llmload did not start it), from /proc/net/tcp{,6} and the processes' descriptors. It
// reports false when no process it may look at holds the socket.
func (m *Meter) ListenerPID(port int) (int, bool) {
	inodes := map[string]bool{}
	for _, name := range []string{"net/tcp", "net/tcp6"} {
		b, err := fs.ReadFile(m.FS, name)
		if err != nil {
			continue
		}
		for _, line := range bytes.Split(b, []byte("\n"))[1:] {
			f := bytes.Fields(line)
			// sl local_address rem_address st … uid timeout inode
			if len(f) < 10 || string(f[3]) != "0A" { // 0A: LISTEN
				continue
			}
			_, hexPort, ok := bytes.Cut(f[1], []byte(":"))
			if p, err := strconv.ParseUint(string(hexPort), 16, 16); ok && err == nil && int(p) == port && string(f[9]) != "0" {
				inodes["socket:["+string(f[9])+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0, false
	}
	rl, ok := m.FS.(fs.ReadLinkFS)
	if !ok {
		return 0, false
	}
	entries, err := fs.ReadDir(m.FS, ".")
	if err != nil {
		return 0, false
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		fds, err := fs.ReadDir(m.FS, e.Name()+"/fd")
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if target, err := rl.ReadLink(e.Name() + "/fd/" + fd.Name()); err == nil && inodes[target] {
				return pid, true
			}
		}
	}
	return 0, false
}

package gpu

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// procParent returns a process's parent from /proc/<pid>/stat. Elsewhere than Linux it
// fails, and per-process memory then counts Options.PID alone.
func procParent(pid int) (int, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("parent of %d: %w", pid, err)
	}
	return parseParent(stat)
}

// parseParent reads the ppid from a /proc/<pid>/stat line: "pid (comm) state ppid …". The
// command name may hold spaces and parentheses, so the fields start after the last ')'.
func parseParent(stat []byte) (int, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc stat %q: no command name", stat)
	}
	fields := bytes.Fields(stat[i+1:])
	if len(fields) < 2 {
		return 0, fmt.Errorf("parse /proc stat %q: too short", stat)
	}
	ppid, err := strconv.Atoi(string(fields[1]))
	if err != nil {
		return 0, fmt.Errorf("parse /proc stat ppid: %w", err)
	}
	return ppid, nil
}

package perf

import (
	"syscall"
	"time"
)

// sleepPrecise sleeps d with nanosleep, as the runner's open loop does (bench/sleep_linux.go).
func sleepPrecise(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for {
		var left syscall.Timespec
		if err := syscall.Nanosleep(&ts, &left); err != syscall.EINTR {
			return
		}
		ts = left
	}
}

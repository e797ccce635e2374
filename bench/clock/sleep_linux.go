// Package clock sleeps precisely: the open loop's pacing and the benchmarks that measure it
// share one way of waiting.
package clock

import (
	"syscall"
	"time"
)

// Sleep sleeps d with the kernel's own timer. Go's timers wake through the network
// poller, which waits in whole milliseconds on Linux, so a timer fires up to a millisecond
// late; nanosleep wakes within the thread's timer slack (50 µs by default). The open loop
// uses it for the last stretch before each send, so that its send lag measures the client,
// not the timer.
func Sleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for {
		var left syscall.Timespec
		if err := syscall.Nanosleep(&ts, &left); err != syscall.EINTR {
			return
		}
		ts = left // interrupted (Go's preemption signal): sleep what is left
	}
}

//go:build !linux

package bench

import "time"

// sleepPrecise is time.Sleep where the runtime's timers are already as precise as the
// platform allows.
func sleepPrecise(d time.Duration) { time.Sleep(d) }

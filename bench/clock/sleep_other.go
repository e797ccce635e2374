//go:build !linux

package clock

import "time"

// Sleep is time.Sleep where the runtime's timers are already as precise as the
// platform allows.
func Sleep(d time.Duration) { time.Sleep(d) }

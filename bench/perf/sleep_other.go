//go:build !linux

package perf

import "time"

func sleepPrecise(d time.Duration) { time.Sleep(d) }

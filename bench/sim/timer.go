package sim

import (
	"fmt"
	"slices"
	"time"
)

// TimerGranularity measures how long this machine's shortest timer wait really takes: the
// median of a few 50 µs timers. A kernel with high-resolution timers answers in well under a
// millisecond; some virtual machines and sandboxes round every wait up to about 1 ms. The
// runner loop sleeps once per decode step, so a step shorter than this cannot be kept step by
// step: the loop falls behind and catches up with steps back to back.
func TimerGranularity() time.Duration {
	const probes = 9
	waits := make([]time.Duration, probes)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for i := range waits {
		start := time.Now()
		t.Reset(50 * time.Microsecond)
		<-t.C
		waits[i] = time.Since(start)
	}
	slices.Sort(waits)
	return waits[probes/2]
}

// StepNote returns a caveat when the shortest decode step the configuration serves (one
// sequence, after Speed) is under twice the timer granularity: the runner then emits tokens in
// bursts, so inter-token gaps follow the timer, not the model, and so may TTFT and TPOT, which
// hang on when the first token leaves; throughput, E2E and eval_duration totals stay right.
// It returns "" when every step is long enough.
func StepNote(c Config, granularity time.Duration) string {
	models := c.Models
	if models == nil {
		models = Presets()
	}
	speed := c.Speed
	if speed <= 0 {
		speed = 1
	}
	var shortest time.Duration
	var name string
	for _, p := range models {
		step := time.Duration(float64(p.DecodeStep) / speed)
		if p.DecodeStep > 0 && (name == "" || step < shortest) {
			shortest, name = step, p.Name
		}
	}
	if name == "" || granularity <= 0 || shortest >= 2*granularity {
		return ""
	}
	return fmt.Sprintf("simulator: a decode step of %s (%s at speed %g) is under twice this machine's timer granularity (%s): "+
		"tokens come in bursts, so ITL percentiles show the timer rather than the model, and TTFT and TPOT may be off "+
		"too; throughput and E2E stay right; a lower speed gives token-level timing", roundDur(shortest), name, speed, roundDur(granularity))
}

func roundDur(d time.Duration) time.Duration {
	if d >= time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

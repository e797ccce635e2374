package sim

import (
	"strings"
	"testing"
	"time"
)

func TestTimerGranularityIsAShortWait(t *testing.T) {
	g := TimerGranularity()
	// At least the 50 µs asked for; a machine whose timers are coarser than 100 ms would not
	// run the simulator at all.
	if g < 50*time.Microsecond || g > 100*time.Millisecond {
		t.Errorf("timer granularity %v, want between 50 µs and 100 ms", g)
	}
	t.Logf("timer granularity here: %v", g)
}

func TestStepNoteWhenStepsAreShorterThanTheTimer(t *testing.T) {
	fast := Profile{Name: "fast", DecodeStep: 4 * time.Millisecond}
	slow := Profile{Name: "slow", DecodeStep: 9 * time.Millisecond}
	cases := []struct {
		speed float64
		gran  time.Duration
		want  string // "" = no note; else a part of it
	}{
		{1, 60 * time.Microsecond, ""},                        // a normal kernel: 4 ms steps are fine
		{8, 60 * time.Microsecond, ""},                        // 0.5 ms steps, 60 µs timers: fine
		{1, 1070 * time.Microsecond, ""},                      // 4 ms steps against 1.07 ms timers: fine
		{4, 1070 * time.Microsecond, "1ms (fast at speed 4)"}, // 1 ms steps: bursts
		{8, 1070 * time.Microsecond, "500µs (fast at speed 8)"},
		{8, 0, ""}, // unmeasured
	}
	for _, c := range cases {
		got := StepNote(Config{Speed: c.speed, Models: []Profile{slow, fast}}, c.gran)
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("speed %g, timers %v: note %q, want one containing %q", c.speed, c.gran, got, c.want)
		}
	}
	// Zero speed is real time, and nil models are the presets (llama3.2:1b decodes in 4 ms).
	if got := StepNote(Config{}, 3*time.Millisecond); !strings.Contains(got, "llama3.2:1b at speed 1") {
		t.Errorf("default config against 3 ms timers: %q", got)
	}
}

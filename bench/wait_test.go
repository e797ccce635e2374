package bench

import (
	"context"
	"testing"
	"time"
)

func TestWaitUntil(t *testing.T) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for _, d := range []time.Duration{-time.Millisecond, 0, 500 * time.Microsecond, 3 * time.Millisecond, 10 * time.Millisecond} {
		target := time.Now().Add(d)
		if !waitUntil(context.Background(), timer, target) {
			t.Fatalf("wait %v: false without a cancel", d)
		}
		if now := time.Now(); now.Before(target) {
			t.Errorf("wait %v returned %v early", d, target.Sub(now))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	if waitUntil(ctx, timer, start.Add(time.Hour)) {
		t.Error("true after a cancel")
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("cancel took %v to end the wait", waited)
	}
	if waitUntil(ctx, timer, time.Now().Add(time.Millisecond)) {
		t.Error("true on a cancelled context")
	}
}

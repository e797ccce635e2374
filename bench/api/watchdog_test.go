package api

import (
	"testing"
	"time"
)

// firing is a watchdog's timeout: its cause and when it came.
type firing struct {
	cause *timeoutError
	at    time.Time
}

// lazyWatchdog returns a lazy watchdog that reports its timeouts on the channel.
func lazyWatchdog() (*watchdog, chan firing) {
	ch := make(chan firing, 4)
	w := &watchdog{lazy: true}
	w.onTimeout = func(te *timeoutError) { ch <- firing{te, time.Now()} }
	return w, ch
}

// A lazy watchdog leaves its timer set for an earlier request's deadline; when it fires early
// it must judge the request of the moment by that request's own deadline.
func TestLazyWatchdogJudgesTheCurrentRequest(t *testing.T) {
	const d = 80 * time.Millisecond
	w, ch := lazyWatchdog()
	defer w.close()

	w.arm(time.Now(), d, 0, 0)
	w.stop() // ends well before its deadline: the timer stays set for it
	time.Sleep(d / 2)
	sent := time.Now()
	w.arm(sent, d, 0, 0) // its deadline is later than the timer's
	select {
	case f := <-ch:
		if f.cause.class != ClassTimeoutFirstByte {
			t.Fatalf("class %s", f.cause.class)
		}
		if f.at.Sub(sent) < d {
			t.Fatalf("timed out %v after its send; the deadline was %v", f.at.Sub(sent), d)
		}
	case <-time.After(100 * d):
		t.Fatal("the second request never timed out")
	}
}

// A later request with a nearer deadline moves the timer forward.
func TestLazyWatchdogMovesForANearerDeadline(t *testing.T) {
	w, ch := lazyWatchdog()
	defer w.close()
	w.arm(time.Now(), time.Hour, 0, 0)
	w.stop()
	sent := time.Now()
	w.arm(sent, 50*time.Millisecond, 0, 0)
	select {
	case f := <-ch:
		if f.cause.class != ClassTimeoutFirstByte || f.at.Sub(sent) < 50*time.Millisecond {
			t.Fatalf("class %s after %v", f.cause.class, f.at.Sub(sent))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the timer stayed at the first request's hour")
	}
}

// A stopped request never times out, though the timer is still set when its deadline passes.
func TestLazyWatchdogStoppedRequestNeverTimesOut(t *testing.T) {
	const d = 30 * time.Millisecond
	w, ch := lazyWatchdog()
	defer w.close()
	w.arm(time.Now(), d, d, d)
	w.stop()
	time.Sleep(5 * d)
	select {
	case f := <-ch:
		t.Fatalf("stopped request timed out: %v", f.cause)
	default:
	}
	w.mu.Lock()
	due := w.due
	w.mu.Unlock()
	if !due.IsZero() {
		t.Errorf("timer still due at %v after firing on a stopped request", due)
	}
}

// close stops the timer even on a lazy watchdog, so that a closed connection is not kept by it.
func TestLazyWatchdogCloseStopsTimer(t *testing.T) {
	w, _ := lazyWatchdog()
	w.arm(time.Now(), time.Hour, 0, 0)
	w.stop()
	w.mu.Lock()
	pending := !w.due.IsZero()
	w.mu.Unlock()
	if !pending {
		t.Fatal("a lazy watchdog's timer should stay set after stop")
	}
	w.close()
	if w.timer.Stop() {
		t.Error("timer still pending after close")
	}
}

package api

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// timeoutError is the cause a Client's own timer cancels a request with. Carrying it through
// context.WithCancelCause is what tells "our timeout fired" from "the caller cancelled" without
// guessing from error strings or racing two flags.
type timeoutError struct {
	class Class
	after time.Duration
}

func (e *timeoutError) Error() string {
	switch e.class {
	case ClassTimeoutFirstByte:
		return fmt.Sprintf("no first byte within %v", e.after)
	case ClassTimeoutStall:
		return fmt.Sprintf("stream stalled: no bytes for %v", e.after)
	default:
		return fmt.Sprintf("not done within %v", e.after)
	}
}

// Watchdog phases.
const (
	awaitingFirstByte int32 = iota
	streaming
	stopped
)

// watchdog enforces the first-byte and stall timeouts with one timer. Arrivals only store a
// time (one atomic write per read); the timer, when it fires, checks how long the body has been
// quiet and re-arms itself for the rest. Resetting a timer on every chunk would cost more.
type watchdog struct {
	sent      time.Time
	firstByte time.Duration // 0: disabled
	stall     time.Duration // 0: disabled
	cancel    context.CancelCauseFunc

	phase atomic.Int32
	last  atomic.Int64 // offset of the latest arrival, ns

	mu    sync.Mutex // guards timer
	timer *time.Timer
}

func (w *watchdog) start() {
	if w.firstByte <= 0 {
		return
	}
	w.mu.Lock()
	w.timer = time.AfterFunc(w.firstByte, w.fire)
	w.mu.Unlock()
}

// touch records an arrival of body bytes.
func (w *watchdog) touch(t time.Time) {
	w.last.Store(int64(t.Sub(w.sent)))
	if w.phase.Load() == awaitingFirstByte && w.phase.CompareAndSwap(awaitingFirstByte, streaming) {
		w.mu.Lock()
		switch {
		case w.stall <= 0:
			if w.timer != nil {
				w.timer.Stop()
			}
		case w.timer == nil:
			w.timer = time.AfterFunc(w.stall, w.fire)
		default:
			w.timer.Reset(w.stall)
		}
		w.mu.Unlock()
	}
}

func (w *watchdog) fire() {
	switch w.phase.Load() {
	case awaitingFirstByte:
		w.cancel(&timeoutError{class: ClassTimeoutFirstByte, after: w.firstByte})
	case streaming:
		if w.stall <= 0 {
			return
		}
		quiet := time.Since(w.sent) - time.Duration(w.last.Load())
		if quiet >= w.stall {
			w.cancel(&timeoutError{class: ClassTimeoutStall, after: w.stall})
			return
		}
		w.mu.Lock()
		if w.phase.Load() == streaming {
			w.timer.Reset(w.stall - quiet)
		}
		w.mu.Unlock()
	}
}

func (w *watchdog) stop() {
	w.phase.Store(stopped)
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
}

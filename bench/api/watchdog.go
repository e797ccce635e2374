package api

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// timeoutError is the cause a Client's own timer ends a request with. The watchdog keeps it,
// which is what tells "our timeout fired" from "the caller cancelled" without guessing from
// error strings or racing two flags.
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
	draining // the reply is complete; what follows is read only briefly (see drain)
	stopped
)

// watchdog enforces a request's three timeouts (first byte, stall, total) with one timer.
// Arrivals only store a time (one atomic write per read); the timer, when it fires, works out
// from the current state which deadline passed, if any, and otherwise re-arms itself for the
// nearest one. Resetting a timer on every chunk would cost more, and so would a timer per
// timeout per request: a connection of the own path keeps one watchdog, and its timer, for
// every request it carries.
type watchdog struct {
	// onTimeout is called once when a deadline passes, with the cause (from the timer's
	// goroutine): it cancels the request's context, or aborts its connection.
	onTimeout func(*timeoutError)

	phase atomic.Int32
	last  atomic.Int64                 // offset of the latest arrival, ns
	cause atomic.Pointer[timeoutError] // set when a timeout fired; nil otherwise

	// lazy leaves the timer set when a request stops (see stop). A connection's watchdog is
	// lazy: its next request almost always has a later deadline than the one the timer is
	// set for, so the timer need not move at all; when it fires early it finds the request
	// of the moment (or none) and sets itself for that. A request costs no timer operation.
	lazy bool

	mu        sync.Mutex // guards timer, due and the request's settings below
	timer     *time.Timer
	due       time.Time // when the timer fires; zero when it is not set
	drainBy   time.Time // draining: when to stop waiting for the rest of the body
	sent      time.Time
	firstByte time.Duration // 0: disabled
	stall     time.Duration // 0: disabled
	total     time.Duration // 0: disabled
}

// arm starts watching a request sent at sent. A watchdog is armed for one request at a time.
// The timer is set for the shortest of the three timeouts: no deadline of any phase can come
// sooner (a stall counts from an arrival, which is after the send), so the first arrival needs
// no new setting and a request that ends before then costs one timer reset and one stop.
func (w *watchdog) arm(sent time.Time, firstByte, stall, total time.Duration) {
	w.mu.Lock()
	w.sent, w.firstByte, w.stall, w.total = sent, firstByte, stall, total
	w.cause.Store(nil)
	w.last.Store(0)
	w.phase.Store(awaitingFirstByte)
	next := time.Duration(-1)
	for _, d := range [...]time.Duration{firstByte, stall, total} {
		if d > 0 && (next < 0 || d < next) {
			next = d
		}
	}
	if next >= 0 {
		// A timer set to fire sooner fires early (see fire) and needs no move.
		if deadline := sent.Add(next); w.due.IsZero() || w.due.After(deadline) {
			w.schedule(time.Until(deadline))
		}
	}
	w.mu.Unlock()
}

// schedule sets the timer to fire after d. Called with mu held.
func (w *watchdog) schedule(d time.Duration) {
	w.due = time.Now().Add(d)
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.fire)
		return
	}
	w.timer.Reset(d)
}

// nextDeadline is the time left until the nearest deadline of the current phase, at offset now
// since the send. Called with mu held.
func (w *watchdog) nextDeadline(now time.Duration) (time.Duration, bool) {
	next, ok := time.Duration(0), false
	consider := func(d time.Duration) {
		if !ok || d < next {
			next, ok = d, true
		}
	}
	switch w.phase.Load() {
	case awaitingFirstByte:
		if w.firstByte > 0 {
			consider(w.firstByte - now)
		}
	case streaming:
		if w.stall > 0 {
			consider(w.stall - (now - time.Duration(w.last.Load())))
		}
	case draining:
		consider(w.drainBy.Sub(w.sent) - now)
	default:
		return 0, false
	}
	if w.total > 0 {
		consider(w.total - now)
	}
	return max(next, 0), ok
}

// touch records an arrival of body bytes. It runs on the request's goroutine, as arm does.
func (w *watchdog) touch(t time.Time) {
	w.last.Store(int64(t.Sub(w.sent)))
	if w.phase.Load() == awaitingFirstByte {
		w.phase.CompareAndSwap(awaitingFirstByte, streaming)
	}
}

func (w *watchdog) fire() {
	w.mu.Lock()
	w.due = time.Time{}
	phase := w.phase.Load()
	if phase == stopped {
		w.mu.Unlock()
		return
	}
	now := time.Since(w.sent)
	var cause *timeoutError
	switch {
	case phase == awaitingFirstByte && w.firstByte > 0 && now >= w.firstByte:
		cause = &timeoutError{class: ClassTimeoutFirstByte, after: w.firstByte}
	case phase == streaming && w.stall > 0 && now-time.Duration(w.last.Load()) >= w.stall:
		cause = &timeoutError{class: ClassTimeoutStall, after: w.stall}
	case phase == draining && !w.sent.Add(now).Before(w.drainBy):
		// The reply ended at its end marker; the server said nothing since. Not a failure:
		// the connection goes (it is not known to be clean) and the reply stands.
		cause = &timeoutError{class: ClassOK, after: drainGrace}
	case phase != draining && w.total > 0 && now >= w.total:
		cause = &timeoutError{class: ClassTimeoutTotal, after: w.total}
	}
	if cause == nil {
		// Bytes arrived since the timer was set, or it fired early: wait for the rest.
		if next, ok := w.nextDeadline(now); ok {
			w.schedule(next)
		}
		w.mu.Unlock()
		return
	}
	w.phase.Store(stopped)
	w.cause.Store(cause)
	w.mu.Unlock()
	w.onTimeout(cause)
}

// drainGrace is how long a reply that reached its end marker (done:true, [DONE]) may take to
// send the rest of its body (a chunked terminator, blank lines) before the connection is
// closed: a server that then goes silent — a Content-Length too long, [DONE] on a chunked
// stream left open — would otherwise hold the worker for the whole stall timeout.
const drainGrace = 200 * time.Millisecond

// drain switches a request whose reply is complete to its drain deadline. It runs on the
// request's goroutine, as touch does.
func (w *watchdog) drain() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.phase.Load() == stopped {
		return
	}
	w.drainBy = time.Now().Add(drainGrace)
	w.phase.Store(draining)
	if w.due.IsZero() || w.due.After(w.drainBy) {
		w.schedule(drainGrace)
	}
}

// stop ends the watch of the current request; a timeout that has not fired by now never will
// (fire checks the phase under mu). A lazy watchdog's timer stays set for the next request.
func (w *watchdog) stop() {
	w.mu.Lock()
	w.phase.Store(stopped)
	if !w.lazy {
		w.halt()
	}
	w.mu.Unlock()
}

// halt stops the timer. Called with mu held.
func (w *watchdog) halt() {
	if w.timer != nil {
		w.timer.Stop()
		w.due = time.Time{}
	}
}

// close ends the watch for good: the timer is stopped whatever lazy says.
func (w *watchdog) close() {
	w.mu.Lock()
	w.phase.Store(stopped)
	w.halt()
	w.mu.Unlock()
}

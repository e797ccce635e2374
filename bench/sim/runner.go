package sim

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// fifoSem is a counting semaphore that grants in arrival order, like the per-runner slot
// semaphore in Ollama. Unbounded waiters: a warm model never refuses a request.
type fifoSem struct {
	mu      sync.Mutex
	free    int
	waiters list.List // of chan struct{}, closed on grant
}

func newFifoSem(n int) *fifoSem { return &fifoSem{free: n} }

// acquire waits for a slot until ctx ends or stop closes.
func (s *fifoSem) acquire(ctx context.Context, stop <-chan struct{}) error {
	s.mu.Lock()
	if s.free > 0 && s.waiters.Len() == 0 {
		s.free--
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	e := s.waiters.PushBack(ch)
	s.mu.Unlock()
	var err error
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-stop:
		err = errClosed
	}
	s.mu.Lock()
	select {
	case <-ch:
		// Granted while we gave up: hand the slot to the next in line.
		s.mu.Unlock()
		s.release()
	default:
		s.waiters.Remove(e)
		s.mu.Unlock()
	}
	return err
}

func (s *fifoSem) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.waiters.Front(); e != nil {
		s.waiters.Remove(e)
		close(e.Value.(chan struct{}))
		return
	}
	s.free++
}

func (s *fifoSem) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiters.Len()
}

// seq is one request's sequence in a runner's batch. The batch loop writes it; the request's
// handler reads it. The handler learns of progress through notify, never blocking the loop.
type seq struct {
	promptTokens int
	target       int // tokens to generate, ≥ 1
	notify       chan struct{}
	cancelled    atomic.Bool

	mu         sync.Mutex
	produced   int
	finished   bool
	joinedAt   time.Time // entered the batch (slot held, overhead spent)
	prefillEnd time.Time // prompt read; generation starts
	lastAt     time.Time // last token produced
}

func newSeq(promptTokens, target int) *seq {
	return &seq{promptTokens: promptTokens, target: target, notify: make(chan struct{}, 1)}
}

// progress reads what the loop has produced so far.
func (s *seq) progress() (produced int, finished bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.produced, s.finished
}

func (s *seq) times() (joined, prefillEnd, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.joinedAt, s.prefillEnd, s.lastAt
}

func (s *seq) poke() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

type runnerState int

const (
	stateLoading  runnerState = iota // memory taken, not serving yet
	stateReady                       // serving; fast path open
	stateDraining                    // marked for unload: no new requests, unloads when idle
	stateUnloaded
)

func (s runnerState) String() string {
	switch s {
	case stateLoading:
		return "loading"
	case stateReady:
		return "ready"
	case stateDraining:
		return "draining"
	default:
		return "unloaded"
	}
}

// runnerOpts are the options that, when they differ from the loaded runner's, make Ollama
// reload the model.
type runnerOpts struct {
	numCtx, numBatch, numGPU, mainGPU, numThread int
	useMMap                                      int8 // 0 unset, 1 true, 2 false
}

// runner is one loaded model: its slots, its memory and its batch loop.
type runner struct {
	srv         *Server
	name        string
	profile     Profile
	opts        runnerOpts
	numParallel int
	sizeMiB     float64 // what it needs
	vramMiB     float64 // what of it is on the GPU
	slowdown    float64 // step cost factor from partial offload
	slots       *fifoSem
	stop        chan struct{} // closed on unload
	wake        chan struct{}
	active      atomic.Int64 // sequences in the batch, for Stats

	joinMu  sync.Mutex
	joining []*seq

	// Owned by the scheduler, under its mutex.
	state     runnerState
	refs      int // requests holding the runner: slot wait, decoding, or writing
	keepAlive time.Duration
	expiresAt time.Time // zero while busy or kept forever
	timer     *time.Timer
	timerGen  int
	loadedAt  time.Time
	idleSince time.Time // when refs last fell to 0, for picking an eviction victim
	// drainReason says why a draining runner will unload.
	drainReason string
}

// join adds a sequence to the batch; the loop picks it up at its next step.
func (r *runner) join(s *seq) {
	s.mu.Lock()
	s.joinedAt = time.Now()
	s.mu.Unlock()
	r.joinMu.Lock()
	r.joining = append(r.joining, s)
	r.joinMu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// stepCost is the simulated wall time of one batch step with b sequences, prefill of them
// reading prompts; decode is the part of it that produced the tokens.
func (r *runner) stepCost(b, prefill int) (total, decode time.Duration) {
	p := r.profile
	if b > 0 && p.DecodeStep > 0 {
		decode = time.Duration(float64(p.DecodeStep) * (1 + p.BatchAlpha*float64(b-1)) * r.slowdown)
	}
	var pre time.Duration
	if prefill > 0 && p.PrefillRate > 0 {
		pre = time.Duration(float64(prefill) / p.PrefillRate * float64(time.Second) * r.slowdown)
	}
	decode = r.srv.set.scale(decode)
	return decode + r.srv.set.scale(pre), decode
}

// maxLag is how far behind schedule the loop may fall and still catch up with shorter sleeps;
// beyond it (a stalled machine) it restarts its schedule rather than burst.
const maxLag = 50 * time.Millisecond

// loop is the runner's continuous batch: one goroutine, however many streams. Sequences join
// and leave between steps; each step takes step(b) and gives every sequence one token.
func (r *runner) loop() {
	defer r.srv.wg.Done()
	util := r.profile.BusyUtilPct / 100
	busy := false
	setBusy := func(b bool) {
		if b != busy {
			busy = b
			r.srv.util.setBusy(r, b, util)
		}
	}
	defer setBusy(false)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var active, joined, kept []*seq
	var next time.Time
	for {
		r.joinMu.Lock()
		joined = append(joined[:0], r.joining...)
		clear(r.joining)
		r.joining = r.joining[:0]
		r.joinMu.Unlock()

		kept = kept[:0]
		for _, s := range active {
			if !s.cancelled.Load() {
				kept = append(kept, s)
			}
		}
		clear(active) // survivors live in kept now; drop stale pointers
		active, kept = kept, active[:0]
		n := 0
		for _, s := range joined {
			if !s.cancelled.Load() {
				joined[n] = s
				n++
			}
		}
		clear(joined[n:])
		joined = joined[:n]
		r.active.Store(int64(len(active) + len(joined)))

		if len(active)+len(joined) == 0 {
			setBusy(false)
			next = time.Time{}
			select {
			case <-r.wake:
				continue
			case <-r.stop:
				return
			case <-r.srv.stop:
				return
			}
		}
		setBusy(true)

		prefill := 0
		for _, s := range joined {
			prefill += s.promptTokens
		}
		total, _ := r.stepCost(len(active)+len(joined), prefill)
		now := time.Now()
		start := next
		if start.IsZero() || now.Sub(start) > maxLag {
			start = now
		}
		// A step that catches up on the schedule may not start before a sequence in it joined.
		for _, s := range joined {
			if s.joinedAt.After(start) {
				start = s.joinedAt
			}
		}
		next = start.Add(total)
		if wait := next.Sub(now); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-r.stop:
				return
			case <-r.srv.stop:
				return
			}
		}
		end := time.Now()

		// A joining sequence's first token comes out of the step that reads its prompt, and its
		// prompt evaluation ends with that token, as Ollama's runner times it (its generation
		// clock starts once the batch that read the prompt is decoded): eval_duration covers
		// the steps of the tokens after it, and TTFT − load − prompt_eval is the request's wait
		// and overhead alone, with no decode step in it.
		for _, s := range joined {
			s.mu.Lock()
			s.prefillEnd = end
			s.mu.Unlock()
		}
		kept = kept[:0]
		for _, list := range [2][]*seq{active, joined} {
			for _, s := range list {
				s.mu.Lock()
				s.produced++
				s.lastAt = end
				s.finished = s.produced >= s.target
				done := s.finished
				s.mu.Unlock()
				s.poke()
				if !done {
					kept = append(kept, s)
				}
			}
		}
		clear(active)
		active, kept = kept, active[:0]
	}
}

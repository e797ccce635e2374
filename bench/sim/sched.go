package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// The scheduler follows Ollama's: a request for a loaded model with the same runner options
// takes a fast path and never waits here; every other request goes through one pending queue
// of capacity MaxQueue (full → 503), served one at a time by one goroutine, which loads,
// reloads and evicts models. Everything a request spends here is inside its load_duration.

var (
	errBusy   = errors.New("server busy, please try again.  maximum pending requests exceeded")
	errClosed = errors.New("server shutting down")
)

// pendingReq is a request waiting for the scheduler.
type pendingReq struct {
	ctx       context.Context
	name      string
	profile   Profile
	opts      runnerOpts
	keepAlive time.Duration
	// state hands the runner over exactly once: 0 waiting, 1 delivered, 2 abandoned by the
	// requester (who then owns no reference, so the scheduler gives it back).
	state  atomic.Int32
	result chan acquired
}

type acquired struct {
	r   *runner
	err error
}

type scheduler struct {
	srv     *Server
	pending chan *pendingReq

	mu      sync.Mutex
	runners map[string]*runner
	changed chan struct{} // closed and replaced whenever a runner goes idle or unloads
	closed  bool
	loads   int64
	unloads int64
}

func newScheduler(srv *Server) *scheduler {
	return &scheduler{
		srv:     srv,
		pending: make(chan *pendingReq, srv.set.MaxQueue),
		runners: map[string]*runner{},
		changed: make(chan struct{}),
	}
}

// acquire returns a runner for the request, loading the model if needed; the caller must
// release it.
func (sch *scheduler) acquire(ctx context.Context, name string, p Profile, opts runnerOpts, keepAlive time.Duration) (*runner, error) {
	sch.mu.Lock()
	if sch.closed {
		sch.mu.Unlock()
		return nil, errClosed
	}
	if r := sch.runners[name]; r != nil && r.state == stateReady && r.opts == opts {
		sch.takeLocked(r, keepAlive)
		sch.mu.Unlock()
		return r, nil
	}
	sch.mu.Unlock()

	pr := &pendingReq{ctx: ctx, name: name, profile: p, opts: opts, keepAlive: keepAlive, result: make(chan acquired, 1)}
	select {
	case sch.pending <- pr:
	default:
		return nil, errBusy
	}
	var err error
	select {
	case a := <-pr.result:
		return a.r, a.err
	case <-ctx.Done():
		err = ctx.Err()
	case <-sch.srv.stop:
		err = errClosed
	}
	if !pr.state.CompareAndSwap(0, 2) {
		// Delivered as we gave up: give the reference back.
		if a := <-pr.result; a.r != nil {
			sch.release(a.r)
		}
	}
	return nil, err
}

// give hands the outcome to a pending request, or returns the runner if it left.
func (sch *scheduler) give(pr *pendingReq, r *runner, err error) {
	if pr.state.CompareAndSwap(0, 1) {
		pr.result <- acquired{r, err}
		return
	}
	if r != nil {
		sch.release(r)
	}
}

func (sch *scheduler) takeLocked(r *runner, keepAlive time.Duration) {
	r.refs++
	r.keepAlive = keepAlive
	sch.stopTimerLocked(r)
}

func (sch *scheduler) stopTimerLocked(r *runner) {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	r.timerGen++
	r.expiresAt = time.Time{}
}

// release drops a request's reference; an idle runner starts its keep-alive countdown.
func (sch *scheduler) release(r *runner) {
	sch.mu.Lock()
	defer sch.mu.Unlock()
	r.refs--
	if r.refs > 0 || r.state == stateUnloaded {
		return
	}
	r.idleSince = time.Now()
	sch.notifyLocked()
	switch {
	case r.state == stateDraining:
		sch.unloadLocked(r, r.drainReason)
	case r.keepAlive == 0:
		sch.unloadLocked(r, "keep_alive expired")
	case r.keepAlive > 0:
		r.timerGen++
		gen := r.timerGen
		r.expiresAt = time.Now().Add(r.keepAlive)
		r.timer = time.AfterFunc(r.keepAlive, func() { sch.expire(r, gen) })
	}
}

func (sch *scheduler) expire(r *runner, gen int) {
	sch.mu.Lock()
	defer sch.mu.Unlock()
	if r.timerGen == gen && r.refs == 0 && r.state != stateUnloaded && r.state != stateLoading {
		sch.unloadLocked(r, "keep_alive expired")
	}
}

// unloadNow is the keep_alive:0 request: unload at once if idle, else when the last request
// on the runner ends.
func (sch *scheduler) unloadNow(name string) {
	sch.mu.Lock()
	defer sch.mu.Unlock()
	r := sch.runners[name]
	if r == nil || r.state == stateLoading {
		return
	}
	r.keepAlive = 0
	if r.refs == 0 {
		sch.unloadLocked(r, "keep_alive 0 requested")
	}
}

func (sch *scheduler) notifyLocked() {
	close(sch.changed)
	sch.changed = make(chan struct{})
}

func (sch *scheduler) unloadLocked(r *runner, reason string) {
	if r.state == stateUnloaded {
		return
	}
	r.state = stateUnloaded
	sch.stopTimerLocked(r)
	if sch.runners[r.name] == r {
		delete(sch.runners, r.name)
	}
	close(r.stop)
	sch.unloads++
	sch.notifyLocked()
	sch.srv.log.Info("unloading model (simulated)", "model", r.name, "reason", reason,
		"parallel", r.numParallel, "num_ctx", r.opts.numCtx)
}

// freeMiBLocked is GPU memory not taken by any runner.
func (sch *scheduler) freeMiBLocked() float64 {
	g := sch.srv.set.GPU
	free := g.MemoryTotalMiB - g.BaseMiB
	for _, r := range sch.runners {
		free -= r.vramMiB
	}
	return free
}

// run serves the pending queue until the server stops.
func (sch *scheduler) run() {
	defer sch.srv.wg.Done()
	for {
		select {
		case <-sch.srv.stop:
			return
		case pr := <-sch.pending:
			sch.process(pr)
		}
	}
}

// process gets one pending request a runner: reuse, reload, evict, or load, in that order.
func (sch *scheduler) process(pr *pendingReq) {
	set := &sch.srv.set
	for {
		if err := pr.ctx.Err(); err != nil {
			sch.give(pr, nil, err)
			return
		}
		sch.mu.Lock()
		if sch.closed {
			sch.mu.Unlock()
			sch.give(pr, nil, errClosed)
			return
		}
		r := sch.runners[pr.name]
		if r != nil && r.opts == pr.opts && (r.state == stateReady || r.state == stateDraining) {
			// Loaded meanwhile, or marked for eviction by a request that then left: serve it.
			r.state = stateReady
			sch.takeLocked(r, pr.keepAlive)
			sch.mu.Unlock()
			sch.give(pr, r, nil)
			return
		}
		if r != nil {
			// Runner options differ: Ollama reloads the model once its requests finish.
			if r.state == stateReady {
				r.state, r.drainReason = stateDraining, "reload"
				sch.srv.log.Info("runner options changed, reloading model (simulated)", "model", r.name,
					"num_ctx", r.opts.numCtx, "new_num_ctx", pr.opts.numCtx)
			}
			if r.refs == 0 {
				sch.unloadLocked(r, "reload")
				sch.mu.Unlock()
				continue
			}
			ch := sch.changed
			sch.mu.Unlock()
			if !sch.wait(pr, ch) {
				return
			}
			continue
		}
		need := pr.profile.RunnerMiB(set.NumParallel, pr.opts.numCtx)
		if len(sch.runners) >= set.MaxLoadedModels || (need > sch.freeMiBLocked() && len(sch.runners) > 0) {
			victim, idle := sch.victimLocked()
			if idle {
				sch.unloadLocked(victim, "evicted")
				sch.mu.Unlock()
				continue
			}
			if victim != nil {
				victim.state, victim.drainReason = stateDraining, "evicted"
				sch.srv.log.Info("evicting busy model when idle (simulated)", "model", victim.name, "for", pr.name)
			}
			ch := sch.changed
			sch.mu.Unlock()
			if !sch.wait(pr, ch) {
				return
			}
			continue
		}
		r = sch.newRunnerLocked(pr, need)
		sch.mu.Unlock()
		sch.load(pr, r)
		return
	}
}

// victimLocked picks the runner to evict: the idle one unused longest, else (to mark for
// eviction) the busy one with the fewest requests. A runner already draining means just wait.
func (sch *scheduler) victimLocked() (r *runner, idle bool) {
	var best *runner
	for _, c := range sch.runners {
		if c.state == stateLoading {
			continue
		}
		if c.refs == 0 {
			if !idle || c.idleSince.Before(best.idleSince) {
				best, idle = c, true
			}
		}
	}
	if idle {
		return best, true
	}
	for _, c := range sch.runners {
		if c.state == stateDraining {
			return nil, false
		}
		if c.state == stateReady && (best == nil || c.refs < best.refs) {
			best = c
		}
	}
	return best, false
}

// wait blocks until the runners change; false if the request is gone (and answered).
func (sch *scheduler) wait(pr *pendingReq, ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-pr.ctx.Done():
		sch.give(pr, nil, pr.ctx.Err())
	case <-sch.srv.stop:
		sch.give(pr, nil, errClosed)
	}
	return false
}

func (sch *scheduler) newRunnerLocked(pr *pendingReq, need float64) *runner {
	set := &sch.srv.set
	vram := math.Min(need, math.Max(0, sch.freeMiBLocked()))
	frac := 1.0
	if need > 0 {
		frac = vram / need
	}
	slow := pr.profile.OffloadSlowdown
	if slow < 1 {
		slow = 1
	}
	r := &runner{
		srv:         sch.srv,
		name:        pr.name,
		profile:     pr.profile,
		opts:        pr.opts,
		numParallel: set.NumParallel,
		sizeMiB:     need,
		vramMiB:     vram,
		slowdown:    1 + (slow-1)*(1-frac),
		slots:       newFifoSem(set.NumParallel),
		stop:        make(chan struct{}),
		wake:        make(chan struct{}, 1),
		state:       stateLoading,
	}
	sch.runners[pr.name] = r
	sch.loads++
	layers := pr.profile.Layers
	sch.srv.log.Info("loading model (simulated)", "model", r.name, "parallel", r.numParallel,
		"num_ctx", r.opts.numCtx, "kv_cache_mib", round1(float64(r.numParallel)*pr.profile.MiBPerSlot(r.opts.numCtx)),
		"required_mib", round1(need), "offload", fmt.Sprintf("%d/%d", int(math.Round(frac*float64(layers))), layers))
	return r
}

// load spends the profile's load time, then starts the runner's batch loop.
func (sch *scheduler) load(pr *pendingReq, r *runner) {
	started := time.Now()
	if d := sch.srv.set.scale(r.profile.LoadTime); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-sch.srv.stop:
			t.Stop()
			sch.give(pr, nil, errClosed)
			return
		}
	}
	sch.mu.Lock()
	if sch.closed || r.state != stateLoading {
		sch.mu.Unlock()
		sch.give(pr, nil, errClosed)
		return
	}
	r.state = stateReady
	r.loadedAt = time.Now()
	r.idleSince = r.loadedAt
	sch.srv.wg.Add(1)
	go r.loop()
	sch.takeLocked(r, pr.keepAlive)
	sch.notifyLocked()
	sch.mu.Unlock()
	sch.srv.log.Info(fmt.Sprintf("llama runner started in %.2f seconds (simulated)", time.Since(started).Seconds()),
		"model", r.name, "parallel", r.numParallel, "num_ctx", r.opts.numCtx)
	sch.give(pr, r, nil)
}

// close unloads everything; no runner starts after it.
func (sch *scheduler) close() {
	sch.mu.Lock()
	defer sch.mu.Unlock()
	sch.closed = true
	for _, r := range sch.runners {
		sch.unloadLocked(r, "shutdown")
	}
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

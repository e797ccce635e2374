package sim

import (
	"context"
	"errors"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"
)

// job is one generation request, parsed, in protocol-neutral form.
type job struct {
	start        time.Time // handler entry: total_duration and load_duration start here
	model        string    // as the client sent it; replies echo it
	modelJSON    []byte
	name         string // normalized
	profile      Profile
	promptTokens int
	prompt       string // /api/generate only: system and prompt, for the context array
	contextIn    []int  // /api/generate only: the context array the client sent
	promptHash   uint64
	limit        int // output token limit; ≤ 0 = none (the model ends by itself)
	opts         runnerOpts
	keepAlive    time.Duration
	seed         int64
	hasSeed      bool
	faults       faultSet
	index        int64
}

func hashString(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

func (s *Server) defaultOpts(p Profile) runnerOpts {
	return runnerOpts{numCtx: s.set.numCtx(p), numBatch: 512, numGPU: -1}
}

// plan decides a request's output: its length, why it ends, and where its words start. All of
// it is drawn from the request's seed (or Config.Seed and its arrival number).
func (s *Server) plan(j *job) (target int, reason string, offset int) {
	seed := uint64(s.set.Seed) + uint64(j.index)*0x9e3779b97f4a7c15
	if j.hasSeed {
		seed = uint64(j.seed)
	}
	rng := rand.New(rand.NewPCG(seed, j.promptHash))
	offset = rng.IntN(len(s.text.plain))
	target, reason = j.profile.DefaultTokens, "stop"
	if j.limit > 0 {
		// Ollama caps generation at 10 × num_ctx.
		target, reason = min(j.limit, 10*j.opts.numCtx), "length"
	}
	if p := j.profile.EOSProbability; p > 0 {
		u := rng.Float64()
		k := 1 + int(math.Floor(math.Log(1-u)/math.Log(1-p)))
		if k > 0 && k < target {
			target, reason = k, "stop"
		}
	}
	return target, reason, offset
}

// generation is a request that holds a runner and a slot and has a sequence in the batch.
type generation struct {
	srv      *Server
	job      *job
	r        *runner
	seq      *seq
	offset   int
	reason   string
	loadDur  time.Duration
	slotHeld bool
	refHeld  bool
	seen     int
}

// begin takes the request through Ollama's waits: scheduler (load_duration), slot (only in
// total_duration), then the batch.
func (s *Server) begin(ctx context.Context, j *job) (*generation, error) {
	r, err := s.sched.acquire(ctx, j.name, j.profile, j.opts, j.keepAlive)
	if err != nil {
		return nil, err
	}
	g := &generation{srv: s, job: j, r: r, loadDur: time.Since(j.start), refHeld: true}
	if err := r.slots.acquire(ctx, s.stop); err != nil {
		g.finish()
		return nil, err
	}
	g.slotHeld = true
	if err := s.sleep(ctx, s.set.scale(j.profile.Overhead)); err != nil {
		g.finish()
		return nil, err
	}
	target, reason, offset := s.plan(j)
	g.offset, g.reason = offset, reason
	g.seq = newSeq(min(j.promptTokens, j.opts.numCtx), target)
	r.join(g.seq)
	return g, nil
}

// wait blocks until the batch produced more tokens or finished.
func (g *generation) wait(ctx context.Context) (produced int, finished bool, err error) {
	for {
		p, f := g.seq.progress()
		if p > g.seen || f {
			g.seen = p
			return p, f, nil
		}
		select {
		case <-g.seq.notify:
		case <-ctx.Done():
			return 0, false, ctx.Err()
		case <-g.srv.stop:
			return 0, false, errClosed
		}
	}
}

func (g *generation) waitAll(ctx context.Context) error {
	for {
		_, f, err := g.wait(ctx)
		if err != nil || f {
			return err
		}
	}
}

func (g *generation) releaseSlot() {
	if g.slotHeld {
		g.slotHeld = false
		g.r.slots.release()
	}
}

// finish frees whatever the request still holds; a client that left frees its sequence too.
func (g *generation) finish() {
	if g.seq != nil {
		if _, f := g.seq.progress(); !f {
			g.seq.cancelled.Store(true)
		}
	}
	g.releaseSlot()
	if g.refHeld {
		g.refHeld = false
		g.srv.sched.release(g.r)
	}
}

// result is the final accounting, measured on the wall clock the way Ollama defines it.
type result struct {
	created      time.Time
	doneReason   string
	promptTokens int
	evalCount    int
	total        time.Duration // handler entry → final chunk built
	load         time.Duration // handler entry → runner acquired
	promptEval   time.Duration
	eval         time.Duration
}

func (g *generation) result() *result {
	now := time.Now()
	joined, prefillEnd, last := g.seq.times()
	return &result{
		created:      now,
		doneReason:   g.reason,
		promptTokens: g.seq.promptTokens,
		evalCount:    g.seq.target,
		total:        now.Sub(g.job.start),
		load:         g.loadDur,
		promptEval:   prefillEnd.Sub(joined),
		eval:         last.Sub(prefillEnd),
	}
}

func (g *generation) text() string {
	var b strings.Builder
	for i := range g.seq.target {
		b.WriteString(g.srv.text.token(g.offset, i))
	}
	return b.String()
}

// wire is one protocol's framing of a generation.
type wire interface {
	streamType() string
	// fail answers with an error before any byte was written.
	fail(w http.ResponseWriter, status int, msg string)
	chunk(buf []byte, g *generation, i int) []byte
	final(buf []byte, g *generation, res *result) []byte
	streamError(buf []byte, msg string) []byte
	garbage(buf []byte) []byte
	// whole writes a stream:false reply; complete=false is a truncated one.
	whole(w http.ResponseWriter, g *generation, res *result, complete bool)
}

func faultMessage(status int) string {
	switch status {
	case http.StatusServiceUnavailable:
		return errBusy.Error()
	case http.StatusInternalServerError:
		return "llama runner process has terminated: exit status 2 (simulated fault)"
	default:
		return "simulated fault: HTTP " + http.StatusText(status)
	}
}

const midstreamMessage = "llama runner process has terminated: simulated fault mid-stream"

// serveGeneration runs a parsed job and writes it in wire's protocol, faults included.
func (s *Server) serveGeneration(w http.ResponseWriter, req *http.Request, wr wire, j *job, stream bool) {
	ctx := req.Context()
	if j.faults.status != 0 {
		wr.fail(w, j.faults.status, faultMessage(j.faults.status))
		return
	}
	if j.faults.reset.on && j.faults.reset.at == 0 {
		resetConn(w)
		return
	}
	g, err := s.begin(ctx, j)
	if err != nil {
		switch {
		case errors.Is(err, errBusy):
			wr.fail(w, http.StatusServiceUnavailable, err.Error())
		case errors.Is(err, errClosed):
			wr.fail(w, http.StatusInternalServerError, err.Error())
		}
		return // the client left: nothing to write to
	}
	defer g.finish()
	if err := s.sleep(ctx, j.faults.slowFirstByte); err != nil {
		return
	}
	if stream {
		s.stream(ctx, w, wr, g)
	} else {
		s.reply(ctx, w, wr, g)
	}
}

// faultPlan tracks which positional faults still have to fire.
type faultPlan struct {
	garbage, stall, midstream, cut, reset int // position, or −1 when off / fired
	stallFor                              time.Duration
}

func newFaultPlan(f faultSet, outputTokens int) faultPlan {
	at := func(p position) int {
		if !p.on {
			return -1
		}
		return p.resolve(outputTokens)
	}
	return faultPlan{
		garbage: at(f.garbage), stall: at(f.stallAt), midstream: at(f.midstream),
		cut: at(f.cut), reset: at(f.reset), stallFor: f.stall,
	}
}

func (s *Server) stream(ctx context.Context, w http.ResponseWriter, wr wire, g *generation) {
	w.Header().Set("Content-Type", wr.streamType())
	rc := http.NewResponseController(w)
	plan := newFaultPlan(g.job.faults, g.seq.target)
	buf := make([]byte, 0, 512)
	sent := 0
	// fire applies the faults due before chunk pos; false ends the response.
	fire := func(pos int) bool {
		if plan.garbage == pos {
			plan.garbage = -1
			if _, err := w.Write(wr.garbage(buf[:0])); err != nil {
				return false
			}
		}
		if plan.stall == pos {
			plan.stall = -1
			rc.Flush()
			if s.sleep(ctx, plan.stallFor) != nil {
				return false
			}
		}
		switch pos {
		case plan.midstream:
			w.Write(wr.streamError(buf[:0], midstreamMessage))
			rc.Flush()
			return false
		case plan.cut:
			rc.Flush()
			return false
		case plan.reset:
			rc.Flush()
			resetConn(w)
			return false
		}
		return true
	}
	for {
		produced, finished, err := g.wait(ctx)
		if err != nil {
			return
		}
		for ; sent < produced; sent++ {
			if !fire(sent) {
				return
			}
			buf = wr.chunk(buf[:0], g, sent)
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
		if finished {
			break
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
	if !fire(sent) {
		return
	}
	g.releaseSlot()
	res := g.result()
	buf = wr.final(buf[:0], g, res)
	if _, err := w.Write(buf); err != nil {
		return
	}
	rc.Flush()
}

func (s *Server) reply(ctx context.Context, w http.ResponseWriter, wr wire, g *generation) {
	if err := g.waitAll(ctx); err != nil {
		if errors.Is(err, errClosed) {
			wr.fail(w, http.StatusInternalServerError, err.Error())
		}
		return
	}
	g.releaseSlot()
	res := g.result()
	f := g.job.faults
	if f.stallAt.on && s.sleep(ctx, f.stall) != nil {
		return
	}
	switch {
	case f.reset.on:
		resetConn(w)
	case f.midstream.on:
		wr.fail(w, http.StatusInternalServerError, midstreamMessage)
	case f.garbage.on:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(wr.garbage(nil))
	default:
		wr.whole(w, g, res, !f.cut.on)
	}
}

// resetConn aborts the connection with a TCP RST, which a client sees as "connection reset by
// peer" rather than a clean end of body.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable (HTTP/2): abort the stream instead.
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

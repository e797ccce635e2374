package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/clock"
	"github.com/llmload/llmload/bench/hostload"
	"github.com/llmload/llmload/bench/results"
)

// Doer sends one request and returns its record. *api.Client is the real one.
type Doer interface {
	Do(ctx context.Context, req *api.Request) *api.Record
}

// Options configure a run beyond its plan.
type Options struct {
	// Records, when set, receives every measured request as one JSON line.
	Records io.Writer
	// Live, when set, is updated as requests finish, for progress displays.
	Live *Live
	// Grace is how long requests in flight may finish after the run's context ends
	// (Ctrl-C). Zero means they are cancelled at once.
	Grace time.Duration
	// HardStop, when it ends, cancels requests in flight at once, grace period or not (a
	// second Ctrl-C).
	HardStop context.Context
	// Start, when set, is the run's clock origin (so a GPU sampler started just before shares
	// it); otherwise the run starts when RunPlan is called.
	Start time.Time
	// OnStage is called as each stage starts (from the runner's goroutine).
	OnStage func(index int, st results.Stage)
	// ServerInProcess says the server shares this process (the simulator behind --sim): the
	// process's CPU share then is not the client's alone and is not used to judge overload.
	ServerInProcess bool
	// Machine, when set, measures per stage how much of the CPUs other processes used (not
	// llmload, not the server under test): the busyness that makes a run noisy.
	Machine *hostload.Meter
	// Goodput, when set, is the per-request objective each stage counts good requests by.
	Goodput *GoodputSLO
	// ControlProbe, when the plan has no closed-loop stage at concurrency 1, is how many
	// requests a probe sends one at a time before the stages, to measure the run's control (a
	// lone request's decode rate); they count in no stage. 0 sends none: the control then comes
	// from such a stage alone.
	ControlProbe int
}

// Live holds counters a progress display may read at any time.
type Live struct {
	Stage      atomic.Int32 // index of the running stage; -1 during warm-up
	Planned    atomic.Int64 // requests the stage will send, 0 when bounded by time only
	StageStart atomic.Int64 // unix nanoseconds
	Deadline   atomic.Int64 // unix nanoseconds the stage stops sending at, 0 when none
	Done       atomic.Int64 // requests finished in this stage
	Errors     atomic.Int64
	InFlight   atomic.Int64
	Tokens     atomic.Int64
}

// RunPlan executes a prepared plan. It returns what was measured even when ctx ends early (the
// result is then marked Interrupted); it returns an error only when nothing could be run at all.
func RunPlan(ctx context.Context, w *Workload, client Doer, opts Options) (*results.Run, error) {
	if w == nil || w.Plan == nil || len(w.Plan.Stages) == 0 || len(w.Plan.Mix) == 0 {
		return nil, fmt.Errorf("plan is empty: call Prepare first")
	}
	if len(w.sources) != len(w.Plan.Mix) {
		return nil, fmt.Errorf("the plan's mix changed after Prepare: prepare it again")
	}
	r := &runner{work: w, plan: w.Plan, client: client, opts: opts, live: opts.Live}
	if r.live == nil {
		r.live = &Live{}
	}
	return r.run(ctx)
}

type runner struct {
	work   *Workload
	plan   *results.Plan // work.Plan
	client Doer
	opts   Options
	live   *Live
}

// stageSpan is when a stage ran, and how many of its open loop's arrivals were never sent
// because no place under its cap came free before it ended.
type stageSpan struct {
	start, end time.Time
	dropped    int
}

func (r *runner) run(ctx context.Context) (*results.Run, error) {
	// Requests run under their own context so that an interrupt stops dispatch at once but
	// lets requests in flight finish for a grace period.
	reqCtx, cancelReqs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelReqs()
	stopGrace := context.AfterFunc(ctx, func() {
		if r.opts.Grace <= 0 {
			cancelReqs()
			return
		}
		time.AfterFunc(r.opts.Grace, cancelReqs)
	})
	defer stopGrace()
	if r.opts.HardStop != nil {
		defer context.AfterFunc(r.opts.HardStop, cancelReqs)()
	}

	out := &results.Run{Plan: r.plan, Started: r.opts.Start}
	if out.Started.IsZero() {
		out.Started = time.Now()
	}
	runStart := out.Started

	records := make(chan []*api.Record, 64)
	col := newCollector(r.work, runStart, r.opts.Records, r.opts.Goodput)
	colDone := make(chan struct{})
	go func() {
		col.loop(records)
		close(colDone)
	}()

	var werr error
	out.Warmup, werr = r.warmup(ctx, reqCtx, col)
	if werr != nil {
		close(records)
		<-colDone
		return nil, werr
	}
	var probe []*api.Record
	if r.opts.ControlProbe > 0 && loneStage(r.plan.Stages) < 0 && ctx.Err() == nil {
		probe = r.probe(reqCtx, r.opts.ControlProbe)
	}

	spans := make([]stageSpan, 0, len(r.plan.Stages))
	usages := make([]usage, 0, len(r.plan.Stages))
	others := make([]float64, 0, len(r.plan.Stages))
	for i, st := range r.plan.Stages {
		if ctx.Err() != nil {
			break
		}
		if r.opts.OnStage != nil {
			r.opts.OnStage(i, st)
		}
		before := readUsage()
		m0, err0 := r.readMachine()
		span := r.stage(ctx, reqCtx, i, st, records)
		spans = append(spans, span)
		usages = append(usages, readUsage().since(before))
		m1, err1 := r.readMachine()
		share := math.NaN()
		if err0 == nil && err1 == nil {
			share = hostload.OthersShare(m0, m1)
		}
		others = append(others, share)
	}
	close(records)
	<-colDone
	out.Ended = time.Now()
	out.Interrupted = ctx.Err() != nil

	if col.err != nil {
		out.Notes = append(out.Notes, fmt.Sprintf("records file: %v", col.err))
	}
	out.Baseline = col.baseline(r.plan.Stages[:len(spans)])
	for i, span := range spans {
		st := r.plan.Stages[i]
		res := col.stages[i].result(st, span.start.Sub(runStart), span.end.Sub(span.start), out.Baseline)
		if res.Saturation != nil {
			res.Saturation.Dropped = span.dropped
			res.Saturation.Arrivals += span.dropped
		}
		res.Client = clientCheck(res, usages[i], span.end.Sub(span.start), r.opts.ServerInProcess)
		res.Client.NewConnections, res.Client.Reconnects = col.stages[i].newConns, col.stages[i].reconnects
		if !math.IsNaN(others[i]) {
			res.Machine = &results.MachineLoad{OthersCPUPct: results.Round3(100 * others[i])}
		}
		out.Stages = append(out.Stages, res)
		if ref := out.Stages[results.SpeedupReference(results.OpenStages(out.Stages), i)]; ref != res && ref.Throughput.RequestsPerS > 0 {
			res.Speedup = results.Round3(res.Throughput.RequestsPerS / ref.Throughput.RequestsPerS)
		}
	}
	out.Notes = append(out.Notes, r.work.Notes...)
	for _, note := range []string{keepAliveNote(out.Stages), promptCacheNote(out.Stages), loadNote(out.Stages)} {
		if note != "" {
			out.Notes = append(out.Notes, note)
		}
	}
	out.Control = control(out.Stages, probe)
	out.Noise = noise(out.Stages, out.Control)
	return out, nil
}

// loneStage is the index of the plan's first closed-loop stage at concurrency 1, -1 when none.
func loneStage(stages []results.Stage) int {
	for i, st := range stages {
		if !st.OpenLoop() && st.Concurrency == 1 {
			return i
		}
	}
	return -1
}

// probe sends n requests of the plan, one at a time, for the control; their records stay out
// of every stage and of the records file.
func (r *runner) probe(reqCtx context.Context, n int) []*api.Record {
	r.live.Stage.Store(-1)
	seq := newSequence(r.work)
	recs := make([]*api.Record, 0, n)
	for range n {
		if reqCtx.Err() != nil {
			break
		}
		req, _ := seq.next()
		recs = append(recs, r.client.Do(reqCtx, req))
	}
	return recs
}

// control is the run's control figure: a lone request's decode rate, from the first
// closed-loop stage at concurrency 1, else from the probe; nil when neither measured one.
func control(stages []*results.StageResult, probe []*api.Record) *results.Control {
	for _, st := range stages {
		if st.Rate > 0 || st.Concurrency != 1 || st.Requests.OK == 0 {
			continue
		}
		c := &results.Control{Source: "stage " + st.Name, Requests: st.Requests.Total, OK: st.Requests.OK,
			Metric: results.MetricDecodeTPS, Value: st.Throughput.DecodeTokensPerS}
		if c.Value <= 0 {
			c.Metric, c.Value = results.MetricOutputTPS, st.Throughput.OutputTokensPerS
		}
		return c
	}
	if len(probe) == 0 {
		return nil
	}
	c := &results.Control{Source: "probe", Requests: len(probe), Metric: results.MetricDecodeTPS}
	var decode, output, e2e []float64
	for _, rec := range probe {
		if !rec.OK() {
			continue
		}
		c.OK++
		e2e = append(e2e, float64(rec.Done)/float64(time.Millisecond))
		if d := rec.Done - rec.FirstToken; rec.Stream && len(rec.TokenTimes) > 0 && rec.OutputTokens > 1 && d > 0 {
			decode = append(decode, float64(rec.OutputTokens)/d.Seconds())
		}
		if rec.Done > 0 {
			output = append(output, float64(rec.OutputTokens)/rec.Done.Seconds())
		}
	}
	if c.OK == 0 {
		return c
	}
	// The mean, as a stage's decode_tps is.
	mean := func(v []float64) float64 {
		sum := 0.0
		for _, x := range v {
			sum += x
		}
		return sum / float64(len(v))
	}
	if len(decode) > 0 {
		c.Value = results.Round3(mean(decode))
	} else {
		c.Metric, c.Value = results.MetricOutputTPS, results.Round3(mean(output))
	}
	c.E2EP50Ms = results.Round3(results.Median(e2e))
	c.E2EMaxMs = results.Round3(slices.Max(e2e))
	return c
}

// loadNote says when requests of measured stages waited for a model to load: their latencies
// then hold the load (reload thrash), not the serving.
func loadNote(stages []*results.StageResult) string {
	var parts []string
	for _, st := range stages {
		if st.ModelLoads > 0 {
			parts = append(parts, fmt.Sprintf("%s (%d of %d requests)", st.Name, st.ModelLoads, st.Requests.Total))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "reload thrash: requests of measured stages waited for a model to load, so their latencies hold the load: " + strings.Join(parts, ", ") +
		". A model was unloaded while the plan still needed it: more models than the server keeps loaded at once (OLLAMA_MAX_LOADED_MODELS, or GPU memory), a keep-alive that ran out, or requests of one model with different runner options"
}

func (r *runner) readMachine() (hostload.Reading, error) {
	if r.opts.Machine == nil {
		return hostload.Reading{}, errNoMachine
	}
	return r.opts.Machine.Read()
}

var errNoMachine = errors.New("no machine meter")

// What makes a run noisy: other processes using this share of the CPUs during a stage, or a
// lone request (concurrency 1, where nothing queues) taking this many times the stage's median
// (results.NoisyOthersCPUPct, results.NoisyOutlier).
const (
	NoisyOthersCPUPct = results.NoisyOthersCPUPct
	NoisyOutlier      = results.NoisyOutlier
)

// noise lists what makes a run's figures doubtful, each a sentence that starts "noisy: ".
func noise(stages []*results.StageResult, ctl *results.Control) []string {
	var out []string
	if c := ctl; c != nil && c.Source == "probe" && c.OK >= 3 && c.E2EP50Ms > 0 && c.E2EMaxMs > NoisyOutlier*c.E2EP50Ms {
		out = append(out, fmt.Sprintf("noisy: at concurrency 1, where nothing queues, a request of the control probe took %.0f ms against a median of %.0f ms (over %d×)", c.E2EMaxMs, c.E2EP50Ms, NoisyOutlier))
	}
	for _, st := range stages {
		if m := st.Machine; m != nil && m.OthersCPUPct >= NoisyOthersCPUPct {
			out = append(out, fmt.Sprintf("noisy: the machine was busy during stage %s: other processes used %.0f%% of its CPUs (a quiet machine stays under %d%%)", st.Name, m.OthersCPUPct, NoisyOthersCPUPct))
		}
		e2e := st.LatencyMs[results.MetricE2E]
		if st.Rate == 0 && st.Concurrency == 1 && e2e.N >= 3 && e2e.P50 > 0 && e2e.Max > NoisyOutlier*e2e.P50 {
			out = append(out, fmt.Sprintf("noisy: at concurrency 1, where nothing queues, a request of stage %s took %.0f ms against a median of %.0f ms (over %d×)", st.Name, e2e.Max, e2e.P50, NoisyOutlier))
		}
	}
	return out
}

// keepAliveNote says when the server closed the kept-alive connections after (nearly) every
// reply: each request then pays a TCP handshake, and on the own path often a lost first
// attempt. A server that keeps them needs a new connection only per worker, so the judged
// stages are those whose number of workers is known (closed loop, or a capped open loop).
func keepAliveNote(stages []*results.StageResult) string {
	requests, fresh, workers := 0, 0, 0
	for _, s := range stages {
		w := s.Concurrency
		if s.Rate > 0 {
			w = s.MaxConcurrency
		}
		if w <= 0 {
			continue
		}
		requests += s.Requests.Total
		fresh += s.Client.NewConnections
		workers += w
	}
	if requests < 4 || fresh-workers <= requests/2 {
		return ""
	}
	return fmt.Sprintf("the server closes keep-alive connections: each request pays a new TCP connection (%d of %d requests opened one)", fresh, requests)
}

// promptCacheNote says when the server's prompt cache served most prompt tokens (llama-server
// caches prompts by default): the run then measured cache hits, not prompt processing.
func promptCacheNote(stages []*results.StageResult) string {
	var cached, prompt int64
	for _, s := range stages {
		cached += s.PromptCached
		prompt += s.PromptTokens
	}
	if prompt == 0 || 2*cached < prompt {
		return ""
	}
	return fmt.Sprintf("the server's prompt cache served %.0f%% of prompt tokens: repeated prompts measure cache hits, not prompt processing (vary them: synthetic prompts or a prompt file; llama-server also takes cache_prompt:false as an extra body field)", 100*float64(cached)/float64(prompt))
}

// WarmupError is a warm-up request that says the stages cannot measure anything: the server
// refused it as a client error (no such model, a bad request, no access) or could not be
// reached. Sending the stages anyway would fire thousands of requests that fail the same way.
type WarmupError struct {
	Model  string
	Class  api.Class
	Status int    // the HTTP status; 0 when there was no reply
	Text   string // the record's error: the server's own message
}

func (e *WarmupError) Error() string {
	return fmt.Sprintf("warm-up request for model %q failed: %s", e.Model, e.Text)
}

// warmupFatal says whether a failed warm-up request means the stages would fail alike.
func warmupFatal(rec *api.Record) bool {
	switch {
	case rec.Class == api.ClassConnRefused:
		return true
	case rec.OK() || rec.Status == 0:
		return false
	}
	return rec.Status == 400 || rec.Status == 401 || rec.Status == 403 || rec.Status == 404
}

// warmup sends plan.Warmup requests per model, all at once, and waits for them. They load
// the models and fill the first slots; their records are kept apart from every stage. A
// model's warm-up requests are made from its first template in the mix (its body or its
// prompts), so each one loads the model it is meant to. It returns a *WarmupError when a
// request shows that the stages cannot work (see warmupFatal).
func (r *runner) warmup(ctx, reqCtx context.Context, col *collector) (*results.Warmup, error) {
	if r.plan.Warmup <= 0 {
		return nil, nil
	}
	r.live.Stage.Store(-1)
	start := time.Now()
	seq := newSequence(r.work)
	var reqs []*api.Request
	for _, model := range r.plan.Models() {
		for j, t := range r.plan.Mix {
			if t.Model != model {
				continue
			}
			for i := 0; i < r.plan.Warmup; i++ {
				reqs = append(reqs, seq.request(j))
			}
			break
		}
	}
	recs := make([]*api.Record, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs[i] = r.client.Do(reqCtx, req)
		}()
	}
	wg.Wait()
	w := &results.Warmup{Requests: len(recs), WallS: results.Round3(time.Since(start).Seconds())}
	for _, rec := range recs {
		if rec.OK() {
			w.OK++
		} else {
			if w.Errors == nil {
				w.Errors = map[string]int{}
			}
			w.Errors[string(rec.Class)]++
		}
		if rec.Server != nil {
			w.LoadMs = math.Max(w.LoadMs, results.Round3(float64(rec.Server.Load)/1e6))
		}
	}
	col.warmup = recs
	_ = ctx
	for _, rec := range recs {
		if warmupFatal(rec) {
			return w, &WarmupError{Model: rec.Model, Class: rec.Class, Status: rec.Status, Text: rec.Error}
		}
	}
	return w, nil
}

// stage runs one stage and returns when every request it sent has finished.
func (r *runner) stage(ctx, reqCtx context.Context, index int, st results.Stage, records chan<- []*api.Record) stageSpan {
	live := r.live
	live.Stage.Store(int32(index))
	live.Done.Store(0)
	live.Errors.Store(0)
	live.Tokens.Store(0)
	live.Planned.Store(int64(st.Requests))
	start := time.Now()
	live.StageStart.Store(start.UnixNano())
	live.Deadline.Store(0)

	// Dispatch stops at the deadline or on interrupt; requests already sent are awaited.
	dispatchCtx := ctx
	if st.Duration > 0 {
		deadline := start.Add(time.Duration(st.Duration))
		live.Deadline.Store(deadline.UnixNano())
		var cancel context.CancelFunc
		dispatchCtx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	seq := newSequence(r.work)
	batch := &recordBatch{out: records, last: start}
	defer batch.flush()
	send := func(worker, n int, intended, placed time.Time, req *api.Request, t *results.Template) {
		live.InFlight.Add(1)
		rec := r.client.Do(reqCtx, req)
		live.InFlight.Add(-1)
		if rec.Intended.IsZero() {
			rec.Intended = intended
		}
		if rec.Sent.Before(rec.Intended) {
			rec.Intended = rec.Sent
		}
		if placed.After(rec.Intended) {
			rec.Placed = placed
			if rec.Sent.Before(placed) {
				rec.Placed = rec.Sent
			}
		}
		rec.Stage, rec.Seq, rec.Worker, rec.Template = index, n, worker, t.Name
		live.Done.Add(1)
		if rec.OK() {
			live.Tokens.Add(int64(rec.OutputTokens))
		} else {
			live.Errors.Add(1)
		}
		batch.add(rec)
	}
	span := stageSpan{start: start}
	if st.OpenLoop() {
		span.dropped = r.openLoop(dispatchCtx, st, seq, start, send)
	} else {
		r.closedLoop(dispatchCtx, st, seq, send)
	}
	span.end = time.Now()
	return span
}

// sendFunc sends one request: intended is when it was due, placed when it found a place
// under an open loop's cap after waiting for one (zero when it did not wait).
type sendFunc func(worker, n int, intended, placed time.Time, req *api.Request, t *results.Template)

// closedLoop runs st.Concurrency workers; each sends its next request when the last ends.
func (r *runner) closedLoop(ctx context.Context, st results.Stage, seq *sequence, send sendFunc) {
	var mu sync.Mutex
	issued := 0
	next := func() (int, *api.Request, *results.Template, bool) {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil || (st.Requests > 0 && issued >= st.Requests) {
			return 0, nil, nil, false
		}
		req, t := seq.next()
		issued++
		return issued - 1, req, t, true
	}
	var wg sync.WaitGroup
	for w := 0; w < st.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, req, t, ok := next()
				if !ok {
					return
				}
				send(w, n, time.Now(), time.Time{}, req, t)
			}
		}()
	}
	wg.Wait()
}

// openLoop sends requests at their intended times whatever the server does. Latency counts
// from the intended time, so a slow server cannot hide its delay by slowing the sender
// (no coordinated omission); time spent waiting for a --max-concurrency place counts too.
// An arrival that finds every place taken waits for one (the record's Placed says when it
// came); one still waiting when the stage ends is never sent, and counted with those due
// later in the stage, which the wait held back: dropped, the number it returns.
func (r *runner) openLoop(ctx context.Context, st results.Stage, seq *sequence, start time.Time, send sendFunc) (dropped int) {
	rng := rand.New(rand.NewPCG(r.plan.Seed, 0x61727269))
	var sem chan struct{}
	if st.MaxConcurrency > 0 {
		sem = make(chan struct{}, st.MaxConcurrency)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	var offset time.Duration
	interval := float64(time.Second) / st.Rate
	// unsent counts the arrivals due before the stage's end that were not sent because a wait
	// for a place outlasted the stage: the one waiting and those scheduled after it.
	unsent := func(n int) int {
		if st.Duration <= 0 || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0 // an interrupt, not the stage's end: nothing was due unsent
		}
		count := 0
		for off := offset; off < time.Duration(st.Duration) && (st.Requests == 0 || n < st.Requests); n++ {
			count++
			gap := interval
			if st.Arrival == results.ArrivalPoisson {
				gap = rng.ExpFloat64() * interval
			}
			off += time.Duration(gap)
		}
		return count
	}
	for n := 0; st.Requests == 0 || n < st.Requests; n++ {
		if n > 0 {
			gap := interval
			if st.Arrival == results.ArrivalPoisson {
				gap = rng.ExpFloat64() * interval
			}
			offset += time.Duration(gap)
		}
		if st.Duration > 0 && offset >= time.Duration(st.Duration) {
			return 0
		}
		intended := start.Add(offset)
		if !waitUntil(ctx, timer, intended) {
			if sem != nil && time.Now().After(intended) {
				return unsent(n) // held back by a wait for a place
			}
			return 0
		}
		req, t := seq.next()
		var placed time.Time
		if sem != nil {
			select {
			case sem <- struct{}{}:
			default:
				// Every place is taken: the server has not finished what it was sent.
				select {
				case sem <- struct{}{}:
					placed = time.Now()
				case <-ctx.Done():
					return unsent(n)
				}
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if sem != nil {
				defer func() { <-sem }()
			}
			send(0, n, intended, placed, req, t)
		}()
	}
	return 0
}

// coarseWaitSlack is how late a runtime timer may fire: up to a millisecond on Linux, plus a
// margin. Waits longer than this run on a timer (which ctx can interrupt) up to this much
// before the intended time; the rest is slept precisely.
const coarseWaitSlack = 2 * time.Millisecond

// waitUntil waits until t, or until ctx ends (false).
func waitUntil(ctx context.Context, timer *time.Timer, t time.Time) bool {
	for {
		wait := time.Until(t)
		switch {
		case wait <= 0:
			return ctx.Err() == nil
		case wait > coarseWaitSlack:
			timer.Reset(wait - coarseWaitSlack)
			select {
			case <-ctx.Done():
				return false
			case <-timer.C:
			}
		default:
			if ctx.Err() != nil {
				return false
			}
			clock.Sleep(wait)
		}
	}
}

// Records reach the collector in batches: handing each one over would wake the collector's
// goroutine for every request, which at tens of thousands of requests a second costs the client
// more CPU than the collector's own work. A batch goes when it is full or when the last one
// went flushEvery ago (by the records' end times), so records of slow requests are not held.
const (
	batchSize  = 64
	flushEvery = 20 * time.Millisecond
)

// recordBatch gathers the records of one stage for the collector.
type recordBatch struct {
	out  chan<- []*api.Record
	mu   sync.Mutex
	recs []*api.Record
	last time.Time // when the previous batch went (by its last record's end)
}

func (b *recordBatch) add(rec *api.Record) {
	end := rec.Sent.Add(rec.Done)
	b.mu.Lock()
	if b.recs == nil {
		b.recs = make([]*api.Record, 0, batchSize)
	}
	b.recs = append(b.recs, rec)
	var full []*api.Record
	if len(b.recs) >= batchSize || end.Sub(b.last) >= flushEvery {
		full, b.recs, b.last = b.recs, nil, end
	}
	b.mu.Unlock()
	if full != nil {
		b.out <- full
	}
}

// flush hands over what is left; the stage calls it once every request has ended.
func (b *recordBatch) flush() {
	b.mu.Lock()
	full := b.recs
	b.recs = nil
	b.mu.Unlock()
	if len(full) > 0 {
		b.out <- full
	}
}

// collector owns every histogram: batches of records arrive on one channel and only its
// goroutine touches the metrics.
type collector struct {
	stages   []*stageMetrics
	runStart time.Time
	out      *bufio.Writer
	enc      *json.Encoder // for a line AppendJSON cannot write
	line     []byte
	err      error
	warmup   []*api.Record
}

func newCollector(w *Workload, runStart time.Time, out io.Writer, goodput *GoodputSLO) *collector {
	c := &collector{runStart: runStart}
	classes := map[string]bool{}
	for _, t := range w.Plan.Mix {
		classes[t.Name] = true
	}
	for range w.Plan.Stages {
		c.stages = append(c.stages, newStageMetrics(len(classes) > 1, goodput))
	}
	if out != nil {
		c.out = bufio.NewWriterSize(out, 64*1024)
		c.enc = json.NewEncoder(c.out)
	}
	return c
}

// write appends one record to the records file.
func (c *collector) write(rec *api.Record) error {
	var l RecordLine
	var server [4]float64
	l.fill(rec, c.runStart, &server)
	var ok bool
	if c.line, ok = l.AppendJSON(c.line[:0]); ok {
		_, err := c.out.Write(c.line)
		return err
	}
	return c.enc.Encode(NewRecordLine(rec, c.runStart))
}

// loop folds every batch in. The records file is flushed after each batch (at most 64
// records or 20 ms of them, see recordBatch): a run killed outright (kill -9, out of memory)
// still leaves what was measured until a moment before.
func (c *collector) loop(records <-chan []*api.Record) {
	for batch := range records {
		for _, rec := range batch {
			c.stages[rec.Stage].add(rec, c.runStart)
			if c.out != nil && c.err == nil {
				c.err = c.write(rec)
			}
		}
		if c.out != nil && c.err == nil {
			c.err = c.out.Flush()
		}
	}
}

// baseline calibrates the fixed per-request overhead inside Ollama's residual: the median
// residual of the first closed-loop stage at concurrency 1, else the smallest residual among
// the warm-up requests (the best guess at a request that did not wait).
func (c *collector) baseline(stages []results.Stage) *results.Baseline {
	for i, st := range stages {
		if st.OpenLoop() || st.Concurrency != 1 {
			continue
		}
		h := c.stages[i].hists[histResidual]
		if h.TotalCount() > 0 {
			return &results.Baseline{ResidualMs: float64(h.ValueAtQuantile(50)) / 1000, Source: "stage " + st.Name, Samples: int(h.TotalCount())}
		}
	}
	var res []time.Duration
	for _, r := range c.warmup {
		if r.OK() && r.Server != nil && r.Server.Total > 0 {
			res = append(res, max(0, r.Server.Residual()))
		}
	}
	if len(res) == 0 {
		return nil
	}
	sort.Slice(res, func(i, j int) bool { return res[i] < res[j] })
	return &results.Baseline{ResidualMs: results.Round3(float64(res[0]) / 1e6), Source: "warmup", Samples: len(res)}
}

// usage is the process's CPU time and GC pause total at one moment.
type usage struct {
	cpu time.Duration
	gc  time.Duration
}

func readUsage() usage {
	var u usage
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	var gc debug.GCStats
	debug.ReadGCStats(&gc)
	u.gc = gc.PauseTotal
	return u
}

func (u usage) since(before usage) usage {
	return usage{cpu: u.cpu - before.cpu, gc: u.gc - before.gc}
}

// Overload thresholds: past these, the client itself may have added latency.
const (
	overloadSendLagMs = 10
	overloadCPUPct    = 80
)

// minCPUJudgeWall is the shortest stage whose CPU share says anything: over a few
// milliseconds, process start-up and one GC cycle look like a saturated core.
const minCPUJudgeWall = 500 * time.Millisecond

func clientCheck(res *results.StageResult, u usage, wall time.Duration, serverInProcess bool) results.ClientCheck {
	c := results.ClientCheck{GCPauseMs: results.Round3(float64(u.gc) / 1e6)}
	if wall > 0 {
		c.CPUPct = results.Round3(100 * u.cpu.Seconds() / wall.Seconds())
	}
	if s, ok := res.LatencyMs[results.MetricSendLag]; ok {
		c.SendLagP99Ms = s.P99
	}
	switch n := res.Requests.Errors[results.ClassClientLimit]; {
	case n > 0:
		// Requests the client could not send measure nothing of the server.
		c.Overloaded = true
		c.Reason = fmt.Sprintf("%d failed in the client itself (%s: out of file descriptors or local ports)", n, results.ClassClientLimit)
	case c.SendLagP99Ms > overloadSendLagMs:
		c.Overloaded = true
		c.Reason = fmt.Sprintf("send lag p99 %.1f ms > %d ms", c.SendLagP99Ms, overloadSendLagMs)
	case !serverInProcess && c.CPUPct > overloadCPUPct && wall >= minCPUJudgeWall:
		// A client busy for most of a core starts to delay reads and sends: its timestamps
		// then measure its own scheduling as much as the server.
		c.Overloaded = true
		c.Reason = fmt.Sprintf("client CPU %.0f%% of a core > %d%%", c.CPUPct, overloadCPUPct)
	}
	return c
}

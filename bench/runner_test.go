package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
)

// fakeServer is a Doer with one slot per `slots`: a request holds a slot for `service`, so
// queueing is real and measurable without a network.
type fakeServer struct {
	slots    chan struct{}
	service  time.Duration
	tokens   int
	fail     func(n int64) api.Class // optional: class for the n-th request
	n        atomic.Int64
	inFlight atomic.Int64
	peak     atomic.Int64
	mu       sync.Mutex
	prompts  []string
}

func newFake(slots int, service time.Duration) *fakeServer {
	return &fakeServer{slots: make(chan struct{}, slots), service: service, tokens: 10}
}

func (f *fakeServer) Do(ctx context.Context, req *api.Request) *api.Record {
	n := f.n.Add(1)
	f.mu.Lock()
	f.prompts = append(f.prompts, req.Prompt)
	f.mu.Unlock()
	in := f.inFlight.Add(1)
	for {
		p := f.peak.Load()
		if in <= p || f.peak.CompareAndSwap(p, in) {
			break
		}
	}
	defer f.inFlight.Add(-1)
	rec := &api.Record{API: req.API, Model: req.Model, Stream: req.Stream, Sent: time.Now()}
	if f.fail != nil {
		if c := f.fail(n); c != api.ClassOK {
			rec.Class, rec.Error, rec.Done = c, "injected "+string(c), time.Since(rec.Sent)
			return rec
		}
	}
	select {
	case f.slots <- struct{}{}:
	case <-ctx.Done():
		rec.Class, rec.Done = api.ClassCancelled, time.Since(rec.Sent)
		return rec
	}
	queued := time.Since(rec.Sent)
	select {
	case <-time.After(f.service):
	case <-ctx.Done():
		<-f.slots
		rec.Class, rec.Done = api.ClassCancelled, time.Since(rec.Sent)
		return rec
	}
	<-f.slots
	rec.Done = time.Since(rec.Sent)
	rec.FirstToken = queued + f.service/10
	for i := 0; i < f.tokens; i++ {
		rec.TokenTimes = append(rec.TokenTimes, rec.FirstToken+time.Duration(i)*(rec.Done-rec.FirstToken)/time.Duration(f.tokens))
	}
	rec.Class = api.ClassOK
	rec.OutputTokens, rec.TokensFromServer = f.tokens, true
	// Shaped like Ollama: slot wait only in total; 1 ms of fixed overhead.
	over := time.Millisecond
	rec.Server = &api.ServerTimings{Total: rec.Done, Load: 0, PromptEval: f.service / 10, Eval: f.service*9/10 - over, EvalCount: f.tokens}
	return rec
}

// prepared is a one-template plan of these stages, ready to run.
func prepared(t *testing.T, stages ...results.Stage) *Workload {
	t.Helper()
	w, err := Prepare(&results.Plan{Stages: stages, Mix: []*results.Template{{Model: "m", Stream: true, MaxTokens: 10}}, Seed: 7}, "")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestClosedLoopCountsAndConcurrency(t *testing.T) {
	f := newFake(100, 5*time.Millisecond)
	w := prepared(t, results.Stage{Concurrency: 1, Requests: 6}, results.Stage{Concurrency: 4, Requests: 20})
	var buf bytes.Buffer
	run, err := RunPlan(context.Background(), w, f, Options{Records: &buf})
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Stages) != 2 {
		t.Fatalf("stages = %d", len(run.Stages))
	}
	if got := run.Stages[0].Requests.Total; got != 6 {
		t.Errorf("stage 0 total = %d, want 6", got)
	}
	if got := run.Stages[1].Requests.OK; got != 20 {
		t.Errorf("stage 1 ok = %d, want 20", got)
	}
	if p := f.peak.Load(); p != 4 {
		t.Errorf("peak in flight = %d, want 4 (the stage's concurrency)", p)
	}
	if got := run.Stages[1].OutputTokens; got != 200 {
		t.Errorf("output tokens = %d, want 200", got)
	}
	// Four workers on a server with room for all of them: about 4x the requests/s.
	if s := run.Stages[1].Speedup; s < 2 {
		t.Errorf("speed-up of c=4 over c=1 = %.2f, want > 2", s)
	}
	if ep := run.Stages[1].EffectiveParallelism; ep < 2 || ep > 4.5 {
		t.Errorf("effective parallelism = %.2f, want about 4", ep)
	}
	lines := 0
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var l RecordLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("records line %d: %v", lines+1, err)
		}
		lines++
	}
	if lines != 26 {
		t.Errorf("records lines = %d, want 26", lines)
	}
}

func TestQueueWaitAtOneSlot(t *testing.T) {
	// One slot, two workers: every request waits about one service time for the other.
	service := 20 * time.Millisecond
	f := newFake(1, service)
	w := prepared(t, results.Stage{Concurrency: 1, Requests: 4}, results.Stage{Concurrency: 2, Requests: 10})
	run, err := RunPlan(context.Background(), w, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if run.Baseline == nil || run.Baseline.Source != "stage c=1" {
		t.Fatalf("baseline = %+v, want calibrated from stage c=1", run.Baseline)
	}
	seq, par := run.Stages[0], run.Stages[1]
	ratio := par.LatencyMs[results.MetricE2E].P50 / seq.LatencyMs[results.MetricE2E].P50
	if ratio < 1.5 || ratio > 3 {
		t.Errorf("E2E p50 ratio c=2/c=1 = %.2f, want about 2", ratio)
	}
	qw := par.Decomposition.QueueWait
	if qw < 0.5*float64(service.Milliseconds()) || qw > 2*float64(service.Milliseconds()) {
		t.Errorf("mean queue wait = %.1f ms, want about %v", qw, service)
	}
	if sqw := seq.Decomposition.QueueWait; sqw > 0.25*qw {
		t.Errorf("queue wait at c=1 = %.1f ms, want near zero (c=2 had %.1f)", sqw, qw)
	}
	if _, ok := par.LatencyMs[results.MetricQueueWait]; !ok {
		t.Error("no queue_wait summary")
	}
	// The raw first-token wait is kept as a histogram (report --merge recomputes from it) and
	// the summary is it less the baseline.
	if raw, err := results.DecodeHistogram(par.Histograms[results.MetricFirstTokenWaitRaw]); err != nil {
		t.Errorf("first_token_wait_raw histogram: %v", err)
	} else if got, want := par.LatencyMs[results.MetricFirstTokenWait], results.SummarizeHistogram(raw).Shift(run.Baseline.ResidualMs); got != want || got.N != 10 {
		t.Errorf("first_token_wait = %+v, want %+v (raw histogram less the baseline), n 10", got, want)
	}
	if par.Speedup > 1.3 {
		t.Errorf("speed-up with one slot = %.2f, want about 1", par.Speedup)
	}
}

func TestOpenLoopMeasuresFromIntendedTime(t *testing.T) {
	// A server with one slot and 30 ms service, offered 100 req/s: requests queue, and the
	// latency must include that queueing even though each is sent on time.
	f := newFake(1, 30*time.Millisecond)
	w := prepared(t, results.Stage{Rate: 100, Requests: 12})
	run, err := RunPlan(context.Background(), w, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := run.Stages[0]
	if st.Requests.Total != 12 {
		t.Fatalf("total = %d", st.Requests.Total)
	}
	// The last request waits for ~11 others: ~330 ms; service-only latency would be 30 ms.
	if st.LatencyMs[results.MetricE2E].Max < 5*30 {
		t.Errorf("max E2E = %.1f ms: queueing behind earlier requests not counted", st.LatencyMs[results.MetricE2E].Max)
	}
	// Sends kept pace: the pacer does not wait for responses.
	if f.peak.Load() < 5 {
		t.Errorf("peak in flight = %d: the open loop waited for responses", f.peak.Load())
	}
}

// A capped open loop: an arrival that finds every place taken waits for one. The wait counts in
// its latency (E2E runs from the schedule) and is the server's saturation (cap_wait, and the
// arrivals delayed), not the client's send lag, so the self-check does not blame the client.
func TestOpenLoopMaxConcurrencyWaitCounts(t *testing.T) {
	f := newFake(100, 30*time.Millisecond)
	w := prepared(t, results.Stage{Rate: 200, Requests: 10, MaxConcurrency: 1})
	var recs bytes.Buffer
	run, err := RunPlan(context.Background(), w, f, Options{Records: &recs})
	if err != nil {
		t.Fatal(err)
	}
	if f.peak.Load() != 1 {
		t.Errorf("peak in flight = %d, want 1", f.peak.Load())
	}
	st := run.Stages[0]
	if wait := st.LatencyMs[results.MetricCapWait]; wait.Max < 100 || wait.N < 8 {
		t.Errorf("cap wait %+v: waiting for the concurrency cap must show as cap_wait", wait)
	}
	if sat := st.Saturation; sat == nil || sat.Arrivals != 10 || sat.Delayed < 8 || sat.Dropped != 0 {
		t.Errorf("saturation %+v, want 10 arrivals, most delayed, none dropped", sat)
	}
	if lag := st.LatencyMs[results.MetricSendLag].P99; lag > 25 {
		t.Errorf("send lag p99 %.1f ms (%s): the server's saturation was counted as the client's lag", lag, st.Client.Reason)
	}
	if st.LatencyMs[results.MetricE2E].Max < st.LatencyMs[results.MetricService].Max*2 {
		t.Errorf("E2E max %.1f not above service max %.1f: cap wait not counted", st.LatencyMs[results.MetricE2E].Max, st.LatencyMs[results.MetricService].Max)
	}
	if !strings.Contains(recs.String(), `"cap_wait_ms":`) {
		t.Errorf("records carry no cap_wait_ms:\n%s", recs.String())
	}
}

// A capped open loop bounded by time: the arrivals due before its end that never found a place
// are counted as dropped, so that sent + dropped is every arrival due.
func TestOpenLoopCountsDroppedArrivals(t *testing.T) {
	f := newFake(100, 60*time.Millisecond)
	w := prepared(t, results.Stage{Rate: 100, Duration: results.Duration(200 * time.Millisecond), MaxConcurrency: 1})
	run, err := RunPlan(context.Background(), w, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := run.Stages[0]
	sat := st.Saturation
	if sat == nil || sat.Arrivals != 20 || sat.Dropped < 10 || sat.Arrivals != st.Requests.Total+sat.Dropped {
		t.Fatalf("saturation %+v with %d sent, want 20 arrivals = sent + dropped, most dropped", sat, st.Requests.Total)
	}
	if lag := st.LatencyMs[results.MetricSendLag].P99; lag > 25 {
		t.Errorf("send lag p99 %.1f ms: the server's saturation was counted as the client's lag", lag)
	}
	// Uncapped, nothing is held back and no saturation is counted.
	run, err = RunPlan(context.Background(), prepared(t, results.Stage{Rate: 100, Duration: results.Duration(100 * time.Millisecond)}), newFake(100, time.Millisecond), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if run.Stages[0].Saturation != nil {
		t.Errorf("uncapped stage has saturation %+v", run.Stages[0].Saturation)
	}
}

func TestPoissonArrivalsAreSeededAndAverageTheRate(t *testing.T) {
	intended := func(seed uint64) []float64 {
		f := newFake(1000, time.Millisecond)
		w := prepared(t, results.Stage{Rate: 400, Arrival: results.ArrivalPoisson, Requests: 80})
		w.Plan.Seed = seed
		var buf bytes.Buffer
		if _, err := RunPlan(context.Background(), w, f, Options{Records: &buf}); err != nil {
			t.Fatal(err)
		}
		var out []float64
		sc := bufio.NewScanner(&buf)
		for sc.Scan() {
			var l RecordLine
			_ = json.Unmarshal(sc.Bytes(), &l)
			out = append(out, l.IntendedMs)
		}
		return out
	}
	a := intended(3)
	if len(a) != 80 {
		t.Fatalf("records = %d", len(a))
	}
	maxT := 0.0
	for _, v := range a {
		maxT = math.Max(maxT, v)
	}
	// 79 gaps of mean 2.5 ms ≈ 200 ms; Poisson spread is wide, the bounds generous.
	if maxT < 80 || maxT > 500 {
		t.Errorf("last intended send at %.1f ms, want about 200", maxT)
	}
}

func TestDurationBoundStageAndErrorsCounted(t *testing.T) {
	f := newFake(100, 2*time.Millisecond)
	f.fail = func(n int64) api.Class {
		if n%5 == 0 {
			return api.ClassBusy
		}
		return api.ClassOK
	}
	w := prepared(t, results.Stage{Concurrency: 2, Duration: results.Duration(150 * time.Millisecond)})
	run, err := RunPlan(context.Background(), w, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := run.Stages[0]
	if st.Requests.Total < 10 {
		t.Fatalf("total = %d: a 150 ms stage of 2 ms requests should send many", st.Requests.Total)
	}
	busy := st.Requests.Errors[string(api.ClassBusy)]
	if busy == 0 || busy+st.Requests.OK != st.Requests.Total {
		t.Errorf("errors = %v ok = %d total = %d", st.Requests.Errors, st.Requests.OK, st.Requests.Total)
	}
	if st.Requests.ErrorSamples[string(api.ClassBusy)] != "injected http_503" {
		t.Errorf("error sample = %q", st.Requests.ErrorSamples[string(api.ClassBusy)])
	}
	if st.WallS < 0.1 || st.WallS > 1.5 {
		t.Errorf("wall = %.3f s for a 150 ms stage", st.WallS)
	}
}

func TestInterruptKeepsWhatWasMeasured(t *testing.T) {
	f := newFake(2, 20*time.Millisecond)
	w := prepared(t, results.Stage{Concurrency: 2, Requests: 1000}, results.Stage{Concurrency: 4, Requests: 10})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(120*time.Millisecond, cancel)
	run, err := RunPlan(ctx, w, f, Options{Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !run.Interrupted {
		t.Error("run not marked interrupted")
	}
	if len(run.Stages) != 1 {
		t.Fatalf("stages = %d, want the one that was running", len(run.Stages))
	}
	st := run.Stages[0]
	if st.Requests.Total == 0 || st.Requests.Total >= 1000 {
		t.Errorf("total = %d", st.Requests.Total)
	}
	// With a grace period, requests in flight finish instead of being cancelled.
	if c := st.Requests.Errors[string(api.ClassCancelled)]; c != 0 {
		t.Errorf("%d requests cancelled despite the grace period", c)
	}
}

func TestInterruptWithoutGraceCancelsInFlight(t *testing.T) {
	f := newFake(1, time.Second)
	w := prepared(t, results.Stage{Concurrency: 3, Requests: 3})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	run, err := RunPlan(ctx, w, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 900*time.Millisecond {
		t.Errorf("run took %v after cancel: in-flight requests were not cancelled", time.Since(start))
	}
	if c := run.Stages[0].Requests.Errors[string(api.ClassCancelled)]; c != 3 {
		t.Errorf("cancelled = %d, want 3", c)
	}
}

func TestStagesGetTheSameSeededRequests(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.jsonl"), "\"a\"\n{\"prompt\":\"b\"}\n\"c\"\n\"d\"\n")
	p := &results.Plan{
		Stages: []results.Stage{{Concurrency: 1, Requests: 12}, {Concurrency: 1, Requests: 12}},
		Mix:    []*results.Template{{Model: "m", PromptFile: "p.jsonl"}},
		Seed:   11,
	}
	w, err := Prepare(p, dir)
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(1, 0)
	if _, err := RunPlan(context.Background(), w, f, Options{}); err != nil {
		t.Fatal(err)
	}
	first, second := f.prompts[:12], f.prompts[12:]
	distinct := map[string]bool{}
	for i := range first {
		distinct[first[i]] = true
		if first[i] != second[i] {
			t.Fatalf("request %d: stage 1 sent %q, stage 2 sent %q", i, first[i], second[i])
		}
	}
	if len(distinct) < 2 {
		t.Errorf("prompts not drawn from the file: %v", first)
	}
}

func TestWeightedMixAndPerModelResults(t *testing.T) {
	p := &results.Plan{
		Stages: []results.Stage{{Concurrency: 4, Requests: 400}},
		Mix:    []*results.Template{{Model: "big", Weight: 3}, {Model: "small", Weight: 1}},
		Seed:   1,
	}
	w, err := Prepare(p, "")
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(100, 0)
	run, err := RunPlan(context.Background(), w, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	bm := run.Stages[0].ByModel
	if bm == nil {
		t.Fatal("no per-model results for a two-model mix")
	}
	big, small := bm["big"].Requests.Total, bm["small"].Requests.Total
	if big+small != 400 || big < 2*small {
		t.Errorf("big = %d, small = %d: want about 3:1", big, small)
	}
}

func TestWarmupExcludedFromStages(t *testing.T) {
	f := newFake(10, time.Millisecond)
	w := prepared(t, results.Stage{Concurrency: 1, Requests: 3})
	w.Plan.Warmup = 2
	run, err := RunPlan(context.Background(), w, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if run.Warmup == nil || run.Warmup.Requests != 2 || run.Warmup.OK != 2 {
		t.Errorf("warmup = %+v", run.Warmup)
	}
	if got := run.Stages[0].Requests.Total; got != 3 {
		t.Errorf("stage total = %d, want 3 (warm-up excluded)", got)
	}
	if f.n.Load() != 5 {
		t.Errorf("requests sent = %d, want 5", f.n.Load())
	}
}

// warmupDoer keeps the warm-up's requests (the run's first ones) and answers every request at once.
type warmupDoer struct {
	mu   sync.Mutex
	reqs []*api.Request
}

func (d *warmupDoer) Do(_ context.Context, req *api.Request) *api.Record {
	d.mu.Lock()
	d.reqs = append(d.reqs, req)
	d.mu.Unlock()
	return &api.Record{API: req.API, Model: req.Model, Sent: time.Now(), Class: api.ClassOK}
}

// Each model's warm-up sends that model's own request: in a mix of a prompt and a body file,
// the prompt model's warm-up must not send the other model's body (which would load the other
// model and leave this one's load in the first measured stage).
func TestWarmupSendsEachModelsOwnRequest(t *testing.T) {
	dir := t.TempDir()
	body := `{"model":"b","prompt":"from the body","stream":true}`
	if err := os.WriteFile(filepath.Join(dir, "b.json"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	for seed := uint64(1); seed <= 8; seed++ {
		p := &results.Plan{Seed: seed, Warmup: 2, Stages: []results.Stage{{Concurrency: 1, Requests: 1}},
			Mix: []*results.Template{{Model: "a", Prompt: "from the flag", Stream: true}, {BodyFile: "b.json"}}}
		w, err := Prepare(p, dir)
		if err != nil {
			t.Fatal(err)
		}
		d := &warmupDoer{}
		if _, err := RunPlan(context.Background(), w, d, Options{}); err != nil {
			t.Fatal(err)
		}
		perModel := map[string]int{}
		for _, req := range d.reqs[:4] { // the warm-up: two per model
			perModel[req.Model]++
			switch req.Model {
			case "a":
				if req.RawBody != nil || req.Prompt != "from the flag" {
					t.Errorf("seed %d: model a's warm-up sends body %s, prompt %q", seed, req.RawBody, req.Prompt)
				}
			case "b":
				if string(req.RawBody) != body {
					t.Errorf("seed %d: model b's warm-up sends body %s, prompt %q", seed, req.RawBody, req.Prompt)
				}
			}
		}
		if perModel["a"] != 2 || perModel["b"] != 2 {
			t.Errorf("seed %d: warm-up requests per model %v, want 2 each", seed, perModel)
		}
	}
}

// Records go to the collector in batches of batchSize, but a record of a slow request is not
// held back for requests that may be minutes away.
func TestRecordBatch(t *testing.T) {
	out := make(chan []*api.Record, 1000)
	start := time.Now()
	b := &recordBatch{out: out, last: start}
	at := func(d time.Duration) *api.Record { return &api.Record{Sent: start, Done: d} }
	for i := range 2*batchSize + 3 {
		b.add(at(time.Duration(i) * time.Microsecond)) // fast: all within flushEvery
	}
	if len(out) != 2 {
		t.Fatalf("%d batches after %d fast records, want 2 full ones", len(out), 2*batchSize+3)
	}
	for range 2 {
		if n := len(<-out); n != batchSize {
			t.Errorf("batch of %d, want %d", n, batchSize)
		}
	}
	b.add(at(flushEvery + time.Millisecond)) // a slow one: goes at once, with the 3 waiting
	if len(out) != 1 || len(<-out) != 4 {
		t.Fatal("a record flushEvery after the last batch was held back")
	}
	b.add(at(flushEvery + 2*time.Millisecond))
	if len(out) != 0 {
		t.Fatal("a record right after a batch went alone")
	}
	b.flush()
	if len(out) != 1 || len(<-out) != 1 {
		t.Fatal("flush did not hand over the last record")
	}
	b.flush()
	if len(out) != 0 {
		t.Fatal("an empty flush sent a batch")
	}
}

// A speed-up compares like with like: closed-loop stages with the first closed-loop stage, an
// open loop (whose throughput follows its schedule) with the first open loop.
func TestSpeedupComparesStagesOfOneKind(t *testing.T) {
	f := newFake(100, 10*time.Millisecond)
	w := prepared(t, results.Stage{Concurrency: 1, Requests: 4}, results.Stage{Rate: 200, Requests: 8},
		results.Stage{Concurrency: 4, Requests: 8}, results.Stage{Rate: 400, Requests: 8})
	run, err := RunPlan(context.Background(), w, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := run.Stages
	if st[0].Speedup != 0 || st[1].Speedup != 0 {
		t.Errorf("the first stage of each kind has speed-ups %v and %v, want none", st[0].Speedup, st[1].Speedup)
	}
	if want := results.Round3(st[2].Throughput.RequestsPerS / st[0].Throughput.RequestsPerS); st[2].Speedup != want {
		t.Errorf("c=4: speed-up %v, want %v (against c=1)", st[2].Speedup, want)
	}
	if want := results.Round3(st[3].Throughput.RequestsPerS / st[1].Throughput.RequestsPerS); st[3].Speedup != want {
		t.Errorf("rate=400: speed-up %v, want %v (against rate=200)", st[3].Speedup, want)
	}
}

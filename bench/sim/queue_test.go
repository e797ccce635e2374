package sim

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Tests that assert timing ratios do not call t.Parallel: Go runs them one at a time before the
// parallel tests, so the load of other tests does not skew what they measure.

// concurrent sends n copies of a request at once and returns the outcomes in send order.
func concurrent(ctx context.Context, base string, bodies []map[string]any) []outcome {
	out := make([]outcome, len(bodies))
	var wg sync.WaitGroup
	for i, b := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = do(ctx, base, "/api/generate", b, nil)
		}()
		// Stagger a little so that arrival order, and so queue position, is known.
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	return out
}

func wall(os []outcome) time.Duration {
	start, end := os[0].start, os[0].end
	for _, o := range os {
		if o.start.Before(start) {
			start = o.start
		}
		if o.end.After(end) {
			end = o.end
		}
	}
	return end.Sub(start)
}

func mustOK(t *testing.T, os ...outcome) {
	t.Helper()
	for i, o := range os {
		if o.err != nil || o.status != http.StatusOK || o.readErr != nil {
			t.Fatalf("request %d: err=%v status=%d readErr=%v body=%.200s", i, o.err, o.status, o.readErr, o.body)
		}
	}
}

// The course: at NUM_PARALLEL=1 two requests sent together finish one after the other, and the
// second one's wait shows only in its residual total − load − prompt_eval − eval.
func TestOneSlotSerializes(t *testing.T) {
	srv, ts := startServer(t, Config{NumParallel: 1, Speed: 10, Models: []Profile{testProfile("m")}})
	ctx := context.Background()
	if err := srv.Preload(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	body := generate("m", map[string]any{"options": map[string]any{"num_predict": 30}})
	one := do(ctx, ts.URL, "/api/generate", body, nil)
	mustOK(t, one)
	two := concurrent(ctx, ts.URL, []map[string]any{body, body})
	mustOK(t, two...)

	within(t, "wall(2 concurrent) / e2e(1)", wall(two).Seconds()/one.e2e().Seconds(), 1.6, 2.8)
	first, second := two[0].final(t), two[1].final(t)
	service := first.total() - first.load()
	within(t, "second residual / first service time", second.residual().Seconds()/service.Seconds(), 0.75, 1.35)
	// The first one did not wait: its residual is small next to the second one's.
	if first.residual()*3 > second.residual() {
		t.Errorf("first residual %v not well below second residual %v", first.residual(), second.residual())
	}
	// The slot wait is not in load_duration (the model was warm).
	if second.load() > service/2 {
		t.Errorf("second load_duration %v holds the slot wait (service %v)", second.load(), service)
	}
	// Every duration is consistent with the client's clock.
	for i, o := range append(two, one) {
		f := o.final(t)
		within(t, "total_duration / client e2e", f.total().Seconds()/o.e2e().Seconds(), 0.6, 1.0001)
		if f.EvalCount != 30 || f.DoneReason != "length" {
			t.Errorf("request %d: eval_count=%d done_reason=%q, want 30 length", i, f.EvalCount, f.DoneReason)
		}
	}
}

// At NUM_PARALLEL=4 four requests share batch steps: the wall time is well under 2× one
// request's, while each request's decode rate falls (step(4) = 1.3 × step(1) here).
func TestFourSlotsBatch(t *testing.T) {
	srv, ts := startServer(t, Config{NumParallel: 4, Speed: 10, Models: []Profile{testProfile("m")}})
	ctx := context.Background()
	if err := srv.Preload(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	body := generate("m", map[string]any{"options": map[string]any{"num_predict": 30}})
	one := do(ctx, ts.URL, "/api/generate", body, nil)
	mustOK(t, one)
	four := concurrent(ctx, ts.URL, []map[string]any{body, body, body, body})
	mustOK(t, four...)
	within(t, "wall(4 concurrent) / e2e(1)", wall(four).Seconds()/one.e2e().Seconds(), 0.9, 1.75)
	rate1 := float64(one.final(t).EvalCount) / time.Duration(one.final(t).EvalDuration).Seconds()
	for _, o := range four {
		f := o.final(t)
		rate := float64(f.EvalCount) / time.Duration(f.EvalDuration).Seconds()
		within(t, "per-request decode rate at 4 / at 1", rate/rate1, 0.5, 0.98)
	}
}

// Requests to two different loaded models run in parallel at NUM_PARALLEL=1.
func TestTwoModelsRunInParallel(t *testing.T) {
	srv, ts := startServer(t, Config{NumParallel: 1, Speed: 10, Models: []Profile{testProfile("a"), testProfile("b")}})
	ctx := context.Background()
	for _, m := range []string{"a", "b"} {
		if err := srv.Preload(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	opts := map[string]any{"options": map[string]any{"num_predict": 30}}
	one := do(ctx, ts.URL, "/api/generate", generate("a", opts), nil)
	mustOK(t, one)
	both := concurrent(ctx, ts.URL, []map[string]any{generate("a", opts), generate("b", opts)})
	mustOK(t, both...)
	within(t, "wall(a ∥ b) / e2e(1)", wall(both).Seconds()/one.e2e().Seconds(), 0.8, 1.5)
}

// A warm model's slot queue is unbounded: no 503 however many wait. A cold model's requests
// go through the pending queue of MAX_QUEUE: the overflow gets 503 while it loads.
func TestQueueFullOnlyWhileLoading(t *testing.T) {
	t.Parallel()
	p := testProfile("m")
	// 3 s at Speed 10: time to fill the queue. 500 ms was not always enough under -race on two
	// busy cores: the 9 requests then all came after the load, and none was refused.
	p.LoadTime = 30 * time.Second
	srv, ts := startServer(t, Config{NumParallel: 1, MaxQueue: 2, Speed: 10, Models: []Profile{p}})
	ctx := context.Background()
	body := generate("m", map[string]any{"options": map[string]any{"num_predict": 2}})

	firstDone := make(chan outcome, 1)
	go func() { firstDone <- do(ctx, ts.URL, "/api/generate", body, nil) }()
	eventually(t, "the model to start loading", func() bool {
		st := srv.Stats()
		return len(st.Models) == 1 && st.Models[0].State == "loading"
	})
	rest := make([]outcome, 9)
	var wg sync.WaitGroup
	for i := range rest {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rest[i] = do(ctx, ts.URL, "/api/generate", body, nil)
		}()
	}
	wg.Wait()
	mustOK(t, <-firstDone)
	busy, ok := 0, 0
	for _, o := range rest {
		switch o.status {
		case http.StatusServiceUnavailable:
			busy++
			if got := string(o.body); got != `{"error":"server busy, please try again.  maximum pending requests exceeded"}` {
				t.Errorf("503 body = %s", got)
			}
		case http.StatusOK:
			ok++
		default:
			t.Errorf("unexpected status %d: %s", o.status, o.body)
		}
	}
	if busy != 7 || ok != 2 {
		t.Errorf("cold model, MAX_QUEUE=2, 1+9 requests: %d ok, %d busy; want 2 ok, 7 busy (as a real Ollama)", ok, busy)
	}

	// Warm now: 20 concurrent requests all queue for the one slot, none is refused.
	warm := make([]map[string]any, 20)
	for i := range warm {
		warm[i] = body
	}
	for i, o := range concurrentNoStagger(ctx, ts.URL, warm) {
		if o.status != http.StatusOK {
			t.Errorf("warm request %d: status %d %s", i, o.status, o.body)
		}
	}
}

func concurrentNoStagger(ctx context.Context, base string, bodies []map[string]any) []outcome {
	out := make([]outcome, len(bodies))
	var wg sync.WaitGroup
	for i, b := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = do(ctx, base, "/api/generate", b, nil)
		}()
	}
	wg.Wait()
	return out
}

// A client that leaves while queued for a slot, or while decoding, frees its place at once.
func TestClientDisconnectFreesSlot(t *testing.T) {
	t.Parallel()
	srv, ts := startServer(t, Config{NumParallel: 1, Speed: 10, Models: []Profile{testProfile("m")}})
	ctx := context.Background()
	if err := srv.Preload(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	long := generate("m", map[string]any{"options": map[string]any{"num_predict": 100000}})

	// A decodes forever; B queues behind it, then gives up.
	aCtx, cancelA := context.WithCancel(ctx)
	aDone := make(chan outcome, 1)
	go func() { aDone <- do(aCtx, ts.URL, "/api/generate", long, nil) }()
	eventually(t, "A decoding", func() bool { st := srv.Stats(); return len(st.Models) == 1 && st.Models[0].Active == 1 })
	bCtx, cancelB := context.WithCancel(ctx)
	bDone := make(chan outcome, 1)
	go func() { bDone <- do(bCtx, ts.URL, "/api/generate", long, nil) }()
	eventually(t, "B queued for the slot", func() bool { return srv.Stats().Models[0].SlotWaiting == 1 })
	cancelB()
	<-bDone
	eventually(t, "B's place in the slot queue freed", func() bool { return srv.Stats().Models[0].SlotWaiting == 0 })

	// A leaves mid-stream: its sequence and slot are freed, so C runs at once.
	cancelA()
	<-aDone
	eventually(t, "A's sequence to leave the batch", func() bool {
		m := srv.Stats().Models[0]
		return m.Active == 0 && m.InUse == 0
	})
	c := do(ctx, ts.URL, "/api/generate", generate("m", map[string]any{"options": map[string]any{"num_predict": 5}}), nil)
	mustOK(t, c)
	if r := c.final(t).residual(); r > 100*time.Millisecond {
		t.Errorf("C waited %v for a slot that should have been free", r)
	}
}

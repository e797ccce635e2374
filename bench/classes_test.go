package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
)

// modelDelay is a Doer whose service time depends on the model: a fast chat model beside a slow
// batch one.
type modelDelay map[string]time.Duration

func (m modelDelay) Do(ctx context.Context, req *api.Request) *api.Record {
	rec := &api.Record{API: req.API, Model: req.Model, Stream: req.Stream, Sent: time.Now()}
	d := m[req.Model]
	time.Sleep(d / 5)
	rec.FirstToken = time.Since(rec.Sent)
	rec.TokenTimes = []time.Duration{rec.FirstToken}
	time.Sleep(d - d/5)
	rec.Done = time.Since(rec.Sent)
	rec.TokenTimes = append(rec.TokenTimes, rec.Done)
	rec.Class, rec.OutputTokens, rec.TokensFromServer = api.ClassOK, 2, true
	return rec
}

func classPlan(t *testing.T) *Workload {
	t.Helper()
	w, err := Prepare(&results.Plan{
		Stages: []results.Stage{{Concurrency: 2, Requests: 40}},
		Mix: []*results.Template{
			{Name: "chat", Model: "small", Stream: true, Weight: 3},
			{Name: "batch", Model: "big", Stream: true, Weight: 1},
		},
		Seed: 3,
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// Per-class figures are what the records say of each class.
func TestClassesAgreeWithRecords(t *testing.T) {
	var buf bytes.Buffer
	run, err := RunPlan(context.Background(), classPlan(t), modelDelay{"small": 2 * time.Millisecond, "big": 12 * time.Millisecond}, Options{Records: &buf})
	if err != nil {
		t.Fatal(err)
	}
	st := run.Stages[0]
	if len(st.Classes) != 2 {
		t.Fatalf("classes %v, want chat and batch", st.Classes)
	}
	e2e := map[string][]float64{}
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var l RecordLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		e2e[l.Template] = append(e2e[l.Template], l.E2EMs)
	}
	total := 0
	for name, c := range st.Classes {
		recs := e2e[name]
		total += c.Requests.Total
		if c.Requests.Total != len(recs) || c.Requests.OK != len(recs) {
			t.Errorf("class %s: %d requests, the records have %d", name, c.Requests.Total, len(recs))
			continue
		}
		slices.Sort(recs)
		got := c.LatencyMs[results.MetricE2E]
		// HDR histograms keep 3 significant figures; the records' own rounding is 1 µs.
		if maxv := recs[len(recs)-1]; math.Abs(got.Max-maxv) > 0.002*maxv+0.002 {
			t.Errorf("class %s: E2E max %.3f ms, the records' %.3f", name, got.Max, maxv)
		}
		if n := int64(len(recs)); got.N != n || c.Histograms[results.MetricE2E] == "" || c.LatencyMs[results.MetricTPOT].N != n {
			t.Errorf("class %s: E2E n %d, TPOT n %d, histogram %q; want %d", name, got.N, c.LatencyMs[results.MetricTPOT].N, c.Histograms[results.MetricE2E], n)
		}
	}
	if total != st.Requests.Total {
		t.Errorf("classes hold %d requests, the stage %d", total, st.Requests.Total)
	}
	if chat, batch := st.Classes["chat"].LatencyMs["e2e"].P50, st.Classes["batch"].LatencyMs["e2e"].P50; chat*3 > batch {
		t.Errorf("chat E2E p50 %.1f ms is not well below batch's %.1f ms", chat, batch)
	}
	// One class: no classes map (the stage is that class).
	run, err = RunPlan(context.Background(), prepared(t, results.Stage{Concurrency: 1, Requests: 2}), newFake(1, time.Millisecond), Options{})
	if err != nil || run.Stages[0].Classes != nil {
		t.Errorf("a one-class mix: classes %v, %v", run.Stages[0].Classes, err)
	}
}

func TestGoodput(t *testing.T) {
	slo, err := ParseGoodput("e2e=7ms,ttft:50ms")
	if err != nil || slo.String() != "ttft<=50ms,e2e<=7ms" {
		t.Fatalf("ParseGoodput: %v %v", slo, err)
	}
	run, err := RunPlan(context.Background(), classPlan(t), modelDelay{"small": 2 * time.Millisecond, "big": 20 * time.Millisecond}, Options{Goodput: slo})
	if err != nil {
		t.Fatal(err)
	}
	st := run.Stages[0]
	chat, batch := st.Classes["chat"].Goodput, st.Classes["batch"].Goodput
	if st.Goodput == nil || chat == nil || batch == nil {
		t.Fatalf("goodput %+v, classes %+v %+v", st.Goodput, chat, batch)
	}
	// The fast class meets a 7 ms bound (nearly always, on a busy machine too); the slow never.
	if batch.Good != 0 || chat.Share < 0.8 || st.Goodput.Good != chat.Good+batch.Good || st.Goodput.Total != 40 {
		t.Errorf("goodput: stage %+v, chat %+v, batch %+v", st.Goodput, chat, batch)
	}
	for _, bad := range []string{"ttft", "ttft=0s", "itl=5ms", "e2e=soon"} {
		if _, err := ParseGoodput(bad); err == nil {
			t.Errorf("ParseGoodput(%q): no error", bad)
		}
	}
}

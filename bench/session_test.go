package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/results"
)

// ollamaStub answers every POST with a short Ollama stream and every GET (discovery) with 404,
// as an OpenAI-only server would.
func ollamaStub(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprintln(w, `{"model":"m","response":"hi","done":false}`)
		fmt.Fprintln(w, `{"model":"m","response":"","done":true,"done_reason":"stop","eval_count":1,"total_duration":1000000}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A session writes the results file after every run, before it shows the run, and describes
// each run: labels, repeat number, the target without credentials, the sender, the host.
func TestSessionWritesEveryRunBeforeShowingIt(t *testing.T) {
	srv := ollamaStub(t)
	path := filepath.Join(t.TempDir(), "out.json")
	labels := map[string]string{"num_parallel": "2"}
	var starts []int
	cfg := SessionConfig{
		URL:          strings.Replace(srv.URL, "http://", "http://u:pw@", 1),
		Workload:     prepared(t, results.Stage{Concurrency: 1, Requests: 2}),
		Repeat:       3,
		Labels:       labels,
		Output:       NewResultsFile(path, results.Tool{Name: "llmload", Version: "test"}),
		MaxErrorRate: 0,
		Hooks: SessionHooks{
			RunStarting: func(rep int, live *Live) { starts = append(starts, rep) },
			RunEnded: func(run *results.Run) error {
				f, err := results.ReadFile(path)
				if err != nil || len(f.Runs) != run.Repeat {
					t.Errorf("run %d shown before it was written: file %v", run.Repeat, err)
				}
				return nil
			},
		},
	}
	runs, err := RunSession(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || fmt.Sprint(starts) != "[1 2 3]" {
		t.Fatalf("%d runs, starts %v", len(runs), starts)
	}
	labels["num_parallel"] = "changed later"
	for i, run := range runs {
		tg := run.Target
		if run.Repeat != i+1 || run.Labels["num_parallel"] != "2" || tg.URL != srv.URL || tg.Sender != "net/http" ||
			!strings.Contains(tg.SenderReason, "credentials") || run.Host.OS == "" || run.Stages[0].Requests.OK != 2 {
			t.Errorf("run %d: repeat %d labels %v target %+v host %+v", i, run.Repeat, run.Labels, tg, run.Host)
		}
	}
}

// An interrupt between runs ends the session with ErrInterrupted; what was measured is in the
// results file.
func TestSessionInterruptedKeepsWhatWasMeasured(t *testing.T) {
	srv := ollamaStub(t)
	path := filepath.Join(t.TempDir(), "out.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runs, err := RunSession(ctx, SessionConfig{
		URL:      srv.URL,
		Workload: prepared(t, results.Stage{Concurrency: 1, Requests: 2}),
		Repeat:   3,
		Output:   NewResultsFile(path, results.Tool{Name: "llmload"}),
		Hooks:    SessionHooks{RunEnded: func(*results.Run) error { cancel(); return nil }},
	})
	if !errors.Is(err, ErrInterrupted) || len(runs) != 1 {
		t.Fatalf("%d runs, err %v; want 1 and ErrInterrupted", len(runs), err)
	}
	if f, err := results.ReadFile(path); err != nil || len(f.Runs) != 1 {
		t.Errorf("results file: %v", err)
	}
}

// The one verdict on failed requests: none measured fails, and so does a rate above the
// allowed one.
func TestJudgeErrorRate(t *testing.T) {
	run := func(total, ok int) *results.Run {
		return &results.Run{Stages: []*results.StageResult{{Requests: results.Counts{Total: total, OK: ok}}}}
	}
	for _, tt := range []struct {
		runs []*results.Run
		max  float64
		fail bool
	}{
		{nil, 0.05, true},
		{[]*results.Run{run(0, 0)}, 1, true},
		{[]*results.Run{run(20, 19)}, 0.05, false},
		{[]*results.Run{run(20, 18)}, 0.05, true},
		{[]*results.Run{run(10, 10), run(10, 8)}, 0.1, false},
		{[]*results.Run{run(10, 10), run(10, 7)}, 0.1, true},
	} {
		err := JudgeErrorRate(tt.runs, tt.max)
		var rate *ErrorRateError
		if (err != nil) != tt.fail || (err != nil && !errors.As(err, &rate)) {
			t.Errorf("%d runs, max %v: %v", len(tt.runs), tt.max, err)
		}
	}
}

// What a session cannot do is named by its field, for the caller to say in its own terms.
func TestSessionConfigErrorsNameTheField(t *testing.T) {
	srv := ollamaStub(t)
	w := prepared(t, results.Stage{Concurrency: 1, Requests: 1})
	for _, tt := range []struct {
		field string
		cfg   SessionConfig
	}{
		{"URL", SessionConfig{URL: "ftp://u:secret@h", Workload: w}},
		{"URL", SessionConfig{URL: "http://u:secret@[::1", Workload: w}},
		{"Workload", SessionConfig{URL: srv.URL}},
		{"Repeat", SessionConfig{URL: srv.URL, Workload: w, Repeat: -1}},
		{"MaxErrorRate", SessionConfig{URL: srv.URL, Workload: w, MaxErrorRate: 2}},
		{"Records", SessionConfig{URL: srv.URL, Workload: w, Records: filepath.Join(t.TempDir(), "no", "such", "dir")}},
		{"GPU", SessionConfig{URL: srv.URL, Workload: w, GPU: GPUConfig{Mode: "cuda"}}},
	} {
		_, err := RunSession(context.Background(), tt.cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tt.field || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: %v", tt.field, err)
		}
	}
}

package serve

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmload/llmload/bench"
	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/bench/sim"
)

func TestOrderRotatesEveryRound(t *testing.T) {
	points := Product([]Axis{NumParallelAxis(KindOllama, 1, 2, 4)})
	var got []string
	for _, round := range Order(points, 4) {
		var names []string
		for _, p := range round {
			names = append(names, strings.TrimPrefix(p.String(), "num_parallel="))
		}
		got = append(got, strings.Join(names, ","))
	}
	if want := []string{"1,2,4", "2,4,1", "4,1,2", "1,2,4"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

// Several settings vary as every combination, the first slowest, each point labelled by all
// of them and named after them in its files.
func TestProductLabelsAndNames(t *testing.T) {
	mlm, err := ParseAxis(KindOllama, false, "OLLAMA_MAX_LOADED_MODELS=1,2")
	if err != nil {
		t.Fatal(err)
	}
	points := Product([]Axis{mlm, NumParallelAxis(KindOllama, 1, 4)})
	var got []string
	for _, p := range points {
		got = append(got, p.FileName(0))
	}
	want := []string{"max_loaded_models-1.num_parallel-1", "max_loaded_models-1.num_parallel-4", "max_loaded_models-2.num_parallel-1", "max_loaded_models-2.num_parallel-4"}
	if !slices.Equal(got, want) {
		t.Errorf("points %v, want %v", got, want)
	}
	if p := points[1]; p.NumParallel() != 4 || p.String() != "max_loaded_models=1, num_parallel=4" || p.FileName(3) != "max_loaded_models-1.num_parallel-4.round-3" {
		t.Errorf("point %v: %d, %q, %q", p, p.NumParallel(), p.String(), p.FileName(3))
	}
	if got := RecordsPath("out/rec.jsonl", points[0], 2); got != "out/rec-max_loaded_models-1.num_parallel-1.round-2.jsonl" {
		t.Errorf("records path %s", got)
	}
}

func TestParseAxis(t *testing.T) {
	for _, tc := range []struct {
		kind      Kind
		simulated bool
		spec      string
		label     string
		err       string
	}{
		{KindOllama, false, "OLLAMA_KV_CACHE_TYPE=f16,q8_0", "kv_cache_type", ""},
		{KindOllama, false, "OLLAMA_NEW_THING=a,b", "new_thing", ""},
		{KindOllama, true, "OLLAMA_FLASH_ATTENTION=0,1", "flash_attention", ""},
		{KindOllama, true, "OLLAMA_SCHED_SPREAD=0,1", "", "the simulator does not model it"},
		{KindOllama, false, "OLLAMA_KV_CACHE_TYPE=f16,q3", "", "OLLAMA_KV_CACHE_TYPE: invalid value \"q3\""},
		{KindOllama, false, "OLLAMA_NUM_PARALLEL=0,2", "", "at least 1"},
		{KindOllama, false, "OLLAMA_HOST=a,b", "", "llmload sets it itself"},
		{KindOllama, false, "-np=1,2", "", "OLLAMA_* variables"},
		{KindOllama, false, "OLLAMA_MAX_QUEUE=1,1", "", "given twice"},
		{KindOllama, false, "OLLAMA_MAX_QUEUE", "", "want NAME=VALUE"},
		{KindLlamaServer, false, "-np=1,2", "num_parallel", ""},
		{KindLlamaServer, false, "--flash-attn=on,off", "flash_attn", ""},
		{KindLlamaServer, false, "-fa=on,off", "flash_attn", ""},
		{KindLlamaServer, false, "--cache-type-k=f16,q8_0", "cache_type_k", ""},
		{KindLlamaServer, false, "-c=4096,8192", "", "llmload sets it itself"},
		{KindLlamaServer, false, "OLLAMA_MAX_QUEUE=1,2", "", "llama-server takes its settings as flags"},
	} {
		a, err := ParseAxis(tc.kind, tc.simulated, tc.spec)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s %s: %v, want an error with %q", tc.kind, tc.spec, err, tc.err)
		case tc.err == "" && (err != nil || a.Label != tc.label || len(a.Values) != 2):
			t.Errorf("%s %s: %+v, %v; want label %s", tc.kind, tc.spec, a, err, tc.label)
		}
	}
}

// simWorkload is a plan prepared for the simulator's llama3.2:1b: stages of short requests.
func simWorkload(t *testing.T, tokens int, stages ...results.Stage) *bench.Workload {
	t.Helper()
	p := &results.Plan{Stages: stages, Mix: []*results.Template{{Model: "llama3.2:1b", Stream: true, MaxTokens: tokens, Prompt: "p"}}, Seed: 1}
	w, err := bench.Prepare(p, "")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func fastSim() sim.Config {
	cfg := sim.DefaultConfig()
	cfg.Speed = 8
	cfg.Models = []sim.Profile{sim.Presets()[0]}
	return cfg
}

// A sweep in rounds runs every point once per round in the rotated order; each (point, round)
// is a run of its own, labelled with both, with its own results file; every run measures its
// control, with a probe when the plan has no stage at concurrency 1.
func TestSweepInRounds(t *testing.T) {
	dir := t.TempDir()
	files := map[string]*bench.ResultsFile{}
	var events []string
	runs, err := Sweep(context.Background(), SweepConfig{
		Points:   Product([]Axis{NumParallelAxis(KindOllama, 1, 2)}),
		Rounds:   3,
		Launcher: &SimLauncher{Config: fastSim()},
		Session:  bench.SessionConfig{Workload: simWorkload(t, 8, results.Stage{Concurrency: 2, Requests: 4}), GPU: bench.GPUConfig{Mode: "off"}, ControlProbe: 3},
		Output: func(p Point, round int) *bench.ResultsFile {
			name := filepath.Join(dir, p.FileName(round)+".json")
			if files[name] == nil {
				files[name] = bench.NewResultsFile(name, results.Tool{Name: "llmload"})
			}
			return files[name]
		},
		OnEvent: func(e Event) {
			if e.Phase == PhaseStarting {
				events = append(events, fmt.Sprintf("%s r%d", e.Point, e.Round))
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"num_parallel=1 r1", "num_parallel=2 r1", "num_parallel=2 r2", "num_parallel=1 r2", "num_parallel=1 r3", "num_parallel=2 r3"}
	if !slices.Equal(events, want) {
		t.Errorf("started %v, want %v", events, want)
	}
	if len(runs) != 6 || len(files) != 6 {
		t.Fatalf("%d runs in %d files, want 6 and 6", len(runs), len(files))
	}
	for i, r := range runs {
		w := strings.Fields(want[i])
		if got := fmt.Sprintf("%s r%s", results.LabelText(map[string]string{"num_parallel": r.Labels["num_parallel"]}), r.Labels[results.LabelRound]); got != want[i] {
			t.Errorf("run %d labelled %v, want %s", i, r.Labels, want[i])
		}
		if c := r.Control; c == nil || c.Source != "probe" || c.OK != 3 || c.Value <= 0 {
			t.Errorf("%s: control %+v", w[0], c)
		}
		if s := r.Server; s == nil || len(s.Settings) != 1 || s.Settings[0].Name != "OLLAMA_NUM_PARALLEL" || s.NumParallel != s.NumParallelObserved {
			t.Errorf("%s: server %+v", w[0], s)
		}
	}
	f, err := results.ReadFile(filepath.Join(dir, "num_parallel-2.round-3.json"))
	if err != nil || len(f.Runs) != 1 || f.Runs[0].Labels[results.LabelRound] != "3" {
		t.Errorf("num_parallel-2.round-3.json: %v", err)
	}
}

// slowRound launches the simulator slower in one round: the machine got busy then.
type slowRound struct {
	SimLauncher
	round int
}

func (l *slowRound) Launch(ctx context.Context, p Point, round int) (*Instance, error) {
	cfg := l.Config
	if round == l.round {
		cfg.Speed /= 2
	}
	return (&SimLauncher{Config: cfg, WholeReplies: l.WholeReplies}).Launch(ctx, p, round)
}

// A control that moves between rounds makes every run of the sweep noisy, naming the runs
// that moved, and their files are written again with it; a control that holds makes none.
// The simulator decodes in steps of 2 ms here, long enough for a timer to keep.
func TestControlDriftMakesTheSweepNoisy(t *testing.T) {
	cfg := fastSim()
	cfg.Speed = 2
	for _, slow := range []int{0, 2} {
		dir := t.TempDir()
		var out []*bench.ResultsFile
		runs, err := Sweep(context.Background(), SweepConfig{
			Points:   Product([]Axis{NumParallelAxis(KindOllama, 1, 2)}),
			Rounds:   2,
			Launcher: &slowRound{SimLauncher{Config: cfg}, slow},
			Session:  bench.SessionConfig{Workload: simWorkload(t, 32, results.Stage{Concurrency: 1, Requests: 3}, results.Stage{Concurrency: 2, Requests: 2}), GPU: bench.GPUConfig{Mode: "off"}},
			Output: func(p Point, round int) *bench.ResultsFile {
				f := bench.NewResultsFile(filepath.Join(dir, p.FileName(round)+".json"), results.Tool{Name: "llmload"})
				out = append(out, f)
				return f
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			drift := strings.Contains(strings.Join(r.Noise, "\n"), "noisy: the control")
			if drift != (slow > 0) {
				t.Errorf("slow round %d: %v noise %q (control %+v)", slow, r.Labels, r.Noise, r.Control)
			}
			if slow > 0 && drift && !strings.Contains(strings.Join(r.Noise, "\n"), "num_parallel=1, round=2 at") {
				t.Errorf("the drift does not name a run of round 2: %q", r.Noise)
			}
		}
		if slow > 0 {
			f, err := results.ReadFile(out[0].Path)
			if err != nil || !strings.Contains(strings.Join(f.Runs[0].Noise, "\n"), "noisy: the control") {
				t.Errorf("%s was not written again with the drift (%v)", out[0].Path, err)
			}
		}
	}
}

// The seed's second scenario: two models at once under OLLAMA_MAX_LOADED_MODELS=1 and =2. With
// one place the models take turns, and nearly every request waits for its model to load; with
// two both stay loaded and run side by side. Each class shows it.
func TestTwoModelsUnderMaxLoadedModels(t *testing.T) {
	a, b := sim.Presets()[0], sim.Presets()[0]
	a.Name, b.Name = "chat:1b", "batch:1b"
	a.LoadTime, b.LoadTime = 800*time.Millisecond, 800*time.Millisecond // 100 ms at speed 8
	cfg := fastSim()
	cfg.Models = []sim.Profile{a, b}
	p := &results.Plan{Seed: 1, Warmup: 1, Stages: []results.Stage{{Concurrency: 4, Requests: 24}}, Mix: []*results.Template{
		{Name: "chat", Model: a.Name, Stream: true, MaxTokens: 8, Prompt: "p"},
		{Name: "batch", Model: b.Name, Stream: true, MaxTokens: 8, Prompt: "q"}}}
	w, err := bench.Prepare(p, "")
	if err != nil {
		t.Fatal(err)
	}
	axis, err := ParseAxis(KindOllama, true, "OLLAMA_MAX_LOADED_MODELS=1,2")
	if err != nil {
		t.Fatal(err)
	}
	runs, err := Sweep(context.Background(), SweepConfig{Points: Product([]Axis{axis}), Launcher: &SimLauncher{Config: cfg},
		Session: bench.SessionConfig{Workload: w, GPU: bench.GPUConfig{Mode: "off"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].Labels["max_loaded_models"] != "1" || runs[1].Labels["max_loaded_models"] != "2" {
		t.Fatalf("runs %d", len(runs))
	}
	one, two := runs[0].Stages[0], runs[1].Stages[0]
	for _, class := range []string{"chat", "batch"} {
		c1, c2 := one.Classes[class], two.Classes[class]
		if c1 == nil || c2 == nil {
			t.Fatalf("class %s missing: %v / %v", class, one.Classes, two.Classes)
		}
		// One place: most requests of each class wait for their model's load (≥ 100 ms).
		if c1.ModelLoads*2 < c1.Requests.Total || c1.LatencyMs[results.MetricTTFT].P50 < 100 {
			t.Errorf("max_loaded_models=1, %s: %d of %d requests loaded, TTFT p50 %.0f ms; want most, over the 100 ms load",
				class, c1.ModelLoads, c1.Requests.Total, c1.LatencyMs[results.MetricTTFT].P50)
		}
		// Two places: no load inside the stage, and the first token comes well before a load.
		if c2.ModelLoads != 0 || c2.LatencyMs[results.MetricTTFT].P50 > 50 {
			t.Errorf("max_loaded_models=2, %s: %d loads, TTFT p50 %.0f ms; want none, under 50 ms", class, c2.ModelLoads, c2.LatencyMs[results.MetricTTFT].P50)
		}
		// Side by side, neither class waits for the other's turn: each gets several times
		// the tokens it got while they alternated (about ×10 on a quiet machine).
		if c2.Throughput.OutputTokensPerS < 3*c1.Throughput.OutputTokensPerS {
			t.Errorf("%s: %.0f tok/s with two places, %.0f with one: the models did not run side by side", class, c2.Throughput.OutputTokensPerS, c1.Throughput.OutputTokensPerS)
		}
	}
	if n := strings.Join(runs[0].Notes, "\n"); !strings.Contains(n, "reload thrash") || strings.Contains(strings.Join(runs[1].Notes, "\n"), "reload thrash") {
		t.Errorf("reload thrash said for =1: %q; for =2: %q", runs[0].Notes, runs[1].Notes)
	}
}

// A point's settings reach the server as it takes them: OLLAMA_* variables over llmload's own
// and under the user's --server-env, llama-server flags after llmload's own and before the
// user's arguments; a point without NUM_PARALLEL leaves Ollama its default.
func TestPointReachesTheServer(t *testing.T) {
	mlm, _ := ParseAxis(KindOllama, false, "OLLAMA_MAX_LOADED_MODELS=2")
	l := &ProcessLauncher{Config: Config{Env: []string{"OLLAMA_MAX_LOADED_MODELS=9", "HOME=/h"}, Extra: []string{"OLLAMA_FLASH_ATTENTION=1"}}}
	p := Product([]Axis{NumParallelAxis(KindOllama, 4), mlm})[0]
	cfg := l.Config
	cfg.NumParallel, cfg.Settings = p.NumParallel(), p[1:]
	_, env, _ := cfg.command(1234)
	for _, want := range []string{"OLLAMA_NUM_PARALLEL=4", "OLLAMA_MAX_LOADED_MODELS=2", "OLLAMA_FLASH_ATTENTION=1", "HOME=/h"} {
		if !slices.Contains(env, want) {
			t.Errorf("env %q lacks %s", env, want)
		}
	}
	cfg.NumParallel = 0
	if _, env, _ = cfg.command(1234); slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "OLLAMA_NUM_PARALLEL=") }) {
		t.Errorf("no NUM_PARALLEL asked, yet the env sets it: %q", env)
	}

	fa, _ := ParseAxis(KindLlamaServer, false, "--flash-attn=on")
	ls := Config{Kind: KindLlamaServer, NumParallel: 2, SlotContext: 1024, Settings: Product([]Axis{fa})[0], Args: []string{"-m", "x.gguf"}}
	args, _, _ := ls.command(1234)
	if got := strings.Join(args, " "); !strings.Contains(got, "-np 2 --metrics -c 2048 --flash-attn on -m x.gguf") {
		t.Errorf("llama-server args %q", got)
	}
}

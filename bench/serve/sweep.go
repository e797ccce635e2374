package serve

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/llmload/llmload/bench"
	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/bench/sim"
	"github.com/llmload/llmload/gpu"
)

// Instance is one running server of a sweep, whatever started it.
type Instance struct {
	URL       string
	PID       int  // 0 when the server lives in this process
	Simulated bool // the embedded simulator
	LogPath   string
	// Log returns the server's log so far, for verifying its settings.
	Log func() string
	// GPU reads the simulated GPU; nil for a real server.
	GPU func() gpu.SimReading
	// Stop ends the server and waits for it.
	Stop func()
	// Notes are caveats about this server that every run against it carries (the
	// simulator's, when this machine's timers are too coarse for its decode step).
	Notes []string
	// Settings, when set, asks the server what its runner started with (llama-server's
	// /props); otherwise the sweep reads them from Log.
	Settings func(ctx context.Context) (RunnerSettings, bool)
}

// Launcher starts a server with the settings of one point of a sweep; round (1…N, 0 outside
// rounds) names its log.
type Launcher interface {
	Launch(ctx context.Context, p Point, round int) (*Instance, error)
}

// ProcessLauncher starts a server process of Config's kind: `ollama serve` (or anything that
// behaves like it) or llama-server.
type ProcessLauncher struct {
	Config Config // NumParallel, Settings and LogPath are set per launch
	// LogPath names the log file of a point in a round; nil keeps logs in memory only.
	LogPath func(p Point, round int) string
}

// Launch starts the server for one point.
func (l *ProcessLauncher) Launch(ctx context.Context, p Point, round int) (*Instance, error) {
	cfg := l.Config
	cfg.NumParallel = p.NumParallel()
	cfg.Settings = nil
	for _, st := range p {
		if st.Label != LabelNumParallel {
			cfg.Settings = append(cfg.Settings, st)
		}
	}
	if l.LogPath != nil {
		cfg.LogPath = l.LogPath(p, round)
	}
	s, err := Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	inst := &Instance{URL: s.URL, PID: s.PID, LogPath: cfg.LogPath, Log: s.Log, Stop: s.Stop}
	if cfg.Kind == KindLlamaServer {
		// llama-server says what it runs with: its slots and their context.
		c := api.New(api.Config{BaseURL: s.URL})
		inst.Settings = func(ctx context.Context) (RunnerSettings, bool) {
			p, err := c.Props(ctx)
			if err != nil {
				return RunnerSettings{}, false
			}
			return RunnerSettings{Parallel: p.TotalSlots, Context: p.SlotContext * p.TotalSlots}, true
		}
	}
	return inst, nil
}

// SimLauncher starts the embedded simulator with a point's settings, read as `ollama serve`
// reads its OLLAMA_* variables.
type SimLauncher struct {
	Config sim.Config
	// WholeReplies says every request asks for a whole reply (stream:false): no token is
	// timed, so the caveat about the machine's timers and token timing is left out.
	WholeReplies bool

	granularity sync.Once
	timer       time.Duration // this machine's timer granularity, measured at the first launch
}

// Launch starts a fresh simulator on a free loopback port.
func (l *SimLauncher) Launch(ctx context.Context, p Point, _ int) (*Instance, error) {
	env := map[string]string{}
	for _, st := range p {
		env[st.Name] = st.Value
	}
	cfg, err := l.Config.WithEnv(func(k string) string { return env[k] })
	if err != nil {
		return nil, err
	}
	log := &logBuffer{limit: 1 << 20}
	cfg.Log = log
	srv, err := sim.New(cfg)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("simulator: %w", err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		_ = srv.Serve(sctx, ln)
		close(done)
	}()
	var once sync.Once
	var notes []string
	// Measured once: every setting of a sweep runs on the same machine, and says so alike.
	l.granularity.Do(func() { l.timer = sim.TimerGranularity() })
	if n := sim.StepNote(cfg, l.timer); n != "" && !l.WholeReplies {
		notes = append(notes, n)
	}
	return &Instance{
		Notes:     notes,
		URL:       "http://" + ln.Addr().String(),
		Simulated: true,
		Log:       log.String,
		GPU: func() gpu.SimReading {
			g := srv.GPU()
			return gpu.SimReading{Name: g.Name, MemoryUsedMiB: g.MemoryUsedMiB, MemoryTotalMiB: g.MemoryTotalMiB, UtilizationPct: g.UtilizationPct, PowerW: g.PowerW, EnergyJ: g.EnergyJ}
		},
		Stop: func() {
			once.Do(func() {
				cancel()
				<-done
				srv.Close()
			})
		},
	}, nil
}

// SweepConfig is a sweep of server settings: the same seeded session against a fresh server
// per point, in rounds.
type SweepConfig struct {
	// Points are the combinations of settings to run (see Product).
	Points []Point
	// Rounds runs every point once per round, each round in an order rotated by one (1, 2, 4 ·
	// 2, 4, 1 · 4, 1, 2 …), so that a slow drift of the machine hits every point alike. Each
	// (point, round) is a run of its own, labelled round=r when there are several. 0 = 1.
	Rounds   int
	Launcher Launcher
	// Session is what every point runs. Per point the sweep sets its URL, the server's process
	// and simulated GPU, the point's settings among its labels (labels given here win) and the
	// round's, the server's notes, and its results file and records file from Output and
	// Records below.
	Session bench.SessionConfig
	// WarmupPerSlot, when true, warms every slot: the plan's Warmup becomes the point's
	// NUM_PARALLEL (the first burst after a load is slower; it must not be measured).
	WarmupPerSlot bool
	// Output gives the results file a point's runs in a round go to (round 0 outside rounds):
	// one per point and round, or one shared by all. Nil writes none.
	Output func(p Point, round int) *bench.ResultsFile
	// Records, when set, names the records file: each point (and round) writes its own, named
	// after it by RecordsPath.
	Records string
	// OnEvent reports progress: "starting", "ready", "loaded", "verified", "running", "stopped".
	OnEvent func(Event)
	// VerifyTimeout bounds the wait for the runner's log line. 0 = 5 s.
	VerifyTimeout time.Duration
}

// Event is one step of a sweep: of a point, in a round (0 outside rounds).
type Event struct {
	Point  Point
	Round  int
	Phase  Phase
	Detail string
}

// Phase is a step of a point's run, in the order they come: starting, ready, loaded (once per
// model Ollama preloads), verified, running, stopped.
type Phase string

const (
	PhaseStarting Phase = "starting"
	PhaseReady    Phase = "ready"
	PhaseLoaded   Phase = "loaded"
	// PhaseVerified says what the runner started with, in short ("2 parallel slots, 2048
	// tokens of context each"), or what it did not.
	PhaseVerified Phase = "verified"
	PhaseRunning  Phase = "running"
	PhaseStopped  Phase = "stopped"
)

// runnerStarted begins the note of a runner whose slots were read; the verified event leaves
// it out.
const runnerStarted = "the runner started with "

// RecordsPath names the records file of a point (in a round: 0 outside rounds) after the one
// asked for: records.jsonl becomes records-num_parallel-4.jsonl, or
// records-num_parallel-4.round-2.jsonl.
func RecordsPath(path string, p Point, round int) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-" + p.FileName(round) + ext
}

// Order is the order the points run in, round by round (round 1 first): each round rotated
// by one from the last, so that every point runs early and late alike.
func Order(points []Point, rounds int) [][]Point {
	out := make([][]Point, max(rounds, 1))
	for r := range out {
		for i := range points {
			out[r] = append(out[r], points[(i+r)%len(points)])
		}
	}
	return out
}

// Sweep runs the session once per point and round and returns the runs made. It stops each
// server before starting the next, and every server it started is stopped when it returns —
// also on error or when ctx ends (then the runs so far come back with bench.ErrInterrupted).
// A point whose requests failed too often does not stop the sweep: the error rate is judged
// over every run at the end (bench.JudgeErrorRate). At the end, runs whose controls should
// agree and do not (results.ControlDrift) carry it among their noise, and their results files
// are written again.
func Sweep(ctx context.Context, cfg SweepConfig) ([]*results.Run, error) {
	if len(cfg.Points) == 0 {
		return nil, errors.New("no settings to sweep")
	}
	if cfg.Rounds < 0 {
		return nil, fmt.Errorf("rounds must be at least 1, got %d", cfg.Rounds)
	}
	rounds := max(cfg.Rounds, 1)
	var runs []*results.Run
	var files []*bench.ResultsFile
	output := cfg.Output
	if output != nil {
		cfg.Output = func(p Point, round int) *bench.ResultsFile {
			f := output(p, round)
			if f != nil && !slices.Contains(files, f) {
				files = append(files, f)
			}
			return f
		}
	}
	finish := func(err error) ([]*results.Run, error) {
		if noteDrift(runs) {
			for _, f := range files {
				if werr := f.Write(); werr != nil && err == nil {
					err = fmt.Errorf("write results: %w", werr)
				}
			}
		}
		return runs, err
	}
	for r, order := range Order(cfg.Points, rounds) {
		round := 0
		if rounds > 1 {
			round = r + 1
		}
		for _, p := range order {
			if ctx.Err() != nil {
				return finish(bench.ErrInterrupted)
			}
			got, err := sweepOne(ctx, cfg, p, round)
			runs = append(runs, got...)
			var rate *bench.ErrorRateError
			switch {
			case errors.Is(err, bench.ErrInterrupted) || (err != nil && ctx.Err() != nil):
				return finish(bench.ErrInterrupted)
			case errors.As(err, &rate): // judged over the whole sweep below
			case err != nil:
				where := p.String()
				if round > 0 {
					where += fmt.Sprintf(", round %d", round)
				}
				return finish(fmt.Errorf("%s: %w", where, err))
			}
		}
	}
	return finish(bench.JudgeErrorRate(runs, cfg.Session.MaxErrorRate))
}

// noteDrift adds to the noise of runs whose controls should agree and drifted apart the
// sentence that says so (every run of such a group carries it: their comparison is
// confounded); it reports whether it added any.
func noteDrift(runs []*results.Run) bool {
	added := false
	for _, group := range results.ControlGroups(runs) {
		names := make([]string, len(group))
		for i, r := range group {
			names[i] = results.LabelText(r.Labels)
		}
		d := results.ControlDrift(group, names)
		if d == nil {
			continue
		}
		for _, r := range group {
			if !slices.Contains(r.Noise, d.Text) {
				r.Noise = append(r.Noise, d.Text)
				added = true
			}
		}
	}
	return added
}

func (cfg *SweepConfig) event(p Point, round int, phase Phase, format string, args ...any) {
	if cfg.OnEvent != nil {
		cfg.OnEvent(Event{Point: p, Round: round, Phase: phase, Detail: fmt.Sprintf(format, args...)})
	}
}

// serverText says how a point's server starts: "OLLAMA_NUM_PARALLEL=4", "-np 2 -fa on".
func serverText(p Point) string {
	var parts []string
	for _, s := range p {
		if strings.HasPrefix(s.Name, "-") {
			parts = append(parts, s.Name+" "+s.Value)
		} else {
			parts = append(parts, s.Name+"="+s.Value)
		}
	}
	return strings.Join(parts, " ")
}

// sweepOne starts the server for a point, preloads the mix's models, checks the server's
// slots, runs the session against it and stops it.
func sweepOne(ctx context.Context, cfg SweepConfig, p Point, round int) ([]*results.Run, error) {
	k := p.NumParallel()
	cfg.event(p, round, PhaseStarting, "starting the server with %s", serverText(p))
	inst, err := cfg.Launcher.Launch(ctx, p, round)
	if err != nil {
		return nil, err
	}
	defer func() {
		inst.Stop()
		cfg.event(p, round, PhaseStopped, "server stopped")
	}()
	cfg.event(p, round, PhaseReady, "server ready at %s", inst.URL)

	sc := cfg.Session
	sc.URL = inst.URL
	sc.Labels = p.Labels()
	if round > 0 {
		sc.Labels[results.LabelRound] = strconv.Itoa(round)
	}
	maps.Copy(sc.Labels, cfg.Session.Labels)
	sc.GPU.PID, sc.GPU.Sim, sc.ServerPID = inst.PID, inst.GPU, inst.PID
	sc.Simulated, sc.InProcess = inst.Simulated, inst.Simulated
	sc.Notes = append(slices.Clip(cfg.Session.Notes), inst.Notes...)
	if cfg.WarmupPerSlot && k > 0 {
		sc.Workload = sc.Workload.WithWarmup(k)
	}
	if cfg.Output != nil {
		sc.Output = cfg.Output(p, round)
	}
	if cfg.Records != "" {
		sc.Records = RecordsPath(cfg.Records, p, round)
	}
	info := &results.ServerInfo{Managed: true, Simulated: inst.Simulated, PID: inst.PID, LogFile: inst.LogPath, NumParallel: k,
		Settings: slices.Clone(p), LoadMs: map[string]float64{}}
	sc.Describe = func(run *results.Run) {
		describeServer(run, info, inst)
		if cfg.Session.Describe != nil {
			cfg.Session.Describe(run)
		}
	}
	sess, err := bench.NewSession(ctx, sc)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	id := sess.Identity()
	// `llmload sim` standing in for `ollama serve` is simulated too (the session reads its GPU).
	info.Simulated = info.Simulated || id.Kind == api.ServerSimulator

	// Preload every model with the mix's own runner options: a preload with other options
	// would be followed by a reload on the first measured request. llama-server loaded its
	// one model before it answered /health.
	client := sess.Client()
	for _, t := range sc.Workload.Plan.Mix {
		if _, done := info.LoadMs[t.Model]; done || id.Kind == api.ServerLlamaServer {
			continue
		}
		start := time.Now()
		rec := client.Do(ctx, &api.Request{API: api.OllamaGenerate, Model: t.Model, Options: t.Options})
		if !rec.OK() {
			return nil, fmt.Errorf("preload %s: %s: %s", t.Model, rec.Class, rec.Error)
		}
		info.LoadMs[t.Model] = roundMs(time.Since(start))
		cfg.event(p, round, PhaseLoaded, "%s loaded in %.0f ms", t.Model, info.LoadMs[t.Model])
	}
	verify(ctx, &cfg, inst, info)
	cfg.event(p, round, PhaseVerified, "%s", strings.TrimPrefix(info.Note, runnerStarted))
	if n := len(sc.Workload.Plan.Stages); n == 1 {
		cfg.event(p, round, PhaseRunning, "running 1 stage")
	} else {
		cfg.event(p, round, PhaseRunning, "running %d stages", n)
	}
	return sess.Run(ctx)
}

// describeServer puts what the sweep knows about the server it started into a run: its
// settings as verified, the GPU memory right after the preload, and the engine its log names.
func describeServer(run *results.Run, info *results.ServerInfo, inst *Instance) {
	srv := *info
	if g := run.GPUSeries; g != nil && len(g.Samples) > 0 {
		// The first sample is taken as the run starts, after the preload: memory after load.
		used := 0.0
		for _, s := range g.Samples {
			if s.At != g.Samples[0].At {
				break
			}
			used += s.MemoryUsedMiB
		}
		srv.MemoryAfterLoadMiB = &used
	}
	run.Server = &srv
	if run.Target.Engine == "" && inst.Log != nil && strings.Contains(inst.Log(), `msg="starting llama-server"`) {
		run.Target.Engine = api.ServerLlamaServer // an Ollama built from source says no version
	}
	if !info.Verified {
		run.Notes = append(run.Notes, "NUM_PARALLEL not verified: "+info.Note)
	}
}

// verify finds the slot count the server's runner started with: from the instance's own
// check when it has one (llama-server's /props), else from the server's log.
func verify(ctx context.Context, cfg *SweepConfig, inst *Instance, info *results.ServerInfo) {
	timeout := cfg.VerifyTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		r, ok := RunnerSettings{}, false
		if inst.Settings != nil {
			r, ok = inst.Settings(ctx)
		} else {
			r, ok = RunnerFromLog(inst.Log())
		}
		if ok {
			judge(r, cfg.slotContext(), info)
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			info.Note = "the server log shows no runner's parallel setting"
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// slots says "1 parallel slot", "4 parallel slots".
func slots(n int) string {
	if n == 1 {
		return "1 parallel slot"
	}
	return fmt.Sprintf("%d parallel slots", n)
}

// judge compares what the runner started with against what was asked: the slot count, and the
// context each slot got against the one the plan asks for (0: the plan asks none).
func judge(r RunnerSettings, wantCtx int, info *results.ServerInfo) {
	n := r.Parallel
	info.NumParallelObserved = n
	info.SlotContext = r.SlotContext()
	switch {
	case info.NumParallel == 0:
		// Nothing asked: the server's own default, as it reported it.
		info.Verified = true
		info.Note = fmt.Sprintf("%s%s (the server's default)", runnerStarted, slots(n))
	case n == info.NumParallel:
		info.Verified = true
		info.Note = runnerStarted + slots(n)
	case n == 1:
		info.Note = fmt.Sprintf("asked for %d, the runner started with 1: Ollama forces NUM_PARALLEL=1 for some model families (embedding models, mllama, qwen3vl …); this setting is not comparable", info.NumParallel)
	default:
		info.Note = fmt.Sprintf("asked for %d, the runner started with %d", info.NumParallel, n)
	}
	if ctx := info.SlotContext; ctx > 0 {
		info.Note += fmt.Sprintf(", %d tokens of context each", ctx)
		if wantCtx > 0 && ctx != wantCtx {
			info.Verified = false
			info.Note += fmt.Sprintf(" (the plan asks num_ctx %d: each slot has a different context than asked)", wantCtx)
		}
	}
}

// slotContext is the context per slot the plan asks for (its num_ctx option), or the
// launcher's; 0 when none is asked.
func (cfg *SweepConfig) slotContext() int {
	if cfg.Session.Workload != nil {
		if n := cfg.Session.Workload.Plan.NumCtx(); n > 0 {
			return n
		}
	}
	if l, ok := cfg.Launcher.(*ProcessLauncher); ok && l.Config.Kind == KindLlamaServer {
		return l.Config.SlotContext
	}
	return 0
}

func roundMs(d time.Duration) float64 {
	return float64(d.Round(10*time.Microsecond)) / float64(time.Millisecond)
}

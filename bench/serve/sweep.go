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

// Launcher starts a server with a given number of parallel slots.
type Launcher interface {
	Launch(ctx context.Context, numParallel int) (*Instance, error)
}

// ProcessLauncher starts a server process of Config's kind: `ollama serve` (or anything that
// behaves like it) or llama-server.
type ProcessLauncher struct {
	Config Config // NumParallel and LogPath are set per launch
	// LogPath names the log file of a setting; nil keeps logs in memory only.
	LogPath func(numParallel int) string
}

// Launch starts the server for one setting.
func (l *ProcessLauncher) Launch(ctx context.Context, numParallel int) (*Instance, error) {
	cfg := l.Config
	cfg.NumParallel = numParallel
	if l.LogPath != nil {
		cfg.LogPath = l.LogPath(numParallel)
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

// SimLauncher starts the embedded simulator with NUM_PARALLEL = the setting.
type SimLauncher struct {
	Config sim.Config
	// WholeReplies says every request asks for a whole reply (stream:false): no token is
	// timed, so the caveat about the machine's timers and token timing is left out.
	WholeReplies bool

	granularity sync.Once
	timer       time.Duration // this machine's timer granularity, measured at the first launch
}

// Launch starts a fresh simulator on a free loopback port.
func (l *SimLauncher) Launch(ctx context.Context, numParallel int) (*Instance, error) {
	cfg := l.Config
	cfg.NumParallel = numParallel
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

// SweepConfig is a NUM_PARALLEL sweep: the same seeded session against a fresh server per
// setting.
type SweepConfig struct {
	Settings []int
	Launcher Launcher
	// Session is what every setting runs. Per setting the sweep sets its URL, the server's
	// process and simulated GPU, num_parallel among its labels (labels given here win), the
	// server's notes, and its results file and records file from Output and Records below.
	Session bench.SessionConfig
	// WarmupPerSlot, when true, warms every slot: the plan's Warmup becomes the setting's
	// NUM_PARALLEL (the first burst after a load is slower; it must not be measured).
	WarmupPerSlot bool
	// Output gives the results file a setting's runs go to: one per setting, or one shared by
	// all. Nil writes none.
	Output func(numParallel int) *bench.ResultsFile
	// Records, when set, names the records file: each setting writes its own, named after the
	// setting by RecordsPath.
	Records string
	// OnEvent reports progress: "starting", "ready", "loaded", "verified", "running", "stopped".
	OnEvent func(Event)
	// VerifyTimeout bounds the wait for the runner's log line. 0 = 5 s.
	VerifyTimeout time.Duration
}

// Event is one step of a sweep.
type Event struct {
	NumParallel int
	Phase       string
	Detail      string
}

// RecordsPath names a setting's records file after the one asked for: records.jsonl becomes
// records-num_parallel-4.jsonl.
func RecordsPath(path string, numParallel int) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-num_parallel-" + strconv.Itoa(numParallel) + ext
}

// Sweep runs the session once per setting and returns the runs made. It stops each server
// before starting the next, and every server it started is stopped when it returns — also on
// error or when ctx ends (then the runs so far come back with bench.ErrInterrupted). A
// setting whose requests failed too often does not stop the sweep: the error rate is judged
// over every run at the end (bench.JudgeErrorRate).
func Sweep(ctx context.Context, cfg SweepConfig) ([]*results.Run, error) {
	if len(cfg.Settings) == 0 {
		return nil, errors.New("no NUM_PARALLEL settings to sweep")
	}
	var runs []*results.Run
	for _, k := range cfg.Settings {
		if ctx.Err() != nil {
			return runs, bench.ErrInterrupted
		}
		got, err := sweepOne(ctx, cfg, k)
		runs = append(runs, got...)
		var rate *bench.ErrorRateError
		switch {
		case errors.Is(err, bench.ErrInterrupted) || (err != nil && ctx.Err() != nil):
			return runs, bench.ErrInterrupted
		case errors.As(err, &rate): // judged over the whole sweep below
		case err != nil:
			return runs, fmt.Errorf("NUM_PARALLEL=%d: %w", k, err)
		}
	}
	return runs, bench.JudgeErrorRate(runs, cfg.Session.MaxErrorRate)
}

func (cfg *SweepConfig) event(k int, phase, format string, args ...any) {
	if cfg.OnEvent != nil {
		cfg.OnEvent(Event{NumParallel: k, Phase: phase, Detail: fmt.Sprintf(format, args...)})
	}
}

// sweepOne starts the server for setting k, preloads the mix's models, checks the server's
// slots, runs the session against it and stops it.
func sweepOne(ctx context.Context, cfg SweepConfig, k int) ([]*results.Run, error) {
	cfg.event(k, "starting", "starting the server with NUM_PARALLEL=%d", k)
	inst, err := cfg.Launcher.Launch(ctx, k)
	if err != nil {
		return nil, err
	}
	defer func() {
		inst.Stop()
		cfg.event(k, "stopped", "server stopped")
	}()
	cfg.event(k, "ready", "server ready at %s", inst.URL)

	sc := cfg.Session
	sc.URL = inst.URL
	sc.Labels = map[string]string{"num_parallel": strconv.Itoa(k)}
	maps.Copy(sc.Labels, cfg.Session.Labels)
	sc.GPU.PID, sc.GPU.Sim, sc.ServerPID = inst.PID, inst.GPU, inst.PID
	sc.Simulated, sc.InProcess = inst.Simulated, inst.Simulated
	sc.Notes = append(slices.Clip(cfg.Session.Notes), inst.Notes...)
	if cfg.WarmupPerSlot {
		sc.Workload = sc.Workload.WithWarmup(k)
	}
	if cfg.Output != nil {
		sc.Output = cfg.Output(k)
	}
	if cfg.Records != "" {
		sc.Records = RecordsPath(cfg.Records, k)
	}
	info := &results.ServerInfo{Managed: true, Simulated: inst.Simulated, PID: inst.PID, LogFile: inst.LogPath, NumParallel: k, LoadMs: map[string]float64{}}
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
		cfg.event(k, "loaded", "%s loaded in %.0f ms", t.Model, info.LoadMs[t.Model])
	}
	verify(ctx, &cfg, inst, info)
	cfg.event(k, "running", "running %d stages", len(sc.Workload.Plan.Stages))
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
			cfg.event(info.NumParallel, "verified", "%s", info.Note)
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			info.Note = "the server log shows no runner's parallel setting"
			cfg.event(info.NumParallel, "verified", "%s", info.Note)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// judge compares what the runner started with against what was asked: the slot count, and the
// context each slot got against the one the plan asks for (0: the plan asks none).
func judge(r RunnerSettings, wantCtx int, info *results.ServerInfo) {
	n := r.Parallel
	info.NumParallelObserved = n
	info.SlotContext = r.SlotContext()
	switch {
	case n == info.NumParallel:
		info.Verified = true
		info.Note = fmt.Sprintf("the runner started with %d parallel slots", n)
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

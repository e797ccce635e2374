package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	if n := sim.StepNote(cfg, sim.TimerGranularity()); n != "" {
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

// SweepConfig is a NUM_PARALLEL sweep: the same seeded plan against a fresh server per
// setting.
type SweepConfig struct {
	Settings []int
	Workload *bench.Workload
	Launcher Launcher
	// NewClient makes the client for one server.
	NewClient func(url string) *api.Client
	// WarmupPerSlot, when true, warms every slot: the plan's Warmup becomes the setting's
	// NUM_PARALLEL (the first burst after a load is slower; it must not be measured).
	WarmupPerSlot bool
	// GPU sampling: mode (auto, off, nvml, sim), interval, devices.
	GPUMode     string
	GPUInterval time.Duration
	GPUIndices  []int
	// Labels are added to every run, beside num_parallel.
	Labels map[string]string
	// RunOptions are passed to each run (Live, Grace, HardStop, OnStage …).
	RunOptions bench.Options
	// OnEvent reports progress: "starting", "ready", "loaded", "verified", "running", "stopped".
	OnEvent func(Event)
	// OnRun is called with each finished run, before the next setting starts, so results can
	// be written as the sweep goes.
	OnRun func(*results.Run) error
	// VerifyTimeout bounds the wait for the runner's log line. 0 = 5 s.
	VerifyTimeout time.Duration
}

// Event is one step of a sweep.
type Event struct {
	NumParallel int
	Phase       string
	Detail      string
}

// Sweep runs the plan once per setting and returns the runs made. It stops each server before
// starting the next, and every server it started is stopped when it returns — also on error
// or when ctx ends (then the runs so far are returned with ctx's error).
func Sweep(ctx context.Context, cfg SweepConfig) ([]*results.Run, error) {
	if len(cfg.Settings) == 0 {
		return nil, errors.New("no NUM_PARALLEL settings to sweep")
	}
	var runs []*results.Run
	for _, k := range cfg.Settings {
		if err := ctx.Err(); err != nil {
			return runs, err
		}
		run, err := sweepOne(ctx, cfg, k)
		if run != nil {
			runs = append(runs, run)
			if cfg.OnRun != nil {
				if werr := cfg.OnRun(run); werr != nil {
					return runs, werr
				}
			}
		}
		if err != nil {
			return runs, fmt.Errorf("NUM_PARALLEL=%d: %w", k, err)
		}
		if run != nil && run.Interrupted {
			return runs, context.Canceled
		}
	}
	return runs, nil
}

func (cfg *SweepConfig) event(k int, phase, format string, args ...any) {
	if cfg.OnEvent != nil {
		cfg.OnEvent(Event{NumParallel: k, Phase: phase, Detail: fmt.Sprintf(format, args...)})
	}
}

func sweepOne(ctx context.Context, cfg SweepConfig, k int) (*results.Run, error) {
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
	client := cfg.NewClient(inst.URL)
	vctx, vcancel := context.WithTimeout(ctx, 3*time.Second)
	id := client.Identify(vctx)
	vcancel()
	if inst.GPU == nil && id.Kind == api.ServerSimulator {
		// `llmload sim` standing in for `ollama serve`: its GPU is simulated too.
		inst.GPU, inst.Simulated = RemoteSimGPU(inst.URL), true
	}
	info := &results.ServerInfo{Managed: true, Simulated: inst.Simulated, PID: inst.PID, LogFile: inst.LogPath, NumParallel: k, LoadMs: map[string]float64{}}

	// Preload every model with the mix's own runner options: a preload with other options
	// would be followed by a reload on the first measured request. llama-server loaded its
	// one model before it answered /health.
	for _, t := range cfg.Workload.Plan.Mix {
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

	work := cfg.Workload
	if cfg.WarmupPerSlot {
		work = work.WithWarmup(k)
	}
	gpuOpts := gpu.Options{Indices: cfg.GPUIndices, PID: inst.PID, Sim: inst.GPU}
	mode := cfg.GPUMode
	if mode == gpu.ModeAuto && inst.GPU != nil {
		mode = gpu.ModeSim
	}
	start := time.Now()
	sampling, err := bench.StartGPU(ctx, mode, gpuOpts, cfg.GPUInterval, start)
	if err != nil {
		return nil, fmt.Errorf("gpu: %w", err)
	}
	opts := cfg.RunOptions
	opts.Start = start
	opts.ServerInProcess = inst.Simulated
	cfg.event(k, "running", "running %d stages", len(work.Plan.Stages))
	run, err := bench.RunPlan(ctx, work, client, opts)
	if err != nil {
		sampling.Finish(&results.Run{})
		return nil, err
	}
	sampling.Finish(run)
	if g := run.GPUSeries; g != nil && len(g.Samples) > 0 {
		// The first sample is taken as the run starts, after the preload: memory after load.
		used := 0.0
		for _, s := range g.Samples {
			if s.At != g.Samples[0].At {
				break
			}
			used += s.MemoryUsedMiB
		}
		info.MemoryAfterLoadMiB = &used
	}
	run.Labels = map[string]string{"num_parallel": strconv.Itoa(k)}
	for key, v := range cfg.Labels {
		run.Labels[key] = v
	}
	run.Server = info
	run.Target = results.Target{URL: inst.URL, API: planAPIs(work.Plan), Simulated: inst.Simulated}
	run.Target.Sender, run.Target.SenderReason = client.Sender().Name, client.Sender().Reason
	run.Target.ServerVersion, run.Target.Server, run.Target.Engine = id.Version, id.Kind, id.Engine
	if run.Target.Engine == "" && strings.Contains(inst.Log(), `msg="starting llama-server"`) {
		run.Target.Engine = api.ServerLlamaServer // an Ollama built from source says no version
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	if ms, err := client.Loaded(dctx); err == nil {
		for _, m := range ms {
			run.Target.Models = append(run.Target.Models, results.LoadedModel{Name: m.Name, SizeBytes: m.Size, SizeVRAMBytes: m.SizeVRAM, ContextLength: m.ContextLength})
		}
	}
	run.Notes = append(run.Notes, inst.Notes...)
	if !info.Verified {
		run.Notes = append(run.Notes, "NUM_PARALLEL not verified: "+info.Note)
	}
	return run, nil
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
	if cfg.Workload != nil {
		if n := cfg.Workload.Plan.NumCtx(); n > 0 {
			return n
		}
	}
	if l, ok := cfg.Launcher.(*ProcessLauncher); ok && l.Config.Kind == KindLlamaServer {
		return l.Config.SlotContext
	}
	return 0
}

func planAPIs(p *results.Plan) string {
	var names []string
	seen := map[string]bool{}
	for _, t := range p.Mix {
		if !seen[t.API] {
			seen[t.API] = true
			names = append(names, t.API)
		}
	}
	return strings.Join(names, ",")
}

func roundMs(d time.Duration) float64 {
	return float64(d.Round(10*time.Microsecond)) / float64(time.Millisecond)
}

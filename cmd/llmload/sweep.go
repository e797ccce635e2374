package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/llmload/llmload/bench"
	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/bench/serve"
	"github.com/llmload/llmload/report"
	"github.com/llmload/llmload/report/analysis"
	"github.com/llmload/llmload/report/printable"
)

// sweepFlags are the flags of `llmload sweep`, as given: run's, and the servers' it starts.
type sweepFlags struct {
	runFlags
	numParallel  []int
	set          []string
	rounds       int
	server       string
	ollama       string
	llamaServer  string
	modelFile    string
	slotContext  int
	serverArgs   []string
	modelsDir    string
	serverEnv    []string
	external     bool
	slo          string
	readyTimeout time.Duration
}

// sweepOptions is what `llmload sweep` does, built from its flags: a sweep of the servers it
// starts, or (--external) one session against the server you run.
type sweepOptions struct {
	sys *system
	// external, with --external, is the run it makes; nothing below is set then.
	external *runOptions
	sweep    serve.SweepConfig
	output   *sweepOutput
	slo      analysis.SLO
	quiet    bool
	// noProgress turns off the progress bar and status lines (quiet does too).
	noProgress bool
}

const sweepExamples = `  # Start 'ollama serve' four times, NUM_PARALLEL 1, 2, 4 and 8, same seeded workload each time
  llmload sweep -m llama3.2:1b --num-parallel 1,2,4,8 -c 1,2,4,8,16 -n 32 -o sweep/

  # llama.cpp's llama-server: -np 1, 2 and 4, each slot with 4096 tokens of context
  llmload sweep --server llama-server --model-file qwen2.5-1.5b.gguf --num-parallel 1,2,4 -c 1,2,4,8

  # The same on the built-in simulator: no Ollama, no GPU
  llmload sweep --sim --num-parallel 1,2,4,8 -c 1,4,16

  # Five rounds, each setting once per round in a rotated order: enough to say how sure it is
  llmload sweep --sim --num-parallel 1,2,4 -c 1,4,8 --rounds 5

  # Any server setting, as llama-bench takes lists; several give every combination
  llmload sweep -m llama3.2:1b -m qwen2.5:0.5b --set OLLAMA_MAX_LOADED_MODELS=1,2 --num-parallel 1,2 -c 4
  llmload sweep --server llama-server --model-file qwen.gguf --set=-np=1,2 --set=--flash-attn=on,off -c 4

  # Only settings whose latency meets an SLO are recommended
  llmload sweep -m llama3.2:1b --num-parallel 1,2,4 -c 4,8 --slo ttft_p95=2s,e2e_p95=30s

  # A server you run yourself: label each run, then compare the files with 'llmload report'
  OLLAMA_NUM_PARALLEL=4 ollama serve &
  llmload sweep --external --label num_parallel=4 -m llama3.2:1b -c 1,4,8 -o np4.json`

// newSweepCmd builds `llmload sweep`. sweepF, when set, gets the options instead of running
// them.
func newSweepCmd(sys *system, sweepF func(*sweepOptions) error) *cobra.Command {
	o := &sweepFlags{}
	cmd := &cobra.Command{
		Use:   "sweep",
		Short: "Compare OLLAMA_NUM_PARALLEL settings: queueing, throughput, GPU memory, and a recommendation",
		Long: `Run the same seeded workload against Ollama once per OLLAMA_NUM_PARALLEL setting and compare:
total and per-request tokens/s, TTFT and E2E percentiles, queue wait and its share of E2E,
effective parallelism against the setting, GPU memory and MiB per extra slot, and the setting
with the highest throughput whose latency meets --slo (with the knee where throughput stops
growing).

Managed mode (the default) starts 'ollama serve' itself for each setting on a free loopback
port, with OLLAMA_NUM_PARALLEL=k, OLLAMA_KEEP_ALIVE=-1 and your models folder; preloads every
model of the mix; checks in the server log that the runner really got k slots (and, from
Ollama 0.30 on, the context each slot got); runs the stages; and stops the server (SIGTERM, then
SIGKILL), also on Ctrl-C or a failure. Server logs are kept next to the results.
--server llama-server does the same with llama.cpp's llama-server: -np k, -c = --slot-context × k,
--metrics, the slots checked in its /props. --sim does it with the built-in simulator;
--external measures a server you run yourself, once, under the labels you give.

--set NAME=V1,V2 varies any server setting, as llama-bench takes its lists: an OLLAMA_*
variable (OLLAMA_MAX_LOADED_MODELS, OLLAMA_MAX_QUEUE, OLLAMA_CONTEXT_LENGTH,
OLLAMA_KV_CACHE_TYPE, OLLAMA_FLASH_ATTENTION …; on --sim those the simulator models) or a flag
of llama-server (--set=-np=1,2, --set=--flash-attn=on,off). Several vary together as every
combination; each run is labelled by every setting (max_loaded_models=1, num_parallel=2 …).

--rounds N runs every setting once per round, each round in an order rotated by one (1,2,4 ·
2,4,1 · 4,1,2), so that a machine that slows down or speeds up hits every setting alike; each
(setting, round) is a run of its own, labelled round=r. The comparison then gives each setting's
median over the rounds with its distribution-free interval, counts a gain only when it is
significant across rounds (Mann-Whitney, α = 0.05: it takes 4 rounds to ever get there) and
says how sure the recommendation is. Every run measures a control, a lone request's decode
rate at concurrency 1 (the plan's c=1 stage, or a probe of a few requests): the settings do
not change it, so when a run's control lies more than 15 % from the runs' median, or the
machine was busy with other work, or a lone request took 5× the median, the runs are noisy
and the answer says so first.

Each setting warms every slot first (--warmup defaults to the setting) because the first burst
after a load is slower.

` + planRule + `
` + metricHelp,
		Example: sweepExamples,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := o.options(sys, cmd.Flags().Changed)
			if err != nil {
				return err
			}
			if sweepF != nil {
				return sweepF(opts)
			}
			return runSweep(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	o.runFlags.register(f)
	f.IntSliceVar(&o.numParallel, "num-parallel", nil, "OLLAMA_NUM_PARALLEL settings to compare, e.g. 1,2,4,8")
	f.StringArrayVar(&o.set, "set", nil, "a server setting to vary, NAME=V1,V2: an OLLAMA_* variable, or a llama-server flag (--set=-np=1,2); repeat for every combination")
	f.IntVar(&o.rounds, "rounds", 1, "run every setting once per round, in a rotated order, N rounds (4 or more to tell settings apart with significance)")
	f.StringVar(&o.server, "server", serve.KindOllama.String(), "the server a managed sweep starts: ollama or llama-server")
	f.StringVar(&o.ollama, "ollama", "", "the ollama binary (default: ollama on $PATH)")
	f.StringVar(&o.llamaServer, "llama-server", "", "the llama-server binary, with --server llama-server (default: llama-server on $PATH)")
	f.StringVar(&o.modelFile, "model-file", "", "the GGUF file llama-server serves (its -m), with --server llama-server")
	f.IntVar(&o.slotContext, "slot-context", 0, "llama-server: context per slot; it starts with -c = this × NUM_PARALLEL (default: the num_ctx option, else 4096)")
	f.StringArrayVar(&o.serverArgs, "server-arg", nil, "extra argument for the llama-server llmload starts, e.g. --server-arg=--flash-attn (repeatable)")
	f.StringVar(&o.modelsDir, "models-dir", "", "OLLAMA_MODELS for the servers llmload starts (default: yours)")
	f.StringArrayVar(&o.serverEnv, "server-env", nil, "extra KEY=VALUE for the servers llmload starts, e.g. OLLAMA_FLASH_ATTENTION=1 (repeatable)")
	f.BoolVar(&o.external, "external", false, "measure a server you started yourself (at --url), labelled with --label")
	f.StringVar(&o.slo, "slo", "", "objective the recommendation must meet, METRIC=LIMIT with the metric names of 'llmload gate', e.g. ttft_p95=2s,errors.rate=1%")
	f.DurationVar(&o.readyTimeout, "ready-timeout", time.Minute, "how long a started server may take to answer")
	return cmd
}

// serverFlags start a server: a managed sweep's, not --sim's or --external's.
var serverFlags = []string{"server", "ollama", "llama-server", "model-file", "slot-context", "server-arg", "models-dir", "server-env", "ready-timeout"}

// firstChanged is the first of names that was given, or "".
func firstChanged(changed func(string) bool, names ...string) string {
	for _, n := range names {
		if changed(n) {
			return n
		}
	}
	return ""
}

// options checks sweep's flags and builds what it does. Every flag it registers is either
// applied or refused, never ignored.
func (o *sweepFlags) options(sys *system, changed func(string) bool) (*sweepOptions, error) {
	slo, err := analysis.ParseSLO(o.slo)
	if err != nil {
		return nil, usageErrorf("--slo: %v", err)
	}
	for _, kv := range o.serverEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, usageErrorf("--server-env %q: want KEY=VALUE", kv)
		}
	}
	if o.external {
		if len(o.numParallel) > 0 {
			return nil, usageErrorf("--external measures the one server you run: give its setting with --label num_parallel=N, not --num-parallel")
		}
		if o.sim.enabled {
			return nil, usageErrorf("--external and --sim exclude each other")
		}
		if n := firstChanged(changed, serverFlags...); n != "" {
			return nil, usageErrorf("--%s is for a server llmload starts; --external measures the one you run", n)
		}
		if changed("slo") {
			return nil, usageErrorf("--slo judges the settings of one sweep; compare --external runs with 'llmload report --slo'")
		}
		if changed("set") {
			return nil, usageErrorf("--set starts servers with its settings; --external measures the one you run: give its settings with --label")
		}
		if changed("rounds") {
			return nil, usageErrorf("--rounds interleaves the settings of servers llmload starts; against the one server you run, repeat it with --repeat N (or run each setting in turn with --label round=R)")
		}
		run, err := o.runFlags.options(sys, changed)
		if err != nil {
			return nil, err
		}
		return &sweepOptions{sys: sys, external: run, quiet: o.quiet, noProgress: o.noProgress}, nil
	}
	if len(o.numParallel) == 0 && len(o.set) == 0 {
		return nil, usageErrorf("--num-parallel or --set is required, e.g. --num-parallel 1,2,4,8 (or --external for a server you run)")
	}
	for _, k := range o.numParallel {
		if k < 1 {
			return nil, usageErrorf("--num-parallel values must be at least 1, got %d", k)
		}
	}
	if o.rounds < 1 {
		return nil, usageErrorf("--rounds must be at least 1, got %d", o.rounds)
	}
	if changed("url") {
		return nil, usageErrorf("--url is for --external: a sweep starts its own servers")
	}
	if o.sim.enabled && firstChanged(changed, serverFlags...) != "" {
		return nil, usageErrorf("--server, --ollama, --llama-server, --model-file, --slot-context, --server-arg, --models-dir, --server-env and --ready-timeout start a real server; they do not apply with --sim")
	}
	kind := serve.Kind(o.server)
	switch kind {
	case serve.KindOllama:
		if changed("llama-server") || changed("model-file") || changed("slot-context") || changed("server-arg") {
			return nil, usageErrorf("--llama-server, --model-file, --slot-context and --server-arg are for --server llama-server")
		}
	case serve.KindLlamaServer:
		if changed("ollama") || changed("models-dir") {
			return nil, usageErrorf("--ollama and --models-dir are for --server ollama")
		}
		if o.modelFile == "" {
			return nil, usageErrorf("--server llama-server needs --model-file: the GGUF file it serves")
		}
		if fi, err := os.Stat(o.modelFile); err != nil || fi.IsDir() {
			return nil, usageErrorf("--model-file %s: not a readable file", o.modelFile)
		}
		if o.slotContext < 0 {
			return nil, usageErrorf("--slot-context must not be negative, got %d", o.slotContext)
		}
		// llama-server serves one model under any name, and speaks OpenAI's protocols only.
		if !changed("api") {
			o.apiName = string(api.OpenAIChat)
		}
		if len(o.models) == 0 && o.bodyFile == "" && o.planFile == "" {
			o.models = []string{strings.TrimSuffix(filepath.Base(o.modelFile), filepath.Ext(o.modelFile))}
		}
	default:
		return nil, usageErrorf("--server %q: want ollama or llama-server", o.server)
	}
	if o.sim.enabled && changed("sim-num-parallel") && len(o.numParallel) > 0 {
		return nil, usageErrorf("--sim-num-parallel does not apply to a sweep of --num-parallel: --num-parallel sets it")
	}
	axes, err := o.axes(kind, changed)
	if err != nil {
		return nil, err
	}
	sc, err := o.session(sys, changed)
	if err != nil {
		return nil, err
	}
	// Every run measures its control: a probe when the plan has no stage at concurrency 1.
	sc.ControlProbe = controlProbe
	work := sc.Workload
	out := newSweepOutput(o.output, sys.now)
	cfg := serve.SweepConfig{
		Points:        serve.Product(axes),
		Rounds:        o.rounds,
		Session:       sc,
		WarmupPerSlot: !changed("warmup") && !o.planGiven["warmup"] && work.Plan.Warmup > 0,
		Output:        out.results,
		Records:       o.records,
	}
	switch {
	case o.sim.enabled:
		simCfg, notes, err := o.sim.config(work.Plan)
		if err != nil {
			return nil, err
		}
		cfg.Session.Notes = append(cfg.Session.Notes, notes...)
		cfg.Launcher = &serve.SimLauncher{Config: simCfg, WholeReplies: wholeReplies(work.Plan)}
	case kind == serve.KindLlamaServer:
		for _, t := range work.Plan.Mix {
			if api.API(t.API).IsOllama() {
				return nil, usageErrorf("--api %s: llama-server speaks the OpenAI protocols only (openai-chat, openai-completions)", t.API)
			}
		}
		path, err := sys.lookPath(cmp.Or(o.llamaServer, "llama-server"))
		if err != nil {
			return nil, usageErrorf("--llama-server: %v (build llama.cpp's llama-server, or point --llama-server at it; --sim needs neither)", err)
		}
		ctx := cmp.Or(o.slotContext, work.Plan.NumCtx(), 4096)
		cfg.Launcher = &serve.ProcessLauncher{
			Config: serve.Config{Kind: kind, Binary: path, Args: append([]string{"-m", o.modelFile}, o.serverArgs...),
				SlotContext: ctx, Env: sys.environ(), Extra: o.serverEnv, ReadyTimeout: o.readyTimeout},
			LogPath: out.logPath,
		}
	default:
		path, err := sys.lookPath(cmp.Or(o.ollama, "ollama"))
		if err != nil {
			return nil, usageErrorf("--ollama: %v (install Ollama, or point --ollama at its binary; --sim needs neither)", err)
		}
		env := sys.environ()
		if o.modelsDir != "" {
			env = append(env, "OLLAMA_MODELS="+o.modelsDir)
		}
		cfg.Launcher = &serve.ProcessLauncher{
			Config:  serve.Config{Binary: path, Env: env, Extra: o.serverEnv, ReadyTimeout: o.readyTimeout},
			LogPath: out.logPath,
		}
	}
	opts := &sweepOptions{sys: sys, sweep: cfg, output: out, slo: slo, quiet: o.quiet, noProgress: o.noProgress}
	if err := checkOverlap(opts.outputs(), o.runInputs(work)); err != nil {
		return nil, err
	}
	return opts, nil
}

// outputs are the files the sweep writes: a results file per setting and round (or one for
// all) and a records file per setting and round.
func (o *sweepOptions) outputs() []namedPath {
	var out []namedPath
	if o.output.dir == "" {
		out = append(out, namedPath{"-o", o.output.file})
	}
	for _, p := range o.sweep.Points {
		for _, round := range sweepRounds(o.sweep.Rounds) {
			if o.output.dir != "" {
				out = append(out, namedPath{"-o", o.output.resultsPath(p, round)})
			}
			if o.sweep.Records != "" {
				out = append(out, namedPath{"--records", serve.RecordsPath(o.sweep.Records, p, round)})
			}
		}
	}
	return out
}

// sweepRounds are the rounds a sweep labels its runs with: 0 alone when it runs one round.
func sweepRounds(n int) []int {
	if n <= 1 {
		return []int{0}
	}
	rounds := make([]int, n)
	for i := range rounds {
		rounds[i] = i + 1
	}
	return rounds
}

// controlProbe is how many requests a sweep's run sends one at a time for its control when
// its plan has no stage at concurrency 1: enough for a median and an outlier beside it.
const controlProbe = 4

// axes are the settings the sweep varies: --num-parallel, then every --set in the order given.
// A setting given twice, or both varied and fixed by --server-env, --server-arg or a --sim
// flag, is refused.
func (o *sweepFlags) axes(kind serve.Kind, changed func(string) bool) ([]serve.Axis, error) {
	var axes []serve.Axis
	if len(o.numParallel) > 0 {
		axes = append(axes, serve.NumParallelAxis(kind, o.numParallel...))
	}
	for _, spec := range o.set {
		a, err := serve.ParseAxis(kind, o.sim.enabled, spec)
		if err != nil {
			return nil, usageErrorf("--set %v", err)
		}
		for _, have := range axes {
			if have.Label == a.Label {
				what := "--set " + have.Name
				if have.Label == serve.LabelNumParallel && len(o.numParallel) > 0 {
					what = "--num-parallel"
				}
				return nil, usageErrorf("--set %s: %s already varies it", a.Name, what)
			}
		}
		for _, kv := range o.serverEnv {
			if k, _, _ := strings.Cut(kv, "="); k == a.Name {
				return nil, usageErrorf("--set %s varies what --server-env %s fixes: give one of them", a.Name, kv)
			}
		}
		for _, arg := range o.serverArgs {
			if arg == a.Name || strings.HasPrefix(arg, a.Name+"=") {
				return nil, usageErrorf("--set %s varies what --server-arg %s fixes: give one of them", a.Name, arg)
			}
		}
		for name, flag := range map[string]string{"OLLAMA_MAX_LOADED_MODELS": "sim-max-loaded-models", "OLLAMA_MAX_QUEUE": "sim-max-queue", "OLLAMA_NUM_PARALLEL": "sim-num-parallel"} {
			if o.sim.enabled && a.Name == name && changed(flag) {
				return nil, usageErrorf("--set %s varies what --%s fixes: give one of them", a.Name, flag)
			}
		}
		axes = append(axes, a)
	}
	return axes, nil
}

// runSweep runs the sweep (or, with --external, the one run), then prints each run's summary
// and the comparison of the settings.
func runSweep(ctx context.Context, o *sweepOptions) error {
	s := o.sys.streams
	if o.external != nil {
		if _, ok := o.external.session.Labels["num_parallel"]; !ok && !o.quiet {
			fmt.Fprintln(s.err, "note: no --label num_parallel=N: 'llmload report' compares runs by that label")
		}
		return runRun(ctx, o.external)
	}
	if err := checkWritable(o.outputs()...); err != nil {
		return err
	}
	ctx, hardStop, stop := interruptContexts(ctx, s, o.quiet)
	defer stop()
	cfg := o.sweep
	cfg.Session.HardStop = hardStop
	cfg.Session.Hooks = progressHooks(s, cfg.Session.Workload.Plan, o.quiet || o.noProgress)
	var held []string
	cfg.OnEvent = func(e serve.Event) {
		if o.quiet {
			return
		}
		detail := e.Detail
		switch e.Phase {
		case serve.PhaseReady, serve.PhaseStopped:
			return // the start said it, the next start or the end says it
		case serve.PhaseLoaded, serve.PhaseVerified:
			// Said with the start of the stages: two lines a run, not six.
			held = append(held, detail)
			return
		case serve.PhaseRunning:
			detail = strings.Join(append(held, detail), "; ")
			held = nil
		}
		fmt.Fprintf(s.err, "[%s] %s\n", pointTitle(e.Point, e.Round, cfg.Rounds, 0, 0), printable.Line(detail)) // it may quote the server
	}
	runs, err := serve.Sweep(ctx, cfg)
	if len(runs) > 0 {
		// The answer first (the comparison and its recommendation), then each setting in
		// short; every figure is in the results files and their report.
		if err := report.WriteComparison(s.out, analysis.Compare(runs, "", o.slo)); err != nil {
			return err
		}
		if cfg.Rounds > 1 || cfg.Session.Repeat > 1 {
			// Several runs per setting: the comparison gave their medians; a line each
			// shows how they spread and which were noisy.
			titles := make([]string, len(runs))
			for i, run := range runs {
				p, round := runPoint(run)
				titles[i] = pointTitle(p, round, cfg.Rounds, run.Repeat, cfg.Session.Repeat)
			}
			fmt.Fprintf(s.out, "\nEach run, in the order it ran\n\n")
			if err := report.WriteRunList(s.out, runs, titles); err != nil {
				return err
			}
		} else {
			shown := shownNotes{}
			for _, run := range runs {
				p, round := runPoint(run)
				fmt.Fprintf(s.out, "\n=== %s ===\n", pointTitle(p, round, cfg.Rounds, run.Repeat, cfg.Session.Repeat))
				if err := report.WriteBrief(s.out, shown.fresh(run)); err != nil {
					return err
				}
			}
		}
		fmt.Fprintf(s.out, "\nEvery stage in detail, with charts:\n  llmload report %s -o REPORT.md\n", o.output.reportArgs(cfg.Points))
		if !o.quiet {
			fmt.Fprintf(s.err, "results written to %s\n", o.output.describe())
			if cfg.Records != "" {
				var names []string
				for _, run := range runs {
					p, round := runPoint(run)
					if name := serve.RecordsPath(cfg.Records, p, round); !slices.Contains(names, name) {
						names = append(names, name)
					}
				}
				fmt.Fprintf(s.err, "records written to %s\n", strings.Join(names, ", "))
			}
		}
	}
	var rate *bench.ErrorRateError
	if err != nil && !errors.Is(err, bench.ErrInterrupted) && !errors.As(err, &rate) {
		return fmt.Errorf("sweep stopped: %w", err)
	}
	return err
}

// runPoint is the point and round a sweep's run measured.
func runPoint(run *results.Run) (serve.Point, int) {
	round, _ := strconv.Atoi(run.Labels[results.LabelRound])
	if run.Server == nil {
		return nil, round
	}
	return serve.Point(run.Server.Settings), round
}

// pointTitle heads a point's lines: "NUM_PARALLEL=4", "MAX_LOADED_MODELS=1 NUM_PARALLEL=2, round
// 2/5, repeat 1/3".
func pointTitle(p serve.Point, round, rounds, repeat, repeats int) string {
	var parts []string
	for _, st := range p {
		parts = append(parts, strings.ToUpper(st.Label)+"="+st.Value)
	}
	t := strings.Join(parts, " ")
	var more []string
	if round > 0 {
		more = append(more, fmt.Sprintf("round %d/%d", round, rounds))
	}
	if repeat > 0 {
		more = append(more, fmt.Sprintf("repeat %d/%d", repeat, repeats))
	}
	if len(more) > 0 {
		t += " (" + strings.Join(more, ", ") + ")"
	}
	return t
}

// sweepOutput decides where a sweep's files go: a folder (one results file and one server log
// per setting and round) when -o names a folder, else one results file with every run and the
// logs beside it.
type sweepOutput struct {
	dir  string // results folder, when -o is one
	file string // single results file otherwise
	all  *bench.ResultsFile
}

func newSweepOutput(o string, now func() time.Time) *sweepOutput {
	if o == "" {
		return &sweepOutput{dir: "llmload-sweep-" + now().Format("20060102-150405")}
	}
	if strings.HasSuffix(o, "/") || strings.HasSuffix(o, string(filepath.Separator)) {
		return &sweepOutput{dir: filepath.Clean(o)}
	}
	if fi, err := os.Stat(o); err == nil && fi.IsDir() {
		return &sweepOutput{dir: o}
	}
	return &sweepOutput{file: o}
}

// resultsPath is the results file of a setting in a round, in the folder.
func (w *sweepOutput) resultsPath(p serve.Point, round int) string {
	return filepath.Join(w.dir, p.FileName(round)+".json")
}

func (w *sweepOutput) logPath(p serve.Point, round int) string {
	if w.dir != "" {
		return filepath.Join(w.dir, "server-"+p.FileName(round)+".log")
	}
	return strings.TrimSuffix(w.file, filepath.Ext(w.file)) + "-server-" + p.FileName(round) + ".log"
}

// results is the results file of a setting in a round: its own in the folder, or the one file
// every run is added to. The session writes it after every run, so a crash or an interrupt
// later in the sweep loses nothing already measured.
func (w *sweepOutput) results(p serve.Point, round int) *bench.ResultsFile {
	if w.dir != "" {
		return bench.NewResultsFile(w.resultsPath(p, round), tool())
	}
	if w.all == nil {
		w.all = bench.NewResultsFile(w.file, tool())
	}
	return w.all
}

// reportArgs are the results files as 'llmload report' takes them: in a folder, those named
// by the first setting varied.
func (w *sweepOutput) reportArgs(points []serve.Point) string {
	if w.dir == "" {
		return w.file
	}
	if len(points) > 0 && len(points[0]) > 0 {
		return filepath.Join(w.dir, points[0][0].Label+"-*.json")
	}
	return filepath.Join(w.dir, "*.json")
}

func (w *sweepOutput) describe() string {
	if w.dir != "" {
		return w.dir + string(filepath.Separator)
	}
	return w.file
}

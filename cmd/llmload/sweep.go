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
	"github.com/llmload/llmload/bench/serve"
	"github.com/llmload/llmload/report"
	"github.com/llmload/llmload/report/analysis"
	"github.com/llmload/llmload/report/printable"
)

// sweepFlags are the flags of `llmload sweep`, as given: run's, and the servers' it starts.
type sweepFlags struct {
	runFlags
	numParallel  []int
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
		run, err := o.runFlags.options(sys, changed)
		if err != nil {
			return nil, err
		}
		return &sweepOptions{sys: sys, external: run, quiet: o.quiet, noProgress: o.noProgress}, nil
	}
	if len(o.numParallel) == 0 {
		return nil, usageErrorf("--num-parallel is required, e.g. --num-parallel 1,2,4,8 (or --external for a server you run)")
	}
	for _, k := range o.numParallel {
		if k < 1 {
			return nil, usageErrorf("--num-parallel values must be at least 1, got %d", k)
		}
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
	if o.sim.enabled && changed("sim-num-parallel") {
		return nil, usageErrorf("--sim-num-parallel does not apply to a sweep: --num-parallel sets it")
	}
	sc, err := o.session(sys, changed)
	if err != nil {
		return nil, err
	}
	work := sc.Workload
	out := newSweepOutput(o.output, sys.now)
	cfg := serve.SweepConfig{
		Settings:      o.numParallel,
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

// outputs are the files the sweep writes: a results file per setting (or one for all) and
// a records file per setting.
func (o *sweepOptions) outputs() []namedPath {
	out := o.output.paths(o.sweep.Settings)
	if o.sweep.Records != "" {
		for _, k := range slices.Compact(slices.Sorted(slices.Values(o.sweep.Settings))) {
			out = append(out, namedPath{"--records", serve.RecordsPath(o.sweep.Records, k)})
		}
	}
	return out
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
	cfg.OnEvent = func(e serve.Event) {
		if !o.quiet {
			fmt.Fprintf(s.err, "[NUM_PARALLEL=%d] %s\n", e.NumParallel, printable.Line(e.Detail)) // it may quote the server
		}
	}
	runs, err := serve.Sweep(ctx, cfg)
	if len(runs) > 0 {
		// The answer first (the comparison and its recommendation), then each setting in
		// short; every figure is in the results files and their report.
		if err := report.WriteComparison(s.out, analysis.Compare(runs, analysis.DefaultBy, o.slo)); err != nil {
			return err
		}
		shown := shownNotes{}
		for _, run := range runs {
			fmt.Fprintf(s.out, "\n=== NUM_PARALLEL=%s", run.Labels["num_parallel"])
			if run.Repeat > 0 {
				fmt.Fprintf(s.out, " (repeat %d/%d)", run.Repeat, cfg.Session.Repeat)
			}
			fmt.Fprintln(s.out, " ===")
			if err := report.WriteBrief(s.out, shown.fresh(run)); err != nil {
				return err
			}
		}
		fmt.Fprintf(s.out, "\nEvery stage in detail, with charts:\n  llmload report %s -o REPORT.md\n", o.output.reportArgs())
		if !o.quiet {
			fmt.Fprintf(s.err, "results written to %s\n", o.output.describe())
			if cfg.Records != "" {
				var names []string
				for _, run := range runs {
					if name := serve.RecordsPath(cfg.Records, run.Server.NumParallel); !slices.Contains(names, name) {
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

// sweepOutput decides where a sweep's files go: a folder (one results file and one server log
// per setting) when -o names a folder, else one results file with a run per setting and the
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

// paths are the results files of the settings given.
func (w *sweepOutput) paths(settings []int) []namedPath {
	if w.dir == "" {
		return []namedPath{{"-o", w.file}}
	}
	var out []namedPath
	for _, k := range slices.Compact(slices.Sorted(slices.Values(settings))) {
		out = append(out, namedPath{"-o", w.resultsPath(k)})
	}
	return out
}

func (w *sweepOutput) resultsPath(k int) string {
	return filepath.Join(w.dir, "num_parallel-"+strconv.Itoa(k)+".json")
}

func (w *sweepOutput) logPath(k int) string {
	if w.dir != "" {
		return filepath.Join(w.dir, fmt.Sprintf("server-num_parallel-%d.log", k))
	}
	return strings.TrimSuffix(w.file, filepath.Ext(w.file)) + fmt.Sprintf("-server-num_parallel-%d.log", k)
}

// results is the results file of a setting: its own in the folder, or the one file every
// setting adds its runs to. The session writes it after every run, so a crash or an
// interrupt later in the sweep loses nothing already measured.
func (w *sweepOutput) results(k int) *bench.ResultsFile {
	if w.dir != "" {
		return bench.NewResultsFile(w.resultsPath(k), tool())
	}
	if w.all == nil {
		w.all = bench.NewResultsFile(w.file, tool())
	}
	return w.all
}

// reportArgs are the results files as 'llmload report' takes them.
func (w *sweepOutput) reportArgs() string {
	if w.dir != "" {
		return filepath.Join(w.dir, "num_parallel-*.json")
	}
	return w.file
}

func (w *sweepOutput) describe() string {
	if w.dir != "" {
		return w.dir + string(filepath.Separator)
	}
	return w.file
}

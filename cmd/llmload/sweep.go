package main

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/llmload/llmload/bench"
	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/bench/serve"
	"github.com/llmload/llmload/report"
)

type sweepOptions struct {
	runOptions
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

func newSweepCmd(s *streams) *cobra.Command {
	o := &sweepOptions{}
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
` + metricHelp,
		Example: sweepExamples,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSweep(cmd, s, o)
		},
	}
	f := cmd.Flags()
	o.runOptions.register(f)
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
	f.StringVar(&o.slo, "slo", "", "latency objective for the recommendation, e.g. ttft_p95=2s,e2e_p95=30s")
	f.DurationVar(&o.readyTimeout, "ready-timeout", time.Minute, "how long a started server may take to answer")
	return cmd
}

func runSweep(cmd *cobra.Command, s *streams, o *sweepOptions) error {
	changed := cmd.Flags().Changed
	slo, err := report.ParseSLO(o.slo)
	if err != nil {
		return usageErrorf("--slo: %v", err)
	}
	labels, err := parseLabels(o.labels)
	if err != nil {
		return err
	}
	for _, kv := range o.serverEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return usageErrorf("--server-env %q: want KEY=VALUE", kv)
		}
	}
	if o.external {
		if len(o.numParallel) > 0 {
			return usageErrorf("--external measures the one server you run: give its setting with --label num_parallel=N, not --num-parallel")
		}
		if o.sim.enabled {
			return usageErrorf("--external and --sim exclude each other")
		}
		if _, ok := labels["num_parallel"]; !ok && !o.quiet {
			fmt.Fprintln(s.err, "note: no --label num_parallel=N: 'llmload report' compares runs by that label")
		}
		return runRun(cmd, s, &o.runOptions)
	}
	if len(o.numParallel) == 0 {
		return usageErrorf("--num-parallel is required, e.g. --num-parallel 1,2,4,8 (or --external for a server you run)")
	}
	for _, k := range o.numParallel {
		if k < 1 {
			return usageErrorf("--num-parallel values must be at least 1, got %d", k)
		}
	}
	if changed("url") {
		return usageErrorf("--url is for --external: a sweep starts its own servers")
	}
	if o.sim.enabled && (changed("ollama") || changed("models-dir") || changed("server-env") || changed("server") ||
		changed("llama-server") || changed("model-file") || changed("slot-context") || changed("server-arg")) {
		return usageErrorf("--server, --ollama, --llama-server, --model-file, --slot-context, --server-arg, --models-dir and --server-env start a real server; they do not apply with --sim")
	}
	kind := serve.Kind(o.server)
	switch kind {
	case serve.KindOllama:
		if changed("llama-server") || changed("model-file") || changed("slot-context") || changed("server-arg") {
			return usageErrorf("--llama-server, --model-file, --slot-context and --server-arg are for --server llama-server")
		}
	case serve.KindLlamaServer:
		if changed("ollama") || changed("models-dir") {
			return usageErrorf("--ollama and --models-dir are for --server ollama")
		}
		if o.modelFile == "" {
			return usageErrorf("--server llama-server needs --model-file: the GGUF file it serves")
		}
		if fi, err := os.Stat(o.modelFile); err != nil || fi.IsDir() {
			return usageErrorf("--model-file %s: not a readable file", o.modelFile)
		}
		if o.slotContext < 0 {
			return usageErrorf("--slot-context must not be negative, got %d", o.slotContext)
		}
		// llama-server serves one model under any name, and speaks OpenAI's protocols only.
		if !changed("api") {
			o.apiName = string(api.OpenAIChat)
		}
		if len(o.models) == 0 && o.bodyFile == "" && o.planFile == "" {
			o.models = []string{strings.TrimSuffix(filepath.Base(o.modelFile), filepath.Ext(o.modelFile))}
		}
	default:
		return usageErrorf("--server %q: want ollama or llama-server", o.server)
	}
	if o.sim.enabled && changed("sim-num-parallel") {
		return usageErrorf("--sim-num-parallel does not apply to a sweep: --num-parallel sets it")
	}
	work, _, err := o.buildPlan(cmd, os.Getenv)
	if err != nil {
		return err
	}
	plan := work.Plan
	gflags, err := o.gpu.check(o.sim.enabled)
	if err != nil {
		return err
	}
	out := newSweepOutput(o.output)

	var launcher serve.Launcher
	if o.sim.enabled {
		cfg, err := o.sim.config(plan)
		if err != nil {
			return err
		}
		launcher = &serve.SimLauncher{Config: cfg}
	} else if kind == serve.KindLlamaServer {
		for _, t := range work.Plan.Mix {
			if api.API(t.API).IsOllama() {
				return usageErrorf("--api %s: llama-server speaks the OpenAI protocols only (openai-chat, openai-completions)", t.API)
			}
		}
		bin := cmp.Or(o.llamaServer, "llama-server")
		path, err := exec.LookPath(bin)
		if err != nil {
			return usageErrorf("--llama-server: %v (build llama.cpp's llama-server, or point --llama-server at it; --sim needs neither)", err)
		}
		ctx := o.slotContext
		if ctx == 0 {
			ctx = work.Plan.NumCtx()
		}
		if ctx == 0 {
			ctx = 4096
		}
		launcher = &serve.ProcessLauncher{
			Config: serve.Config{Kind: kind, Binary: path, Args: append([]string{"-m", o.modelFile}, o.serverArgs...),
				SlotContext: ctx, Env: os.Environ(), Extra: o.serverEnv, ReadyTimeout: o.readyTimeout},
			LogPath: out.logPath,
		}
	} else {
		bin := cmp.Or(o.ollama, "ollama")
		path, err := exec.LookPath(bin)
		if err != nil {
			return usageErrorf("--ollama: %v (install Ollama, or point --ollama at its binary; --sim needs neither)", err)
		}
		env := os.Environ()
		if o.modelsDir != "" {
			env = append(env, "OLLAMA_MODELS="+o.modelsDir)
		}
		launcher = &serve.ProcessLauncher{
			Config:  serve.Config{Binary: path, Env: env, Extra: o.serverEnv, ReadyTimeout: o.readyTimeout},
			LogPath: out.logPath,
		}
	}
	if err := out.prepare(); err != nil {
		return err
	}

	ctx, hardStop, stop := interruptContexts(cmd.Context(), s, o.quiet)
	defer stop()
	maxConns := 64
	for _, st := range plan.Stages {
		maxConns = max(maxConns, st.Concurrency, st.MaxConcurrency)
	}
	for _, k := range o.numParallel {
		maxConns = max(maxConns, k*len(plan.Models()))
	}
	headers, err := parseHeaders(o.headers)
	if err != nil {
		return err
	}
	live := &bench.Live{}
	var prog *progress
	file := &results.File{Schema: results.Schema, Tool: results.Tool{Name: "llmload", Version: toolVersion(), GoVersion: runtime.Version()}}
	runs, sweepErr := serve.Sweep(ctx, serve.SweepConfig{
		Settings: o.numParallel,
		Workload: work,
		Launcher: launcher,
		NewClient: func(url string) *api.Client {
			return api.New(api.Config{
				BaseURL: url, MaxConns: maxConns, Header: headers,
				TotalTimeout: time.Duration(plan.Timeout), FirstByteTimeout: time.Duration(plan.FirstByteTimeout), StallTimeout: time.Duration(plan.StallTimeout),
			})
		},
		WarmupPerSlot: !changed("warmup") && plan.Warmup > 0,
		GPUMode:       gflags.mode,
		GPUInterval:   gflags.interval,
		GPUIndices:    gflags.indices,
		Labels:        labels,
		RunOptions: bench.Options{
			Live: live, Grace: o.grace, HardStop: hardStop,
			OnStage: func(i int, st results.Stage) {
				if prog != nil {
					prog.stage(i, st)
				}
			},
		},
		OnEvent: func(e serve.Event) {
			if e.Phase == "running" {
				prog = newProgress(s, plan, live, o.quiet || o.noProgress)
			}
			if e.Phase == "stopped" && prog != nil {
				prog.finish()
				prog = nil
			}
			if !o.quiet {
				fmt.Fprintf(s.err, "[NUM_PARALLEL=%d] %s\n", e.NumParallel, e.Detail)
			}
		},
		OnRun: func(run *results.Run) error {
			run.Host = hostInfo()
			file.Runs = append(file.Runs, run)
			return out.write(file, run)
		},
	})
	if prog != nil {
		prog.finish()
	}
	interrupted := ctx.Err() != nil
	if sweepErr != nil && !interrupted {
		fmt.Fprintf(s.err, "llmload: sweep stopped: %v\n", sweepErr)
	}
	if len(runs) > 0 {
		for _, run := range runs {
			fmt.Fprintf(s.out, "\n=== NUM_PARALLEL=%s ===\n", run.Labels["num_parallel"])
			if err := report.WriteSummary(s.out, run); err != nil {
				return err
			}
		}
		fmt.Fprintln(s.out)
		if err := report.WriteComparison(s.out, report.Compare(runs, report.DefaultBy, slo)); err != nil {
			return err
		}
		if !o.quiet {
			fmt.Fprintf(s.err, "results written to %s\n", out.describe())
		}
	}
	switch {
	case interrupted:
		return &exitError{code: exitInterrupted, err: errors.New("interrupted: results hold the settings measured so far")}
	case sweepErr != nil:
		return &exitError{code: exitFailed, err: sweepErr}
	}
	var failed, total int
	for _, run := range runs {
		for _, st := range run.Stages {
			total += st.Requests.Total
			failed += st.Requests.Total - st.Requests.OK
		}
	}
	if total > 0 && float64(failed)/float64(total) > o.maxErrorRate {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d of %d requests failed (more than --max-error-rate %.1f%%)", failed, total, 100*o.maxErrorRate)}
	}
	return nil
}

// sweepOutput decides where a sweep's files go: a folder (one results file and one server log
// per setting) when -o names a folder, else one results file with a run per setting and the
// logs beside it.
type sweepOutput struct {
	dir  string // results folder, when -o is one
	file string // single results file otherwise
}

func newSweepOutput(o string) *sweepOutput {
	if o == "" {
		return &sweepOutput{dir: "llmload-sweep-" + time.Now().Format("20060102-150405")}
	}
	if strings.HasSuffix(o, "/") || strings.HasSuffix(o, string(filepath.Separator)) {
		return &sweepOutput{dir: filepath.Clean(o)}
	}
	if fi, err := os.Stat(o); err == nil && fi.IsDir() {
		return &sweepOutput{dir: o}
	}
	return &sweepOutput{file: o}
}

func (w *sweepOutput) prepare() error {
	dir := cmp.Or(w.dir, filepath.Dir(w.file))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usageErrorf("-o: %v", err)
	}
	return nil
}

func (w *sweepOutput) logPath(k int) string {
	if w.dir != "" {
		return filepath.Join(w.dir, fmt.Sprintf("server-num_parallel-%d.log", k))
	}
	return strings.TrimSuffix(w.file, filepath.Ext(w.file)) + fmt.Sprintf("-server-num_parallel-%d.log", k)
}

// write stores what has been measured so far; called after every setting, so a crash or an
// interrupt later in the sweep loses nothing already measured.
func (w *sweepOutput) write(all *results.File, run *results.Run) error {
	if w.dir == "" {
		return all.Write(w.file)
	}
	one := &results.File{Schema: all.Schema, Tool: all.Tool, Runs: []*results.Run{run}}
	return one.Write(filepath.Join(w.dir, "num_parallel-"+run.Labels["num_parallel"]+".json"))
}

func (w *sweepOutput) describe() string {
	if w.dir != "" {
		return w.dir + string(filepath.Separator)
	}
	return w.file
}

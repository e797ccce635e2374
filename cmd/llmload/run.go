package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/llmload/llmload/bench"
	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/bench/serve"
	"github.com/llmload/llmload/bench/sim"
	"github.com/llmload/llmload/gpu"
	"github.com/llmload/llmload/report"
)

// runOptions is everything `llmload run` takes from its flags.
type runOptions struct {
	url            string
	apiName        string
	models         []string
	prompt         string
	promptFile     string
	syntheticWords int
	bodyFile       string
	maxTokens      int
	noStream       bool
	options        []string
	requests       int
	concurrency    []int
	duration       time.Duration
	rates          []float64
	arrival        string
	maxConcurrency int
	warmup         int
	timeout        time.Duration
	firstByte      time.Duration
	stall          time.Duration
	seed           uint64
	planFile       string
	output         string
	records        string
	labels         []string
	headers        []string
	gpu            gpuFlags
	quiet          bool
	noProgress     bool
	grace          time.Duration
	maxErrorRate   float64
	repeat         int

	sim simFlags
}

const runExamples = `  # The course exercise: the same 10 requests sequentially, then 10 at once; speed-up shown
  llmload run -m llama3.2:1b -p "Count to 100" -n 10 -c 1,10

  # ab-style: the same request.json that 'ab -p' takes
  llmload run -m llama3.2:1b --body request.json -n 50 -c 10

  # Stages x weighted mix from a YAML plan; every request to a JSONL file
  llmload run --plan plan.yaml -o results.json --records records.jsonl

  # An OpenAI-compatible server (llama-server, vLLM, LM Studio) for a minute at 8-way
  llmload run --api openai-chat --url http://127.0.0.1:8080 -m qwen -c 8 -d 60s

  # Open loop: 2 requests/s with Poisson arrivals for two minutes
  llmload run -m llama3.2:1b --rate 2 --arrival poisson -d 2m

  # No server at hand: the built-in simulator
  llmload run --sim -c 1,2,4,8 -n 32`

const metricHelp = `
Metrics (all latencies in the summary and results file are milliseconds):
  E2E      intended send -> last byte (open loop: from the scheduled time, so a slow server
           cannot hide its delay). Service time: actual send -> last byte.
  TTFT     send -> first chunk carrying generated (or thinking) text, timed when bytes arrive.
  ITL      gaps between consecutive content chunks, pooled over requests.
  TPOT     per request (last byte - first token) / (output tokens - 1).
  tok/s    output tokens / stage wall time; decode tok/s per request = tokens / (E2E - TTFT).
  Output tokens are the server's count (eval_count, usage.completion_tokens) when it gives one.
  Queue wait (Ollama) = total - load - prompt_eval - eval, minus the same residual measured at
           concurrency 1 (the fixed overhead). Above NUM_PARALLEL=1 it also holds batch sharing.
  Effective parallelism = sum of service times / wall time (Little's law).`

func newRunCmd(s *streams) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:     "run",
		Short:   "Run one load test and write a results file",
		Long:    "Run one load test: stages of closed-loop (-c) or open-loop (--rate) load over a weighted\nrequest mix, a terminal summary per stage, and a JSON results file.\n" + metricHelp,
		Example: runExamples,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRun(cmd, s, o)
		},
	}
	o.register(cmd.Flags())
	return cmd
}

// register adds the workload flags that run and sweep share.
func (o *runOptions) register(f *pflag.FlagSet) {
	f.StringVar(&o.url, "url", "", "server base URL (default $OLLAMA_HOST or http://127.0.0.1:11434)")
	f.StringVar(&o.apiName, "api", string(api.OllamaGenerate), "protocol: ollama-generate, ollama-chat, openai-chat or openai-completions")
	f.StringArrayVarP(&o.models, "model", "m", nil, "model to load-test; repeat for a mix, NAME=WEIGHT to weight it")
	f.StringVarP(&o.prompt, "prompt", "p", "", "prompt text")
	f.StringVar(&o.promptFile, "prompt-file", "", "prompt from a file; a .jsonl file holds one prompt per line")
	f.IntVar(&o.syntheticWords, "synthetic-words", 0, "synthetic prompts of N random words, different per request")
	f.StringVar(&o.bodyFile, "body", "", "send this JSON file as the request body, as 'ab -p' does")
	f.IntVar(&o.maxTokens, "max-tokens", 128, "output tokens per request (num_predict / max_tokens); 0 = server default")
	f.BoolVar(&o.noStream, "no-stream", false, "ask for whole replies (stream:false); TTFT and ITL are then not measured")
	f.StringArrayVar(&o.options, "option", nil, "model option KEY=VALUE sent on every request, e.g. num_ctx=2048, temperature=0 (repeatable)")
	f.IntVarP(&o.requests, "requests", "n", 0, "requests per stage (default 10 when no --duration)")
	f.IntSliceVarP(&o.concurrency, "concurrency", "c", nil, "closed-loop workers; a list gives one stage each, e.g. 1,2,4,8 (default 1)")
	f.DurationVarP(&o.duration, "duration", "d", 0, "length of each stage, e.g. 60s (requests in flight at the end are awaited)")
	f.Float64SliceVar(&o.rates, "rate", nil, "open loop: arrival `rate`s in requests per second; a list gives one stage each, e.g. 2,4,8")
	f.Lookup("rate").DefValue = "" // no "(default [])" in --help: closed loop is the default
	f.StringVar(&o.arrival, "arrival", "constant", "open-loop arrivals: constant or poisson (seeded)")
	f.IntVar(&o.maxConcurrency, "max-concurrency", 0, "open loop: cap on requests in flight; waiting for a place counts in latency")
	f.IntVar(&o.warmup, "warmup", 1, "warm-up requests per model, sent at once before the first stage and not measured (0 = none)")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "per-request total timeout")
	f.DurationVar(&o.firstByte, "first-byte-timeout", 0, "per-request timeout for the first byte of the reply (default: --timeout)")
	f.DurationVar(&o.stall, "stall-timeout", time.Minute, "a stream that sends nothing for this long is counted as stalled (0 = off)")
	f.Uint64Var(&o.seed, "seed", 1, "seed for the request order, prompts and arrivals")
	f.StringVar(&o.planFile, "plan", "", "YAML plan with stages and a weighted mix (flags given explicitly override it)")
	f.StringVarP(&o.output, "output", "o", "", "results file (default llmload-<timestamp>.json)")
	f.StringVar(&o.records, "records", "", "write every request as one JSON line to this file")
	f.StringArrayVar(&o.labels, "label", nil, "label the run KEY=VALUE, e.g. num_parallel=4 (repeatable)")
	f.StringArrayVar(&o.headers, "header", nil, "extra HTTP header 'Name: value', e.g. an API key (never written to results)")
	f.StringVar(&o.gpu.mode, "gpu", "auto", "GPU sampling: auto (NVML when a driver is present; the simulator's GPU with --sim), off, nvml or sim")
	f.DurationVar(&o.gpu.interval, "gpu-interval", 250*time.Millisecond, "GPU sampling interval")
	f.IntSliceVar(&o.gpu.indices, "gpu-index", nil, "GPUs to sample, e.g. 0,1 (default all)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but the final summary")
	f.BoolVar(&o.noProgress, "no-progress", false, "no progress bar or status lines")
	f.DurationVar(&o.grace, "grace", 10*time.Second, "on Ctrl-C, how long requests in flight may finish (a second Ctrl-C cancels them)")
	f.IntVar(&o.repeat, "repeat", 1, "run the whole plan N times; each repeat is a run of its own in the results file (for 'llmload gate')")
	f.Float64Var(&o.maxErrorRate, "max-error-rate", 0.05, "exit 1 when more than this fraction of requests failed")
	o.sim.register(f)
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q (see '%s --help')", args[0], cmd.CommandPath())
	}
	return nil
}

// buildPlan turns flags (and an optional plan file) into a prepared plan and the target URL.
func (o *runOptions) buildPlan(cmd *cobra.Command, getenv func(string) string) (*bench.Workload, string, error) {
	changed := func(name string) bool { return cmd.Flags().Changed(name) }
	var plan *results.Plan
	target := ""
	dir := ""
	if o.planFile != "" {
		pf, err := bench.LoadPlanFile(o.planFile)
		if err != nil {
			return nil, "", &exitError{code: exitBadInput, err: err}
		}
		plan, target, dir = &pf.Plan, pf.URL, filepath.Dir(o.planFile)
	} else {
		plan = &results.Plan{Warmup: o.warmup, Seed: o.seed}
	}
	if o.planFile == "" || changed("warmup") {
		plan.Warmup = o.warmup
	}
	if o.planFile == "" || changed("seed") {
		plan.Seed = o.seed
	}
	if o.planFile == "" || changed("timeout") {
		plan.Timeout = results.Duration(o.timeout)
	}
	if o.planFile == "" || changed("first-byte-timeout") {
		plan.FirstByteTimeout = results.Duration(o.firstByte)
	}
	if o.planFile == "" || changed("stall-timeout") {
		plan.StallTimeout = results.Duration(o.stall)
	}
	if plan.Timeout == 0 {
		plan.Timeout = results.Duration(5 * time.Minute)
	}
	if plan.FirstByteTimeout == 0 {
		plan.FirstByteTimeout = plan.Timeout
	}

	if o.planFile == "" || changed("concurrency") || changed("rate") || changed("requests") || changed("duration") {
		stages, err := o.stages()
		if err != nil {
			return nil, "", err
		}
		plan.Stages = stages
	}
	if o.planFile == "" || changed("model") || changed("prompt") || changed("prompt-file") || changed("body") || changed("synthetic-words") {
		mix, err := o.mix()
		if err != nil {
			return nil, "", err
		}
		plan.Mix = mix
		dir = ""
	} else if changed("api") || changed("max-tokens") || changed("no-stream") || changed("option") {
		return nil, "", usageErrorf("--api, --max-tokens, --no-stream and --option cannot change a plan file's mix; set them in the plan (or give -m to replace the mix)")
	}
	work, err := bench.Prepare(plan, dir)
	switch {
	case errors.Is(err, bench.ErrNoModel) && dir == "": // the mix came from flags
		return nil, "", usageErrorf("no model: give -m/--model, or a --body file with a \"model\" field")
	case err != nil:
		return nil, "", usageErrorf("%v", err)
	}

	switch {
	case o.url != "":
		target = o.url
	case target != "":
	default:
		target = ollamaHostURL(getenv("OLLAMA_HOST"))
	}
	u, err := normalizeURL(target)
	if err != nil {
		return nil, "", usageErrorf("--url: %v", err)
	}
	return work, u, nil
}

func (o *runOptions) stages() ([]results.Stage, error) {
	if o.requests < 0 {
		return nil, usageErrorf("-n/--requests must be at least 1, got %d", o.requests)
	}
	if o.duration < 0 {
		return nil, usageErrorf("-d/--duration must be positive, got %s", o.duration)
	}
	n := o.requests
	if n == 0 && o.duration == 0 {
		n = 10
	}
	if len(o.rates) > 0 && len(o.concurrency) > 0 {
		return nil, usageErrorf("give either -c (closed loop) or --rate (open loop), not both")
	}
	var out []results.Stage
	for _, r := range o.rates {
		if r <= 0 {
			return nil, usageErrorf("--rate must be a positive number of requests per second, got %v", r)
		}
		arrival := results.Arrival(o.arrival)
		if arrival != results.ArrivalConstant && arrival != results.ArrivalPoisson {
			return nil, usageErrorf("--arrival must be constant or poisson, got %q", o.arrival)
		}
		if o.maxConcurrency < 0 {
			return nil, usageErrorf("--max-concurrency must not be negative")
		}
		out = append(out, results.Stage{Rate: r, Arrival: arrival, MaxConcurrency: o.maxConcurrency, Requests: n, Duration: results.Duration(o.duration)})
	}
	if len(o.rates) == 0 {
		if o.maxConcurrency != 0 {
			return nil, usageErrorf("--max-concurrency applies to open-loop runs (--rate) only")
		}
		cs := o.concurrency
		if len(cs) == 0 {
			cs = []int{1}
		}
		for _, c := range cs {
			if c < 1 {
				return nil, usageErrorf("-c/--concurrency values must be at least 1, got %d", c)
			}
			out = append(out, results.Stage{Concurrency: c, Requests: n, Duration: results.Duration(o.duration)})
		}
	}
	return out, nil
}

func (o *runOptions) mix() ([]*results.Template, error) {
	a, err := api.ParseAPI(o.apiName)
	if err != nil {
		return nil, usageErrorf("--api: %v", err)
	}
	opts, err := parseOptions(o.options)
	if err != nil {
		return nil, err
	}
	if o.maxTokens < 0 {
		return nil, usageErrorf("--max-tokens must not be negative")
	}
	if o.syntheticWords < 0 {
		return nil, usageErrorf("--synthetic-words must not be negative")
	}
	models := o.models
	if len(models) == 0 && o.bodyFile == "" && o.sim.enabled {
		// The simulator serves any name; without one, its first preset (as `llmload sim`).
		models = []string{sim.Presets()[0].Name}
	}
	if len(models) == 0 {
		if o.bodyFile == "" {
			return nil, usageErrorf("no model: give -m/--model (or --body with a \"model\" field, or --plan)")
		}
		models = []string{""}
	}
	var mix []*results.Template
	for _, m := range models {
		name, weight := m, 1.0
		if i := strings.LastIndex(m, "="); i >= 0 {
			w, err := strconv.ParseFloat(m[i+1:], 64)
			if err != nil || w <= 0 {
				return nil, usageErrorf("-m %q: the weight after '=' must be a positive number", m)
			}
			name, weight = m[:i], w
		}
		if name == "" && o.bodyFile == "" {
			return nil, usageErrorf("-m %q: empty model name", m)
		}
		mix = append(mix, &results.Template{
			Name: name, Weight: weight, API: string(a), Model: name,
			Prompt: o.prompt, PromptFile: o.promptFile, SyntheticWords: o.syntheticWords, BodyFile: o.bodyFile,
			MaxTokens: o.maxTokens, Stream: !o.noStream, Options: opts,
		})
	}
	return mix, nil
}

// parseOptions reads KEY=VALUE model options; values are JSON when they parse as JSON
// (numbers, booleans, lists) and strings otherwise.
func parseOptions(kvs []string) (map[string]any, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := map[string]any{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--option %q: want KEY=VALUE, e.g. num_ctx=2048", kv)
		}
		var val any
		if err := json.Unmarshal([]byte(v), &val); err != nil {
			val = v
		}
		out[k] = val
	}
	return out, nil
}

func parseLabels(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--label %q: want KEY=VALUE, e.g. num_parallel=4", kv)
		}
		out[k] = v
	}
	return out, nil
}

func parseHeaders(hs []string) (http.Header, error) {
	out := http.Header{}
	for _, h := range hs {
		k, v, ok := strings.Cut(h, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, usageErrorf("--header %q: want 'Name: value'", h)
		}
		out.Add(k, strings.TrimSpace(v))
	}
	return out, nil
}

// ollamaHostURL reads OLLAMA_HOST the way Ollama's own client does: a bare host or host:port
// means http, and a listen-everywhere address means this machine.
func ollamaHostURL(env string) string {
	env = strings.TrimSpace(env)
	if env == "" {
		return "http://127.0.0.1:11434"
	}
	if !strings.Contains(env, "://") {
		env = "http://" + env
	}
	u, err := url.Parse(env)
	if err != nil {
		return env
	}
	host, port := u.Hostname(), u.Port()
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "11434"
	}
	u.Host = net.JoinHostPort(host, port)
	return u.String()
}

// normalizeURL checks a base URL and strips a trailing slash.
func normalizeURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q has no host", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// redactURL drops credentials from a URL before it is written anywhere.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	u.User = nil
	q := u.Query()
	for k := range q {
		lk := strings.ToLower(k)
		if strings.Contains(lk, "key") || strings.Contains(lk, "token") || strings.Contains(lk, "secret") {
			q.Set(k, "REDACTED")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func runRun(cmd *cobra.Command, s *streams, o *runOptions) error {
	labels, err := parseLabels(o.labels)
	if err != nil {
		return err
	}
	headers, err := parseHeaders(o.headers)
	if err != nil {
		return err
	}
	if o.repeat < 1 {
		return usageErrorf("--repeat must be at least 1, got %d", o.repeat)
	}
	if o.maxErrorRate < 0 || o.maxErrorRate > 1 {
		return usageErrorf("--max-error-rate must be between 0 and 1, got %v", o.maxErrorRate)
	}
	work, target, err := o.buildPlan(cmd, os.Getenv)
	if err != nil {
		return err
	}
	plan := work.Plan
	gflags, err := o.gpu.check(o.sim.enabled)
	if err != nil {
		return err
	}
	output := o.output
	if output == "" {
		output = fmt.Sprintf("llmload-%s.json", time.Now().Format("20060102-150405"))
	}

	ctx, hardStop, stop := interruptContexts(cmd.Context(), s, o.quiet)
	defer stop()

	simulated := false
	var serverInProcess bool
	var gpuSource func() gpu.SimReading
	var serverNotes []string
	if o.sim.enabled {
		srv, err := o.sim.start(ctx, plan)
		if err != nil {
			return err
		}
		defer srv.Stop()
		target, simulated, serverInProcess, gpuSource, serverNotes = srv.URL, true, true, srv.GPU, srv.Notes
	}

	var recordsFile *os.File
	if o.records != "" {
		recordsFile, err = os.Create(o.records)
		if err != nil {
			return usageErrorf("--records: %v", err)
		}
		defer recordsFile.Close()
	}

	maxConns := 0
	for _, st := range plan.Stages {
		maxConns = max(maxConns, st.Concurrency, st.MaxConcurrency)
	}
	maxConns = max(maxConns, plan.Warmup*len(plan.Models()), 64)
	client := api.New(api.Config{
		BaseURL:          target,
		MaxConns:         maxConns,
		Header:           headers,
		TotalTimeout:     time.Duration(plan.Timeout),
		FirstByteTimeout: time.Duration(plan.FirstByteTimeout),
		StallTimeout:     time.Duration(plan.StallTimeout),
	})
	if !o.sim.enabled {
		// `llmload sim` in another process: its results are simulated, and so is its GPU.
		vctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		v, err := client.Version(vctx)
		cancel()
		if err == nil && serve.IsSimulator(v) {
			simulated = true
			if gflags.mode == gpu.ModeAuto {
				gflags.mode, gpuSource = gpu.ModeSim, serve.RemoteSimGPU(target)
			}
		}
	}

	file := &results.File{Schema: results.Schema, Tool: results.Tool{Name: "llmload", Version: toolVersion(), GoVersion: runtime.Version()}}
	for rep := 1; rep <= o.repeat; rep++ {
		if rep > 1 && ctx.Err() != nil {
			break
		}
		if o.repeat > 1 && !o.quiet {
			fmt.Fprintf(s.err, "repeat %d/%d\n", rep, o.repeat)
		}
		start := time.Now()
		gpus, err := gflags.start(ctx, gpuSource, 0, start)
		if err != nil {
			return err
		}
		if !o.quiet && rep == 1 {
			for _, n := range gpus.Notices() {
				fmt.Fprintln(s.err, n)
			}
		}
		live := &bench.Live{}
		prog := newProgress(s, plan, live, o.quiet || o.noProgress)
		run, err := bench.RunPlan(ctx, work, client, bench.Options{
			Records:         recordsWriter(recordsFile),
			Live:            live,
			Grace:           o.grace,
			HardStop:        hardStop,
			OnStage:         prog.stage,
			Start:           start,
			ServerInProcess: serverInProcess,
		})
		prog.finish()
		if err != nil {
			return err
		}
		run.Labels = labels
		if o.repeat > 1 {
			run.Repeat = rep
		}
		run.Target = results.Target{URL: redactURL(target), API: o.targetAPI(plan), Simulated: simulated,
			Sender: client.Sender().Name, SenderReason: client.Sender().Reason}
		run.Host = hostInfo()
		run.Notes = append(run.Notes, serverNotes...)
		describeServer(context.WithoutCancel(ctx), client, run)
		gpus.Finish(run)
		file.Runs = append(file.Runs, run)
		// Written after every repeat: an interrupt or a crash later loses nothing measured.
		if err := file.Write(output); err != nil {
			return err
		}
		if o.repeat > 1 {
			fmt.Fprintf(s.out, "=== repeat %d/%d ===\n", rep, o.repeat)
		}
		if err := report.WriteSummary(s.out, run); err != nil {
			return err
		}
		if run.Interrupted {
			break
		}
	}
	if !o.quiet {
		fmt.Fprintf(s.err, "results written to %s\n", output)
		if o.records != "" {
			fmt.Fprintf(s.err, "records written to %s\n", o.records)
		}
	}
	if last := file.Runs[len(file.Runs)-1]; last.Interrupted {
		return &exitError{code: exitInterrupted, err: errors.New("interrupted: results hold what was measured")}
	}
	for _, run := range file.Runs {
		if err := errorRateCheck(run, o.maxErrorRate); err != nil {
			return err
		}
	}
	return nil
}

func (o *runOptions) targetAPI(plan *results.Plan) string {
	seen := map[string]bool{}
	var names []string
	for _, t := range plan.Mix {
		if !seen[t.API] {
			seen[t.API] = true
			names = append(names, t.API)
		}
	}
	return strings.Join(names, ",")
}

func recordsWriter(f *os.File) interface{ Write([]byte) (int, error) } {
	if f == nil {
		return nil
	}
	return f
}

func errorRateCheck(run *results.Run, maxRate float64) error {
	total, failed := 0, 0
	for _, st := range run.Stages {
		total += st.Requests.Total
		failed += st.Requests.Total - st.Requests.OK
	}
	if total == 0 {
		return &exitError{code: exitFailed, err: errors.New("no request completed")}
	}
	if rate := float64(failed) / float64(total); rate > maxRate {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d of %d requests failed (%.1f%% > --max-error-rate %.1f%%)", failed, total, 100*rate, 100*maxRate)}
	}
	return nil
}

// interruptContexts returns a context that ends on the first Ctrl-C (stop sending) and one
// that ends on the second (cancel requests in flight).
func interruptContexts(parent context.Context, s *streams, quiet bool) (ctx, hard context.Context, stop func()) {
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	hard, cancelHard := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-sigs:
				n++
				if n == 1 {
					if !quiet {
						fmt.Fprintln(s.err, "\ninterrupted: finishing requests in flight (Ctrl-C again to cancel them)")
					}
					cancel()
				} else {
					cancelHard()
				}
			case <-done:
				return
			}
		}
	}()
	return ctx, hard, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
		cancelHard()
	}
}

// describeServer fills in what the server says about itself; servers without Ollama's
// endpoints simply leave the fields empty.
func describeServer(ctx context.Context, c *api.Client, run *results.Run) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	id := c.Identify(ctx)
	run.Target.ServerVersion, run.Target.Server, run.Target.Engine = id.Version, id.Kind, id.Engine
	if ms, err := c.Loaded(ctx); err == nil {
		for _, m := range ms {
			run.Target.Models = append(run.Target.Models, results.LoadedModel{Name: m.Name, SizeBytes: m.Size, SizeVRAMBytes: m.SizeVRAM, ContextLength: m.ContextLength})
		}
	}
}

func hostInfo() results.Host {
	h, _ := os.Hostname()
	return results.Host{Hostname: h, OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU()}
}

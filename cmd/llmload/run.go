package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
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
)

// runFlags are the flags `llmload run` and `llmload sweep` share, as given.
type runFlags struct {
	url            string
	apiName        string
	models         []string
	prompt         string
	promptFile     string
	syntheticWords int
	bodyFile       string
	maxTokens      int
	noStream       bool
	modelOptions   []string
	extraBody      string
	inputWords     string
	outputTokens   string
	sharedPrefix   int
	fixedOutput    bool
	goodput        string
	maxLine        int
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
	// planGiven, once the plan is built, holds what the --plan file set (bench.PlanFile.Given).
	planGiven map[string]bool
}

// runOptions is what `llmload run` does, built from its flags: one session, where its results
// go, and how it is shown.
type runOptions struct {
	sys     *system
	session bench.SessionConfig
	output  string      // the results file
	sim     *sim.Config // --sim: the simulator to start in this process
	quiet   bool
	// noProgress turns off the progress bar and status lines (quiet does too).
	noProgress bool
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

// metricHelp defines the metrics for run and sweep --help, from the catalogue that the report
// and the README print too.
var metricHelp = metricDefinitions()

func metricDefinitions() string {
	var b strings.Builder
	b.WriteString("\nMetrics (latencies in milliseconds). In brackets the names --slo, 'llmload gate' and the\nreport's CSV and JSON use, <stat> being one of " + strings.Join(results.LatencyStats(), ", ") + ":\n")
	for _, d := range results.Definitions() {
		line := "  "
		for _, w := range strings.Fields(d.Term + " [" + d.Names + "]: " + d.Text) {
			if len([]rune(line))+1+len([]rune(w)) > 96 {
				b.WriteString(line + "\n")
				line = "      "
			} else if line != "  " {
				line += " "
			}
			line += w
		}
		b.WriteString(line + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// newRunCmd builds `llmload run`. runF, when set, gets the options instead of running them.
func newRunCmd(sys *system, runF func(*runOptions) error) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:     "run",
		Short:   "Run one load test and write a results file",
		Long:    "Run one load test: stages of closed-loop (-c) or open-loop (--rate) load over a weighted\nrequest mix, a terminal summary per stage, and a JSON results file.\n\n" + planRule + "\n" + metricHelp,
		Example: runExamples,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := f.options(sys, cmd.Flags().Changed)
			if err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return runRun(cmd.Context(), o)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// register adds the workload flags that run and sweep share.
func (o *runFlags) register(f *pflag.FlagSet) {
	f.StringVar(&o.url, "url", "", "server base URL (default $OLLAMA_HOST or http://127.0.0.1:11434)")
	f.StringVar(&o.apiName, "api", string(api.OllamaGenerate), "protocol: ollama-generate, ollama-chat, openai-chat or openai-completions")
	f.StringArrayVarP(&o.models, "model", "m", nil, "model to load-test; repeat for a mix, NAME=WEIGHT to weight it")
	f.StringVarP(&o.prompt, "prompt", "p", "", "prompt text")
	f.StringVar(&o.promptFile, "prompt-file", "", "prompt from a file; a .jsonl file holds one prompt per line")
	f.IntVar(&o.syntheticWords, "synthetic-words", 0, "synthetic prompts of N random words, different per request")
	f.StringVar(&o.bodyFile, "body", "", "send this JSON file as the request body, as 'ab -p' does")
	f.IntVar(&o.maxTokens, "max-tokens", 128, "output tokens per request (num_predict / max_tokens); 0 = server default")
	f.BoolVar(&o.noStream, "no-stream", false, "ask for whole replies (stream:false); TTFT and ITL are then not measured")
	f.StringArrayVar(&o.modelOptions, "option", nil, "model option KEY=VALUE sent on every request, e.g. num_ctx=2048, temperature=0 (repeatable)")
	f.StringVar(&o.inputWords, "input-words", "", "synthetic prompts whose length in words follows a distribution: 300, uniform:100-500, normal:300,50 or file:PATH")
	f.StringVar(&o.outputTokens, "output-tokens", "", "each request's token limit from a distribution (as --input-words); replaces --max-tokens")
	f.IntVar(&o.sharedPrefix, "shared-prefix", 0, "start every prompt with the same N words, to measure a server's prompt cache")
	f.BoolVar(&o.fixedOutput, "fixed-output", false, "ask for exactly the token limit past the end of text (ignore_eos, min_tokens: llama-server, vLLM; Ollama cannot)")
	f.StringVar(&o.extraBody, "extra-body", "", `more top-level JSON fields for every request, e.g. '{"ignore_eos":true}' or '{"cache_prompt":false}'`)
	f.IntVarP(&o.requests, "requests", "n", 0, "requests per stage (default, when no --duration: 10, or the stage's -c when more)")
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
	f.StringVar(&o.planFile, "plan", "", "YAML plan with stages and a weighted mix (a flag given sets its field in every stage or entry; see above)")
	f.StringVarP(&o.output, "output", "o", "", "results file, or a folder (ending in /) to write llmload-<timestamp>.json in (default llmload-<timestamp>.json here)")
	f.StringVar(&o.records, "records", "", "write every request as one JSON line to this file")
	f.StringArrayVar(&o.labels, "label", nil, "label the run KEY=VALUE, e.g. num_parallel=4 (repeatable)")
	f.StringArrayVarP(&o.headers, "header", "H", nil, "extra HTTP header 'Name: value', e.g. an API key (never written to results)")
	f.StringVar(&o.gpu.mode, "gpu", "auto", "GPU sampling: auto (NVML when a driver is present; the simulator's GPU with --sim), off, nvml or sim")
	f.DurationVar(&o.gpu.interval, "gpu-interval", 250*time.Millisecond, "GPU sampling interval")
	f.IntSliceVar(&o.gpu.indices, "gpu-index", nil, "GPUs to sample, e.g. 0,1 (default all)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but the final summary")
	f.BoolVar(&o.noProgress, "no-progress", false, "no progress bar or status lines")
	f.DurationVar(&o.grace, "grace", 10*time.Second, "on Ctrl-C, how long requests in flight may finish (a second Ctrl-C cancels them)")
	f.IntVar(&o.repeat, "repeat", 1, "run the whole plan N times; each repeat is a run of its own in the results file (for 'llmload gate')")
	f.StringVar(&o.goodput, "goodput", "", "count the requests that meet every bound, e.g. ttft=500ms,tpot=50ms,e2e=10s (failed ones count against it)")
	f.IntVar(&o.maxLine, "max-line-size", api.DefaultMaxLine, "largest line, SSE event or whole stream:false reply read, in bytes; past it the reply is malformed (memory stays bounded whatever a server sends)")
	f.Float64Var(&o.maxErrorRate, "max-error-rate", 0.05, "exit 1 when more than this fraction of requests failed")
	o.sim.register(f)
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q (see '%s --help')", args[0], cmd.CommandPath())
	}
	return nil
}

// planRule is the one rule between a plan file and the flags, as run --help and the README
// say it.
const planRule = `A plan file and the flags: a flag given explicitly sets its field in every stage or every
mix entry of the plan; what the plan leaves out takes the flag's default (--warmup 1, --seed 1,
--max-tokens 128, -n 10 …); the plan's own values stand otherwise. Two flags give lists instead
of a field: -c or --rate give the stages, one per value, each as long as the plan's stages are
(-n, -d), and several -m give the mix, a copy of the plan's one entry per model.`

// defaultRequests is a stage's length when neither -n, -d nor the plan gives one: ten
// requests, or one per worker when there are more workers, so that a stage named c=16 has 16
// requests in flight.
func defaultRequests(st results.Stage) int {
	if st.OpenLoop() {
		return 10
	}
	return max(10, st.Concurrency)
}

// buildPlan turns flags (and an optional plan file, under planRule) into a prepared plan and
// the target URL: --url, else the plan file's, else $OLLAMA_HOST's.
func (o *runFlags) buildPlan(changed func(string) bool, getenv func(string) string) (*bench.Workload, string, error) {
	var work *bench.Workload
	target := ""
	if o.planFile == "" {
		stages, err := o.stages(changed)
		if err != nil {
			return nil, "", err
		}
		mix, err := o.mix(changed)
		if err != nil {
			return nil, "", err
		}
		plan := &results.Plan{Stages: stages, Mix: mix}
		o.settings(plan, changed, nil)
		work, err = bench.Prepare(plan, "")
		var bce *bench.BodyConflictError
		switch {
		case errors.Is(err, bench.ErrNoModel):
			return nil, "", usageErrorf("no model: give -m/--model, or a --body file with a \"model\" field")
		case errors.As(err, &bce) && bce.Field == "model":
			return nil, "", usageErrorf("--body %s names model %q, -m %q: the body is sent as it is, so give no -m (or the body's model)", bce.File, bce.Body, bce.Template)
		case errors.As(err, &bce):
			return nil, "", usageErrorf("--body %s is written for %s, not for --api %s: give --api %s, or no --api", bce.File, bce.Body, bce.Template, bce.Body)
		case err != nil:
			return nil, "", usageErrorf("%v", err)
		}
	} else {
		pf, err := bench.ReadPlanFile(o.planFile)
		if err != nil {
			return nil, "", &exitError{code: exitBadInput, err: err}
		}
		o.planGiven = pf.Given
		o.settings(&pf.Plan, changed, pf.Given)
		if err := o.planStages(pf, changed); err != nil {
			return nil, "", err
		}
		if err := o.planMix(pf, changed); err != nil {
			return nil, "", err
		}
		if work, err = pf.PrepareFile(); err != nil {
			return nil, "", &exitError{code: exitBadInput, err: err}
		}
		target = pf.URL
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

// settings sets the plan's run-wide settings under planRule: a flag given, else the plan's
// (given says what the plan file set; nil for none), else the flag's default.
func (o *runFlags) settings(p *results.Plan, changed func(string) bool, given map[string]bool) {
	use := func(flag, key string) bool { return changed(flag) || !given[key] }
	if use("warmup", "warmup") {
		p.Warmup = o.warmup
	}
	if use("seed", "seed") {
		p.Seed = o.seed
	}
	if use("timeout", "timeout") {
		p.Timeout = results.Duration(o.timeout)
	}
	if use("first-byte-timeout", "first_byte_timeout") {
		p.FirstByteTimeout = results.Duration(o.firstByte)
	}
	if use("stall-timeout", "stall_timeout") {
		p.StallTimeout = results.Duration(o.stall)
	}
	if p.Timeout == 0 {
		p.Timeout = results.Duration(5 * time.Minute)
	}
	if p.FirstByteTimeout == 0 {
		p.FirstByteTimeout = p.Timeout
	}
}

// planStages applies the stage flags to a plan file's stages under planRule.
func (o *runFlags) planStages(pf *bench.PlanFile, changed func(string) bool) error {
	p := &pf.Plan
	lengthGiven := changed("requests") || changed("duration")
	if changed("concurrency") || changed("rate") {
		if !lengthGiven {
			// The new stages are as long as the plan's: the length they all share.
			n, d := p.Stages[0].Requests, p.Stages[0].Duration
			for _, st := range p.Stages[1:] {
				if st.Requests != n || st.Duration != d {
					return usageErrorf("-c and --rate replace the stages of %s, which differ in length: give -n or -d", o.planFile)
				}
			}
			o.requests, o.duration = n, time.Duration(d)
		}
		stages, err := o.stages(changed)
		if err != nil {
			return err
		}
		p.Stages = stages
		return nil
	}
	open := false
	for i := range p.Stages {
		st := &p.Stages[i]
		place := fmt.Sprintf("stages[%d].", i)
		switch {
		case lengthGiven:
			st.Requests, st.Duration = o.requests, results.Duration(o.duration)
		case !pf.Given[place+"requests"] && !pf.Given[place+"duration"]:
			st.Requests = defaultRequests(*st)
		}
		if !st.OpenLoop() {
			continue
		}
		open = true
		if changed("arrival") {
			st.Arrival = results.Arrival(o.arrival)
		}
		if changed("max-concurrency") {
			st.MaxConcurrency = o.maxConcurrency
		}
	}
	if !open {
		if n := firstChanged(changed, "arrival", "max-concurrency"); n != "" {
			return usageErrorf("--%s applies to open-loop stages (rate), and %s has none", n, o.planFile)
		}
	}
	return nil
}

// promptFlags set a mix entry's prompt source.
var promptFlags = []string{"prompt", "prompt-file", "body", "synthetic-words", "input-words"}

// planMix applies the mix flags to a plan file's entries under planRule. Paths the flags give
// are made absolute: the plan's own are relative to its folder.
func (o *runFlags) planMix(pf *bench.PlanFile, changed func(string) bool) error {
	p := &pf.Plan
	var opts, extra map[string]any
	var err error
	if opts, err = parseOptions(o.modelOptions); err != nil {
		return err
	}
	if extra, err = o.parseExtraBody(); err != nil {
		return err
	}
	var a api.API
	if changed("api") {
		if a, err = api.ParseAPI(o.apiName); err != nil {
			return usageErrorf("--api: %v", err)
		}
	}
	source := firstChanged(changed, promptFlags...) != ""
	for i, t := range p.Mix {
		place := fmt.Sprintf("mix[%d].", i)
		if source {
			t.Prompt, t.PromptFile, t.BodyFile, t.SyntheticWords, t.InputWords = o.prompt, absPath(o.promptFile), absPath(o.bodyFile), o.syntheticWords, absDist(o.inputWords)
		}
		if changed("api") {
			t.API = string(a)
		}
		switch {
		case changed("max-tokens"):
			t.MaxTokens, t.OutputTokens = o.maxTokens, ""
		case !pf.Given[place+"max_tokens"] && !pf.Given[place+"output_tokens"]:
			t.MaxTokens = o.maxTokens
		}
		if changed("output-tokens") {
			t.OutputTokens = absDist(o.outputTokens)
		}
		if changed("no-stream") {
			t.Stream = !o.noStream
		}
		if changed("option") {
			t.Options = merged(t.Options, opts)
		}
		if changed("extra-body") {
			t.ExtraBody = merged(t.ExtraBody, extra)
		}
		if changed("shared-prefix") {
			t.SharedPrefixWords = o.sharedPrefix
		}
		if changed("fixed-output") {
			t.FixedOutput = o.fixedOutput
		}
	}
	// Last, as the entries' places in the file (Given) are those before copies are made.
	if changed("model") {
		entries, err := o.modelEntries()
		if err != nil {
			return err
		}
		if len(entries) == 1 && !strings.Contains(o.models[0], "=") {
			for _, t := range p.Mix {
				t.Model = entries[0].name
			}
		} else {
			if len(p.Mix) != 1 {
				return usageErrorf("-m %s: %s has %d mix entries, and several models (or a weight) replace one entry only; set the models in the plan", strings.Join(o.models, " -m "), o.planFile, len(p.Mix))
			}
			one := p.Mix[0]
			p.Mix = nil
			for _, e := range entries {
				t := *one
				t.Name, t.Model, t.Weight = "", e.name, e.weight
				p.Mix = append(p.Mix, &t)
			}
		}
	}
	return nil
}

// merged is base with over's keys set over it, a new map (base may be shared).
func merged(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	maps.Copy(out, base)
	maps.Copy(out, over)
	return out
}

// absPath makes a path a flag gave absolute ("" stays ""): a plan resolves relative paths
// against its own folder, a flag's are the working directory's.
func absPath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// absDist makes the file of a file:PATH distribution absolute (see absPath).
func absDist(spec string) string {
	if path, ok := strings.CutPrefix(spec, "file:"); ok {
		return "file:" + absPath(path)
	}
	return spec
}

func (o *runFlags) stages(changed func(string) bool) ([]results.Stage, error) {
	if len(o.rates) > 0 && len(o.concurrency) > 0 {
		return nil, usageErrorf("give either -c (closed loop) or --rate (open loop), not both")
	}
	length := func(st results.Stage) results.Stage {
		st.Requests, st.Duration = o.requests, results.Duration(o.duration)
		if st.Requests == 0 && st.Duration == 0 {
			st.Requests = defaultRequests(st)
		}
		return st
	}
	var out []results.Stage
	for _, r := range o.rates {
		arrival := results.Arrival(o.arrival)
		if arrival != results.ArrivalConstant && arrival != results.ArrivalPoisson {
			return nil, usageErrorf("--arrival must be constant or poisson, got %q", o.arrival)
		}
		out = append(out, length(results.Stage{Rate: r, Arrival: arrival, MaxConcurrency: o.maxConcurrency}))
	}
	if len(o.rates) == 0 {
		if o.maxConcurrency != 0 {
			return nil, usageErrorf("--max-concurrency applies to open-loop runs (--rate) only")
		}
		if changed("arrival") {
			return nil, usageErrorf("--arrival applies to open-loop runs (--rate) only: -c sends each request as soon as a worker is free")
		}
		cs := o.concurrency
		if len(cs) == 0 {
			cs = []int{1}
		}
		for _, c := range cs {
			out = append(out, length(results.Stage{Concurrency: c}))
		}
	}
	return out, nil
}

// modelEntry is one -m: a model and its weight in the mix.
type modelEntry struct {
	name   string
	weight float64
}

// modelEntries reads the -m flags: NAME or NAME=WEIGHT.
func (o *runFlags) modelEntries() ([]modelEntry, error) {
	var out []modelEntry
	for _, m := range o.models {
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
		out = append(out, modelEntry{name, weight})
	}
	return out, nil
}

func (o *runFlags) parseExtraBody() (map[string]any, error) {
	if o.extraBody == "" {
		return nil, nil
	}
	var extra map[string]any
	if err := json.Unmarshal([]byte(o.extraBody), &extra); err != nil || extra == nil {
		return nil, usageErrorf("--extra-body: want a JSON object such as '{\"ignore_eos\":true}'")
	}
	return extra, nil
}

// mix is the mix the flags describe, without a plan file.
func (o *runFlags) mix(changed func(string) bool) ([]*results.Template, error) {
	a, err := api.ParseAPI(o.apiName)
	if err != nil {
		return nil, usageErrorf("--api: %v", err)
	}
	if o.bodyFile != "" && !changed("api") {
		a = "" // the body says which protocol it is for
	}
	opts, err := parseOptions(o.modelOptions)
	if err != nil {
		return nil, err
	}
	extra, err := o.parseExtraBody()
	if err != nil {
		return nil, err
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
	saved := o.models
	o.models = models
	entries, err := o.modelEntries()
	o.models = saved
	if err != nil {
		return nil, err
	}
	var mix []*results.Template
	for _, e := range entries {
		mix = append(mix, &results.Template{
			Name: e.name, Weight: e.weight, API: string(a), Model: e.name,
			Prompt: o.prompt, PromptFile: o.promptFile, SyntheticWords: o.syntheticWords, BodyFile: o.bodyFile,
			MaxTokens: o.maxTokens, Stream: !o.noStream, Options: opts, ExtraBody: extra,
			InputWords: o.inputWords, OutputTokens: o.outputTokens, SharedPrefixWords: o.sharedPrefix, FixedOutput: o.fixedOutput,
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
	for i, h := range hs {
		k, v, ok := strings.Cut(h, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			// Not the text itself: a header is where API keys go, and this line may land in
			// a CI log.
			return nil, usageErrorf("--header #%d (%d characters, not shown: it may hold a secret): want 'Name: value', the name without spaces and a colon after it", i+1, len(h))
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
	var ue *url.Error
	if errors.As(err, &ue) {
		return "", ue.Err // not the URL itself: it may hold a password
	}
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return "", errors.New("no host")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// checkNumbers checks every number the flags give against the bounds a plan has, naming the
// flag: a plan file's own numbers are checked by bench.Prepare, which names its fields.
func (o *runFlags) checkNumbers(changed func(string) bool) error {
	switch {
	case o.requests < 0:
		return usageErrorf("-n/--requests must be at least 1, got %d", o.requests)
	case o.requests == 0 && changed("requests") && o.duration == 0:
		return usageErrorf("-n/--requests must be at least 1 (or give -d for stages of a duration), got 0")
	case o.duration < 0:
		return usageErrorf("-d/--duration must be positive, got %s", o.duration)
	case o.maxConcurrency < 0 || o.maxConcurrency > bench.MaxConcurrency:
		return usageErrorf("--max-concurrency must be from 0 to %d, got %d", bench.MaxConcurrency, o.maxConcurrency)
	case o.maxTokens < 0:
		return usageErrorf("--max-tokens must not be negative, got %d", o.maxTokens)
	case o.syntheticWords < 0 || o.syntheticWords > bench.MaxSyntheticWords:
		return usageErrorf("--synthetic-words must be from 0 to %d, got %d", bench.MaxSyntheticWords, o.syntheticWords)
	case o.warmup < 0 || o.warmup > bench.MaxWarmup:
		return usageErrorf("--warmup must be from 0 to %d requests per model, got %d", bench.MaxWarmup, o.warmup)
	case o.timeout <= 0:
		return usageErrorf("--timeout must be positive, got %s", o.timeout)
	case o.firstByte < 0:
		return usageErrorf("--first-byte-timeout must not be negative (0: as --timeout), got %s", o.firstByte)
	case o.stall < 0:
		return usageErrorf("--stall-timeout must not be negative (0: off), got %s", o.stall)
	case o.grace < 0:
		return usageErrorf("--grace must not be negative, got %s", o.grace)
	}
	for _, c := range o.concurrency {
		if c < 1 || c > bench.MaxConcurrency {
			return usageErrorf("-c/--concurrency values must be from 1 to %d, got %d", bench.MaxConcurrency, c)
		}
	}
	for _, r := range o.rates {
		if math.IsNaN(r) || r < bench.MinRate || r > bench.MaxRate {
			return usageErrorf("--rate values must be from %v to %v requests per second, got %v", bench.MinRate, bench.MaxRate, r)
		}
	}
	return nil
}

// session checks the flags run and sweep share and builds the session they describe.
func (o *runFlags) session(sys *system, changed func(string) bool) (bench.SessionConfig, error) {
	labels, err := parseLabels(o.labels)
	if err != nil {
		return bench.SessionConfig{}, err
	}
	headers, err := parseHeaders(o.headers)
	if err != nil {
		return bench.SessionConfig{}, err
	}
	if o.repeat < 1 {
		return bench.SessionConfig{}, usageErrorf("--repeat must be at least 1, got %d", o.repeat)
	}
	if o.maxErrorRate < 0 || o.maxErrorRate > 1 {
		return bench.SessionConfig{}, usageErrorf("--max-error-rate must be between 0 and 1, got %v", o.maxErrorRate)
	}
	if err := o.sim.check(changed); err != nil {
		return bench.SessionConfig{}, err
	}
	if err := o.checkNumbers(changed); err != nil {
		return bench.SessionConfig{}, err
	}
	work, target, err := o.buildPlan(changed, sys.getenv)
	if err != nil {
		return bench.SessionConfig{}, err
	}
	g, err := o.gpu.check(o.sim.enabled)
	if err != nil {
		return bench.SessionConfig{}, err
	}
	goodput, err := bench.ParseGoodput(o.goodput)
	if err != nil {
		return bench.SessionConfig{}, usageErrorf("--goodput: %v", err)
	}
	if o.maxLine < 1<<10 {
		return bench.SessionConfig{}, usageErrorf("--max-line-size must be at least 1024 bytes, got %d", o.maxLine)
	}
	return bench.SessionConfig{
		Goodput:      goodput,
		MaxLine:      o.maxLine,
		URL:          target,
		Header:       headers,
		Workload:     work,
		Repeat:       o.repeat,
		Labels:       labels,
		Records:      o.records,
		MaxErrorRate: o.maxErrorRate,
		GPU:          bench.GPUConfig{Mode: g.mode, Interval: g.interval, Indices: g.indices},
		Grace:        o.grace,
		Proc:         sys.proc,
	}, nil
}

// options checks run's flags and builds what it does.
func (o *runFlags) options(sys *system, changed func(string) bool) (*runOptions, error) {
	if o.sim.enabled && changed("url") {
		return nil, usageErrorf("--url and --sim exclude each other: --sim measures a simulator inside llmload")
	}
	sc, err := o.session(sys, changed)
	if err != nil {
		return nil, err
	}
	out := &runOptions{sys: sys, session: sc, output: runOutput(o.output, sys.now()), quiet: o.quiet, noProgress: o.noProgress}
	if err := checkOverlap([]namedPath{{"-o", out.output}, {"--records", o.records}}, o.runInputs(sc.Workload)); err != nil {
		return nil, err
	}
	if o.sim.enabled {
		cfg, notes, err := o.sim.config(sc.Workload.Plan)
		if err != nil {
			return nil, err
		}
		out.sim = &cfg
		out.session.Notes = append(out.session.Notes, notes...)
	}
	return out, nil
}

// runRun runs one session (against a simulator it starts, with --sim), writing the results
// file after every run and the summary of each to stdout.
func runRun(ctx context.Context, o *runOptions) error {
	if err := checkWritable(namedPath{"-o", o.output}, namedPath{"--records", o.session.Records}); err != nil {
		return err
	}
	return runChecked(ctx, o)
}

// runChecked is runRun once the outputs are known to be writable.
func runChecked(ctx context.Context, o *runOptions) error {
	ctx, hardStop, stop := interruptContexts(ctx, o.sys.streams, o.quiet)
	defer stop()
	sc := o.session
	sc.HardStop = hardStop
	if o.sim != nil {
		inst, err := (&serve.SimLauncher{Config: *o.sim, WholeReplies: wholeReplies(sc.Workload.Plan)}).Launch(ctx, nil, 0)
		if err != nil {
			return fmt.Errorf("simulator: %w", err)
		}
		defer inst.Stop()
		sc.URL, sc.GPU.Sim, sc.Simulated, sc.InProcess = inst.URL, inst.GPU, true, true
		sc.Notes = append(sc.Notes, inst.Notes...)
	}
	sc.Output = bench.NewResultsFile(o.output, tool())
	sc.Hooks = runDisplay(o.sys.streams, sc.Workload.Plan, sc.Repeat, o.quiet, o.noProgress)
	runs, err := bench.RunSession(ctx, sc)
	if len(runs) > 0 && !o.quiet && sc.Output.Saved() {
		fmt.Fprintf(o.sys.err, "results written to %s\n", sc.Output.Path)
		if sc.Records != "" {
			fmt.Fprintf(o.sys.err, "records written to %s\n", sc.Records)
		}
	}
	return err
}

// wholeReplies says no request of the plan streams: none has its tokens timed.
func wholeReplies(p *results.Plan) bool {
	for _, t := range p.Mix {
		if t.Stream {
			return false
		}
	}
	return true
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

package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/bench/sim"
)

// simFlags are the --sim flags of `run` (and `sweep`): a simulator inside the process.
type simFlags struct {
	enabled     bool
	numParallel int
	maxLoaded   int
	maxQueue    int
	speed       float64
	profileFile string
	faults      []string
	seed        int64
}

func (f *simFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.enabled, "sim", false, "run against a simulated Ollama inside llmload (no server or GPU needed; the model defaults to "+sim.Presets()[0].Name+")")
	fs.IntVar(&f.numParallel, "sim-num-parallel", 1, "--sim: OLLAMA_NUM_PARALLEL of the simulated server")
	fs.IntVar(&f.maxLoaded, "sim-max-loaded-models", sim.DefaultMaxLoaded, "--sim: OLLAMA_MAX_LOADED_MODELS of the simulated server: past it, loading a model evicts another")
	fs.IntVar(&f.maxQueue, "sim-max-queue", sim.DefaultMaxQueue, "--sim: OLLAMA_MAX_QUEUE of the simulated server: requests waiting for a model load past it get 503")
	fs.Float64Var(&f.speed, "sim-speed", 1, "--sim: run the simulated models this many times faster than real time")
	fs.StringVar(&f.profileFile, "sim-profile", "", "--sim: YAML file of model profiles (cost model, memory) for the simulator; the format is in 'llmload sim --help'")
	fs.StringArrayVar(&f.faults, "sim-fault", nil, "--sim: inject a fault at a rate, e.g. 'cut:0.05' (see 'llmload sim --help')")
	fs.Int64Var(&f.seed, "sim-seed", 1, "--sim: seed of the simulator's fault draws")
}

// simOnly are the flags that set up the simulator of --sim.
var simOnly = []string{"sim-num-parallel", "sim-max-loaded-models", "sim-max-queue", "sim-speed", "sim-profile", "sim-fault", "sim-seed"}

// check refuses the simulator's flags without --sim: nothing would read them.
func (f *simFlags) check(changed func(string) bool) error {
	if f.enabled {
		return nil
	}
	for _, name := range simOnly {
		if changed(name) {
			return usageErrorf("--%s applies with --sim only", name)
		}
	}
	return nil
}

// config is the simulator configuration the --sim flags describe, serving every model of the
// plan (unknown names get the llama3.2:1b profile under their own name, and a note says so).
func (f *simFlags) config(plan *results.Plan) (sim.Config, []string, error) {
	cfg := sim.DefaultConfig()
	cfg.NumParallel = f.numParallel
	cfg.Speed = f.speed
	cfg.Seed = f.seed
	cfg.MaxLoadedModels, cfg.MaxQueue = f.maxLoaded, f.maxQueue
	if f.numParallel < 1 {
		return cfg, nil, usageErrorf("--sim-num-parallel must be at least 1, got %d", f.numParallel)
	}
	if f.maxLoaded < 1 {
		return cfg, nil, usageErrorf("--sim-max-loaded-models must be at least 1, got %d", f.maxLoaded)
	}
	if f.maxQueue < 1 {
		return cfg, nil, usageErrorf("--sim-max-queue must be at least 1, got %d", f.maxQueue)
	}
	if !(f.speed > 0) || math.IsInf(f.speed, 0) {
		return cfg, nil, usageErrorf("--sim-speed must be a positive number, got %v", f.speed)
	}
	for _, r := range f.faults {
		rule, err := sim.ParseFaultRule(r)
		if err != nil {
			return cfg, nil, usageErrorf("--sim-fault %q: %v", r, err)
		}
		cfg.Faults = append(cfg.Faults, rule)
	}
	profiles, err := loadProfiles(f.profileFile, "--sim-profile")
	if err != nil {
		return cfg, nil, err
	}
	var borrowed []string
	cfg.Models, borrowed = profilesFor(profiles, plan.Models())
	return cfg, borrowedNotes(borrowed, profiles[0].Name, "--sim-profile"), nil
}

// loadProfiles returns the presets, with the profiles of a YAML file (if any) added over them.
func loadProfiles(path, flag string) ([]sim.Profile, error) {
	profiles := sim.Presets()
	if path == "" {
		return profiles, nil
	}
	extra, err := sim.LoadProfileFile(path)
	if err != nil {
		return nil, usageErrorf("%s: %v", flag, err)
	}
	for _, p := range extra {
		replaced := false
		for i := range profiles {
			if sameModel(profiles[i].Name, p.Name) {
				profiles[i], replaced = p, true
			}
		}
		if !replaced {
			profiles = append(profiles, p)
		}
	}
	return profiles, nil
}

// profilesFor picks the profile of each named model; a name no profile has borrows the first
// profile's numbers (llama3.2:1b among the presets) under its own name, so `--sim -m qwen`
// works. borrowed are those names.
func profilesFor(profiles []sim.Profile, names []string) (out []sim.Profile, borrowed []string) {
	for _, n := range names {
		found := false
		for _, p := range profiles {
			if sameModel(p.Name, n) {
				out, found = append(out, p), true
				break
			}
		}
		if !found {
			p := profiles[0]
			p.Name = n
			out = append(out, p)
			borrowed = append(borrowed, n)
		}
	}
	return out, borrowed
}

// borrowedNotes say which models the simulator serves with another's numbers.
func borrowedNotes(borrowed []string, from, flag string) []string {
	if len(borrowed) == 0 {
		return nil
	}
	var presets []string
	for _, p := range sim.Presets() {
		presets = append(presets, strings.TrimSuffix(p.Name, ":latest"))
	}
	verb, it := "is not a preset model and has", "it runs"
	if len(borrowed) > 1 {
		verb, it = "are not preset models and have", "they run"
	}
	return []string{fmt.Sprintf("simulator: %s %s no profile: %s with %s's timings and memory (presets: %s; %s FILE gives a model numbers of its own, see 'llmload sim --help')",
		strings.Join(borrowed, ", "), verb, it, strings.TrimSuffix(from, ":latest"), strings.Join(presets, ", "), flag)}
}

func sameModel(a, b string) bool {
	tag := func(s string) string {
		if !strings.Contains(s, ":") {
			return s + ":latest"
		}
		return s
	}
	return tag(a) == tag(b)
}

// simOptions are the flags of `llmload sim`.
type simOptions struct {
	listen          string
	numParallel     int
	maxQueue        int
	maxLoadedModels int
	keepAlive       string
	contextLength   int
	speed           float64
	models          []string
	profileFile     string
	faults          []string
	seed            int64
	debug           bool
}

const simExamples = `  # A simulated Ollama with two models and four slots each, on Ollama's own port
  llmload sim --listen 127.0.0.1:11434 --num-parallel 4 --model llama3.2:1b --model codellama:7b

  # Ten times faster than real time, with 5% of streams cut short
  llmload sim --speed 10 --fault cut:0.05

  # Configured like 'ollama serve', from the environment (the sweep command does this)
  OLLAMA_HOST=127.0.0.1:11500 OLLAMA_NUM_PARALLEL=2 llmload sim serve`

func newSimCmd(s *streams) *cobra.Command {
	o := &simOptions{}
	cmd := &cobra.Command{
		Use:   "sim [serve]",
		Short: "Serve a simulated Ollama (both protocols) for trying llmload and for CI",
		Long: `Serve a simulated LLM server that speaks Ollama's API (/api/generate, /api/chat, /api/ps …)
and the OpenAI-compatible one (/v1/chat/completions, /v1/completions, /v1/models), and queues like
Ollama: NUM_PARALLEL slots per loaded model, an unbounded slot queue, MAX_QUEUE for requests that
need a model load (503 when full), MAX_LOADED_MODELS with eviction, keep-alive, and a decode step
that slows as the batch grows, so more slots raise total tokens/s and lower each request's.

Settings come from the OLLAMA_* variables 'ollama serve' reads (OLLAMA_HOST, OLLAMA_NUM_PARALLEL,
OLLAMA_MAX_QUEUE, OLLAMA_MAX_LOADED_MODELS, OLLAMA_KEEP_ALIVE, OLLAMA_CONTEXT_LENGTH), then from
flags. 'llmload sim serve' accepts the argument 'ollama serve' takes, so it can stand in for it.

Faults (--fault KIND[=ARG]:RATE, or per request with the X-Llmload-Fault header): status=CODE,
midstream-error, cut, garbage, slow-first-byte=DUR, stall=DUR, reset.

` + simModelHelp() + `

--speed divides every duration. A decode step has to be longer than the machine's timers are
coarse (tens of µs on most Linux hosts, about 1 ms in some VMs): below twice that, tokens leave
in bursts, ITL follows the timer and TTFT and TPOT may be off too; throughput and E2E stay
right. llmload measures it at start and says so when it happens.

Everything it reports is labelled simulated (version ` + sim.Version + `).`,
		Example: simExamples,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 || (len(args) == 1 && args[0] != "serve") {
				return usageErrorf("unexpected argument %q: 'llmload sim' takes only 'serve'", strings.Join(args, " "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSim(cmd, s, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "", "address to listen on (default $OLLAMA_HOST or 127.0.0.1:11434)")
	f.IntVar(&o.numParallel, "num-parallel", 0, "slots per loaded model (default $OLLAMA_NUM_PARALLEL or 1)")
	f.IntVar(&o.maxQueue, "max-queue", 0, "pending requests waiting for a model load before 503 (default $OLLAMA_MAX_QUEUE or 512)")
	f.IntVar(&o.maxLoadedModels, "max-loaded-models", 0, "models resident at once (default $OLLAMA_MAX_LOADED_MODELS or 3)")
	f.StringVar(&o.keepAlive, "keep-alive", "", "idle time before a model unloads (default $OLLAMA_KEEP_ALIVE or 5m; negative = forever)")
	f.IntVar(&o.contextLength, "context-length", 0, "default num_ctx per slot (default each model's own)")
	f.Float64Var(&o.speed, "speed", 1, "run the models this many times faster than real time")
	f.StringArrayVar(&o.models, "model", nil, "model to serve: a preset (llama3.2:1b, codellama:7b, instant) or any name (repeatable; default all presets)")
	f.StringVar(&o.profileFile, "profile", "", "YAML file of model profiles (the format is above)")
	f.StringArrayVar(&o.faults, "fault", nil, "inject a fault at a rate, e.g. cut:0.05 or status=500:0.01 (repeatable)")
	f.Int64Var(&o.seed, "seed", 1, "seed for fault draws and generated text")
	f.BoolVar(&o.debug, "debug", false, "log every request")
	return cmd
}

func runSim(cmd *cobra.Command, s *streams, o *simOptions) error {
	cfg, err := sim.ConfigFromEnv(os.Getenv)
	if err != nil {
		return usageErrorf("%v", err)
	}
	changed := cmd.Flags().Changed
	if changed("listen") {
		addr, err := sim.ParseHost(o.listen)
		if err != nil {
			return usageErrorf("--listen: %v", err)
		}
		cfg.Addr = addr
	}
	if changed("num-parallel") {
		if o.numParallel < 1 {
			return usageErrorf("--num-parallel must be at least 1, got %d", o.numParallel)
		}
		cfg.NumParallel = o.numParallel
	}
	if changed("max-queue") {
		cfg.MaxQueue = o.maxQueue
	}
	if changed("max-loaded-models") {
		cfg.MaxLoadedModels = o.maxLoadedModels
	}
	if changed("keep-alive") {
		if _, err := sim.ParseKeepAlive(o.keepAlive); err != nil {
			return usageErrorf("--keep-alive: %v", err)
		}
		cfg.KeepAlive = o.keepAlive
	}
	if changed("context-length") {
		cfg.ContextLength = o.contextLength
	}
	if !(o.speed > 0) || math.IsInf(o.speed, 0) {
		return usageErrorf("--speed must be a positive number, got %v", o.speed)
	}
	cfg.Speed = o.speed
	cfg.Seed = o.seed
	cfg.Debug = o.debug
	cfg.Log = s.err
	for _, r := range o.faults {
		rule, err := sim.ParseFaultRule(r)
		if err != nil {
			return usageErrorf("--fault %q: %v", r, err)
		}
		cfg.Faults = append(cfg.Faults, rule)
	}
	profiles, err := loadProfiles(o.profileFile, "--profile")
	if err != nil {
		return err
	}
	var borrowed []string
	if len(o.models) > 0 {
		cfg.Models, borrowed = profilesFor(profiles, o.models)
	} else if o.profileFile != "" {
		cfg.Models = profiles
	}
	srv, err := sim.New(cfg)
	if err != nil {
		return usageErrorf("%v", err)
	}
	defer srv.Close()
	ctx, _, stop := interruptContexts(cmd.Context(), &streams{err: io.Discard}, true)
	defer stop()
	var names []string
	for _, p := range srv.Models() {
		names = append(names, p.Name)
	}
	fmt.Fprintf(s.err, "llmload sim: simulated Ollama %s on http://%s, NUM_PARALLEL=%d, speed x%g, models: %s (Ctrl-C stops)\n",
		sim.Version, cfg.Addr, max(cfg.NumParallel, 1), cfg.Speed, strings.Join(names, ", "))
	for _, note := range borrowedNotes(borrowed, profiles[0].Name, "--profile") {
		fmt.Fprintf(s.err, "llmload sim: note: %s\n", strings.TrimPrefix(note, "simulator: "))
	}
	if note := sim.StepNote(cfg, sim.TimerGranularity()); note != "" {
		fmt.Fprintf(s.err, "llmload sim: note: %s\n", strings.TrimPrefix(note, "simulator: "))
	}
	start := time.Now()
	if err := srv.ListenAndServe(ctx, cfg.Addr); err != nil {
		return fmt.Errorf("llmload sim: %w", err)
	}
	fmt.Fprintf(s.err, "llmload sim: stopped after %s\n", time.Since(start).Round(time.Second))
	return nil
}

// simModelHelp explains the simulator's cost model, its presets (from sim.Presets, so the
// numbers are the ones it runs) and the profile file, for `llmload sim --help`.
func simModelHelp() string {
	var b strings.Builder
	b.WriteString(`Cost model. Each model is a profile. A request waits for a slot (NUM_PARALLEL per loaded
model, first come first served), holds it for the profile's overhead, then joins the
model's batch. The batch steps all its sequences together: a step with b sequences, k prompt
tokens of which are being read, takes decode_step × (1 + batch_alpha × (b − 1)) +
k / prefill_rate, and gives each sequence one token; a joining sequence's first token comes out
of the step that reads its prompt. So more slots raise total tokens/s and lower each request's
(by 1 + batch_alpha(b−1)). A reply is as long as the request's limit (num_predict,
max_tokens), else default_tokens, unless eos_probability ends it early. The first request
loads the model (load_time). GPU memory: weights_mib + overhead_mib + NUM_PARALLEL × the KV
cache of a slot (num_ctx × layers × kv_heads × 2 × embedding_length/heads ×
kv_bytes_per_element); a model that does not fit is partly offloaded, its steps slower up to
offload_slowdown ×. The GPU is an H100 (80 GiB, 70 to 700 W) busy at busy_util_pct while
decoding. The server reports load_duration, prompt_eval_duration (to the first token),
eval_duration and total_duration as Ollama does.

Presets (any other model name runs with the first one's numbers, and says so):
`)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  name\tdecode_step\tbatch_alpha\tprefill_rate\toverhead\tload_time\tKV per slot")
	for _, p := range sim.Presets() {
		fmt.Fprintf(tw, "  %s\t%s\t%g\t%g/s\t%s\t%s\t%g MiB at %d\n",
			strings.TrimSuffix(p.Name, ":latest"), p.DecodeStep, p.BatchAlpha, p.PrefillRate, p.Overhead, p.LoadTime, p.MiBPerSlot(0), p.ContextLength)
	}
	_ = tw.Flush()
	b.WriteString(`
Profiles (--profile FILE, run --sim-profile FILE): YAML, a list of models, each starting from
a preset ("from") or from scratch (then give its shape: layers, heads, kv_heads,
embedding_length). An entry without a name changes the preset it starts from.
Durations are text ("8ms", "1.5s"); unknown fields are errors.

  models:
    - name: llama3.2:1b-slow
      from: llama3.2:1b
      decode_step: 12ms       # one step with one sequence: about 83 tok/s alone
      batch_alpha: 0.45       # step(b) = decode_step × (1 + 0.45 (b − 1))
      eos_probability: 0.01   # some replies end early ("stop")
    - name: llama3.1:8b
      layers: 32
      heads: 32
      kv_heads: 8
      embedding_length: 4096  # KV: 32 × 8 × 2 × 128 × 2 B × 4096 = 512 MiB per slot
      weights_mib: 4693
      prefill_rate: 5000      # prompt tokens per second
      decode_step: 8ms
      batch_alpha: 0.15

Fields: name, from, family, parameter_size, parameter_count, quantization, layers, heads,
kv_heads, embedding_length, feed_forward, vocab_size, max_context_length, weights_mib,
overhead_mib, kv_bytes_per_element (2 f16, 1 q8_0, 0.5 q4_0), context_length (default num_ctx),
load_time, prefill_rate (0: free), decode_step, batch_alpha (0 to 1), overhead,
eos_probability, default_tokens, busy_util_pct, offload_slowdown.`)
	return b.String()
}

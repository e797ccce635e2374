package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/llmload/llmload/bench"
	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/bench/serve"
	"github.com/llmload/llmload/bench/sim"
	"github.com/llmload/llmload/report"
	"github.com/llmload/llmload/report/analysis"
	"github.com/llmload/llmload/report/printable"
)

// DefaultCapacitySLO is a human objective: the first token within 2 s for nearly everyone,
// each user reading at least 10 tokens a second, and hardly a failed request.
const DefaultCapacitySLO = "ttft.p95=2s,decode_tps=10,errors.rate=1%"

const capacityExamples = `  # The server on this machine and its one model, found for you
  llmload capacity

  # A stricter objective, and a model of your choosing
  llmload capacity -m llama3.2:1b --slo ttft.p95=1s,decode_tps=20

  # A server elsewhere on loopback, speaking OpenAI's protocol
  llmload capacity --url http://127.0.0.1:8080 --api openai-chat

  # No server at hand: ask the simulator (4 slots)
  llmload capacity --sim --sim-num-parallel 4`

// capacityFlags are what `llmload capacity` takes.
type capacityFlags struct {
	runFlags
	slo        string
	maxUsers   int
	perUser    int
	allowNoisy bool
}

func newCapacityCmd(sys *system) *cobra.Command {
	o := &capacityFlags{}
	cmd := &cobra.Command{
		Use:   "capacity",
		Short: "How many people can this server serve at once? The answer in one sentence",
		Long: `Find the most users at once (closed-loop concurrency) a server serves within an objective:
by default the first token within 2 s at the 95th percentile, at least 10 tokens a second for
each user, and at most 1% failed requests (--slo takes the metric names of 'llmload gate').
Levels of 1, 2, 4 … users run until one misses the objective, then the gap is halved until the
answer is exact; every level is a run of the results file, with the answer beside them
('llmload report' renders it, 'llmload gate --assert capacity.max_concurrency>=4' checks it).

Without --url, llmload looks for a server on this machine's usual ports (Ollama 11434,
llama-server and LocalAI 8080, LM Studio 1234, vLLM 8000; loopback only), asks what it is and
which models it has, and uses the one there is — or asks which, on a terminal. A noisy machine
(other work using the CPUs, a lone request taking five times the median) stops the search:
the answer would be a guess.`,
		Example: capacityExamples,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCapacity(cmd.Context(), sys, o, cmd.Flags().Changed)
		},
	}
	o.register(cmd.Flags())
	return cmd
}

func (o *capacityFlags) register(f *pflag.FlagSet) {
	f.StringVar(&o.url, "url", "", "the server (default: look for one on this machine's usual ports)")
	f.StringVar(&o.apiName, "api", "", "protocol (default: Ollama's own for Ollama, openai-chat for others)")
	f.StringArrayVarP(&o.models, "model", "m", nil, "the model (default: the server's one model, or ask)")
	f.StringVarP(&o.prompt, "prompt", "p", "Explain in a few paragraphs how a lighthouse works.", "what each user asks")
	f.StringVar(&o.promptFile, "prompt-file", "", "prompts from a file; a .jsonl file holds one prompt (or chat) per line")
	f.IntVar(&o.maxTokens, "max-tokens", 256, "tokens each answer may have")
	f.StringArrayVar(&o.modelOptions, "option", nil, "model option KEY=VALUE sent on every request (repeatable)")
	f.StringVar(&o.extraBody, "extra-body", "", "more top-level JSON fields for every request")
	f.StringVar(&o.slo, "slo", DefaultCapacitySLO, "the objective every user must get, METRIC=LIMIT with the metric names of 'llmload gate'")
	f.IntVar(&o.maxUsers, "max-users", 256, "the most users to try")
	f.BoolVar(&o.allowNoisy, "allow-noisy", false, "go on when the machine is busy with other work (the answer is then rough)")
	f.IntVar(&o.perUser, "requests-per-user", 3, "requests each user sends at each level (a level sends at least 12)")
	f.IntVar(&o.warmup, "warmup", 1, "warm-up requests before the first level (they load the model)")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "per-request total timeout")
	f.Uint64Var(&o.seed, "seed", 1, "seed for the request order and prompts")
	f.StringVarP(&o.output, "output", "o", "", "results file (default llmload-capacity-<timestamp>.json)")
	f.StringArrayVarP(&o.headers, "header", "H", nil, "extra HTTP header 'Name: value', e.g. an API key (never written to results)")
	f.StringVar(&o.gpu.mode, "gpu", "auto", "GPU sampling: auto, off, nvml or sim")
	f.DurationVar(&o.gpu.interval, "gpu-interval", 250*time.Millisecond, "GPU sampling interval")
	f.IntSliceVar(&o.gpu.indices, "gpu-index", nil, "GPUs to sample (default all)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but the answer")
	f.BoolVar(&o.noProgress, "no-progress", false, "no progress bar or status lines")
	f.DurationVar(&o.grace, "grace", 10*time.Second, "on Ctrl-C, how long requests in flight may finish")
	o.maxLine, o.repeat, o.maxErrorRate, o.stall = api.DefaultMaxLine, 1, 1, time.Minute
	o.sim.register(f)
}

func runCapacity(ctx context.Context, sys *system, o *capacityFlags, changed func(string) bool) error {
	slo, err := analysis.ParseSLO(o.slo)
	if err != nil || slo.IsZero() {
		if err == nil {
			err = errors.New("empty")
		}
		return usageErrorf("--slo: %v", err)
	}
	if o.maxUsers < 1 || o.maxUsers > bench.MaxConcurrency {
		return usageErrorf("--max-users must be from 1 to %d, got %d", bench.MaxConcurrency, o.maxUsers)
	}
	if o.perUser < 1 {
		return usageErrorf("--requests-per-user must be at least 1, got %d", o.perUser)
	}
	if o.sim.enabled && changed("url") {
		return usageErrorf("--url and --sim exclude each other")
	}
	output := o.output
	if output == "" || isFolderArg(output) {
		output = filepath.Join(output, fmt.Sprintf("llmload-capacity-%s.json", sys.now().Format("20060102-150405")))
	}
	if err := checkWritable(namedPath{"-o", output}); err != nil {
		return err
	}
	ctx, hardStop, stop := interruptContexts(ctx, sys.streams, o.quiet)
	defer stop()

	// The server and the model: given, started (--sim), or found on this machine.
	var inst *serve.Instance
	var simNotes []string
	if o.sim.enabled {
		if len(o.models) == 0 {
			o.models = []string{sim.Presets()[0].Name}
		}
		plan := &results.Plan{Mix: []*results.Template{{Model: o.models[0]}}}
		cfg, notes, err := o.sim.config(plan)
		simNotes = notes
		if err != nil {
			return err
		}
		if inst, err = (&serve.SimLauncher{Config: cfg}).Launch(ctx, nil, 0); err != nil {
			return fmt.Errorf("simulator: %w", err)
		}
		defer inst.Stop()
		o.url = inst.URL
	}
	if o.url == "" {
		found := api.FindLocal(ctx, localPorts(), 2*time.Second)
		srv, err := choose(sys, "server", found, func(s api.LocalServer) string {
			return fmt.Sprintf("%s at %s (%s)", s.Label(), s.URL, plural(len(s.Models), "model"))
		})
		if err != nil {
			return usageErrorf("%v; give --url, or try --sim", err)
		}
		o.url = srv.URL
		if !changed("api") {
			o.apiName = string(srv.API())
		}
		if len(o.models) == 0 {
			m, err := choose(sys, "model", srv.Models, func(m string) string { return m })
			if err != nil {
				return usageErrorf("%s: %v; give -m", srv.URL, err)
			}
			o.models = []string{m}
		}
	}
	if o.apiName == "" {
		o.apiName = string(api.OllamaGenerate)
		c := api.New(api.Config{BaseURL: o.url})
		ictx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if id := c.Identify(ictx); id.Kind != api.ServerOllama && id.Kind != api.ServerSimulator {
			o.apiName = string(api.OpenAIChat)
		}
		cancel()
	}
	if len(o.models) == 0 {
		c := api.New(api.Config{BaseURL: o.url})
		mctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		models, _ := c.Models(mctx)
		cancel()
		m, err := choose(sys, "model", models, func(m string) string { return m })
		if err != nil {
			return usageErrorf("%s: %v; give -m", o.url, err)
		}
		o.models = []string{m}
	}
	// One placeholder stage: each level replaces it.
	o.concurrency, o.requests, o.duration = []int{1}, 1, 0
	sc, err := o.runFlags.session(sys, func(name string) bool { return changed(name) || name == "concurrency" })
	if err != nil {
		return err
	}
	if inst != nil {
		sc.Simulated, sc.InProcess, sc.GPU.Sim = true, true, inst.GPU
		sc.Notes = append(append(sc.Notes, simNotes...), inst.Notes...)
	}
	sc.HardStop = hardStop
	sc.Output = bench.NewResultsFile(output, tool())
	sc.Hooks = progressHooks(sys.streams, sc.Workload.Plan, o.quiet || o.noProgress)
	if !o.quiet {
		fmt.Fprintf(sys.err, "finding how many users %s serves with %s within %s\n", api.RedactURL(o.url), printable.Line(o.models[0]), o.slo)
	}
	c, err := bench.FindCapacity(ctx, bench.CapacityConfig{
		Session:    sc,
		AllowNoisy: o.allowNoisy,
		SLO:        slo.String(),
		MaxUsers:   o.maxUsers,
		Requests:   func(users int) int { return max(o.perUser*users, 12) },
		Judge: func(st *results.StageResult) (bool, []string, []string) {
			misses := slo.CheckStage(st)
			var names, texts []string
			for _, m := range misses {
				names, texts = append(names, m.Bound.Metric.Name), append(texts, m.String())
			}
			return len(misses) == 0, names, texts
		},
		OnStep: func(step results.CapacityStep, _ *results.Run) {
			if o.quiet {
				return
			}
			verdict := "meets the objective"
			if !step.Meets {
				verdict = "misses: " + printable.Line(strings.Join(step.Misses, "; "))
			}
			fmt.Fprintf(sys.err, "  %d user%s: %s\n", step.Users, plural0(step.Users), verdict)
		},
	})
	if c != nil {
		f := sc.Output.File()
		c.Advice = analysis.CapacityAdvice(f)
		if werr := sc.Output.SetCapacity(c); werr != nil && err == nil {
			err = fmt.Errorf("write results: %w", werr)
		}
		if rerr := report.WriteCapacity(sys.out, f); rerr != nil && err == nil {
			err = rerr
		}
		if !o.quiet {
			fmt.Fprintf(sys.err, "results written to %s\n", output)
		}
	}
	if errors.Is(err, bench.ErrNoisy) {
		return &exitError{code: exitFailed, err: errors.New("no answer: this machine was too noisy to tell (see above); close other work and run again")}
	}
	return err
}

// localPorts are the ports FindLocal asks.
func localPorts() []int {
	var ps []int
	for _, p := range api.LocalPorts {
		ps = append(ps, p.Port)
	}
	return ps
}

// choose picks one of the things found: the only one, or the one a person picks on a
// terminal; otherwise an error that lists them.
func choose[T any](sys *system, what string, found []T, label func(T) string) (T, error) {
	var zero T
	switch len(found) {
	case 0:
		if what == "server" {
			var ports []string
			for _, p := range api.LocalPorts {
				ports = append(ports, fmt.Sprintf("%d (%s)", p.Port, p.Hints))
			}
			return zero, fmt.Errorf("no LLM server answers on this machine's usual ports: %s", strings.Join(ports, ", "))
		}
		return zero, fmt.Errorf("the server lists no %s", what)
	case 1:
		return found[0], nil
	}
	var lines []string
	for i, f := range found {
		lines = append(lines, fmt.Sprintf("  %d. %s", i+1, printable.Line(label(f))))
	}
	if !sys.inTerminal {
		return zero, fmt.Errorf("%d %ss found, which one?\n%s", len(found), what, strings.Join(lines, "\n"))
	}
	fmt.Fprintf(sys.err, "%d %ss found:\n%s\nwhich one (1-%d)? ", len(found), what, strings.Join(lines, "\n"), len(found))
	line, err := bufio.NewReader(sys.in).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return zero, fmt.Errorf("no %s chosen", what)
	}
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || n < 1 || n > len(found) {
		return zero, fmt.Errorf("%q is not one of 1-%d", strings.TrimSpace(line), len(found))
	}
	return found[n-1], nil
}

func plural(n int, noun string) string { return fmt.Sprintf("%d %s%s", n, noun, plural0(n)) }

func plural0(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/llmload/llmload/bench"
	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/bench/serve"
)

// testSystem is a system for running commands in this process: output in buffers, a fixed
// clock, the environment given, and a PATH on which every program is found where it is named
// (an absolute path as given, a bare name under /usr/bin).
func testSystem(env map[string]string) (sys *system, stdout, stderr *bytes.Buffer) {
	stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
	s := &streams{in: strings.NewReader(""), out: stdout, err: stderr}
	return &system{
		streams: s,
		getenv:  func(k string) string { return env[k] },
		environ: func() []string { return []string{"PATH=/usr/bin"} },
		now:     func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) },
		lookPath: func(name string) (string, error) {
			if filepath.IsAbs(name) {
				return name, nil
			}
			return "/usr/bin/" + name, nil
		},
	}, stdout, stderr
}

// execute runs `llmload args…` in this process, as main does but for the exit: runF and
// sweepF, when set, get the options the command built instead of running them.
func execute(sys *system, args []string, runF func(*runOptions) error, sweepF func(*sweepOptions) error) error {
	root := newRootCmd(sys, runF, sweepF)
	root.SetArgs(args)
	return root.Execute()
}

// runOptionsOf returns the options `llmload run args…` builds.
func runOptionsOf(t *testing.T, sys *system, args ...string) (*runOptions, error) {
	t.Helper()
	var got *runOptions
	err := execute(sys, append([]string{"run"}, args...), func(o *runOptions) error { got = o; return nil }, nil)
	return got, err
}

// sweepOptionsOf returns the options `llmload sweep args…` builds.
func sweepOptionsOf(t *testing.T, sys *system, args ...string) (*sweepOptions, error) {
	t.Helper()
	var got *sweepOptions
	err := execute(sys, append([]string{"sweep"}, args...), nil, func(o *sweepOptions) error { got = o; return nil })
	return got, err
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const testPlan = `url: http://plan-host:1234
seed: 5
warmup: 3
timeout: 1m
stages:
  - {concurrency: 2, requests: 5}
mix:
  - model: planmodel
    prompt: from the plan
`

// A plan of two stages and two entries that sets every field a flag also sets, so that each
// flag is seen to change its field in every stage or entry and nothing else.
const fullPlan = `url: http://plan-host:1234
seed: 5
warmup: 3
timeout: 1m
first_byte_timeout: 20s
stall_timeout: 30s
stages:
  - {concurrency: 1, requests: 4}
  - {rate: 2, arrival: constant, max_concurrency: 3, requests: 4}
mix:
  - {name: a, model: m1, weight: 2, prompt: from the plan, max_tokens: 50, stream: true, options: {num_ctx: 2048, temperature: 0}, extra_body: {x: 1}, shared_prefix_words: 3, api: openai-chat}
  - {name: b, model: m2, synthetic_words: 7, output_tokens: "uniform:5-9", fixed_output: true, api: openai-chat}
`

// A plan that leaves out every field it may: each takes the flag's default, as without a plan.
const sparsePlan = `stages:
  - {concurrency: 16}
mix:
  - {model: m1}
`

// One rule between a plan file and the flags (planRule), field by field: a flag given sets its
// field in every stage or entry; what the plan leaves out takes the flag's default; the plan's
// values stand otherwise. The target comes from --url, else the plan, else $OLLAMA_HOST.
func TestPlanAndFlagsOneRuleFieldByField(t *testing.T) {
	dir := t.TempDir()
	full := writeFile(t, dir, "full.yaml", fullPlan)
	sparse := writeFile(t, dir, "sparse.yaml", sparsePlan)
	two := writeFile(t, dir, "two.yaml", "stages: [{concurrency: 1, requests: 10}, {concurrency: 8, requests: 10}]\nmix: [{model: m1, max_tokens: 9}]\n")
	uneven := writeFile(t, dir, "uneven.yaml", "stages: [{concurrency: 1, requests: 10}, {concurrency: 8, duration: 1m}]\nmix: [{model: m1}]\n")
	writeFile(t, dir, "p.txt", "a prompt file")
	env := map[string]string{"OLLAMA_HOST": "0.0.0.0:7777"}
	type plan = *results.Plan
	stages := func(p plan) string {
		var out []string
		for _, st := range p.Stages {
			out = append(out, fmt.Sprintf("%s n=%d d=%s %s cap=%d", st.Name, st.Requests, time.Duration(st.Duration), st.Arrival, st.MaxConcurrency))
		}
		return strings.Join(out, "; ")
	}
	mix := func(p plan, f func(t *results.Template) any) string {
		var out []string
		for _, t := range p.Mix {
			out = append(out, fmt.Sprint(f(t)))
		}
		return strings.Join(out, "; ")
	}
	abs := func(name string) string { a, _ := filepath.Abs(name); return a }
	for _, tt := range []struct {
		name string
		args []string
		got  func(o *runOptions) string
		want string
	}{
		// The plan alone: its values stand.
		{"the plan alone", []string{"--plan", full}, func(o *runOptions) string {
			p := o.session.Workload.Plan
			return fmt.Sprintf("%s seed=%d warmup=%d timeouts=%s/%s/%s | %s | %s", o.session.URL, p.Seed, p.Warmup, time.Duration(p.Timeout), time.Duration(p.FirstByteTimeout), time.Duration(p.StallTimeout), stages(p),
				mix(p, func(t *results.Template) any {
					return strings.TrimSpace(fmt.Sprintln(t.Name, t.Model, t.Weight, t.API, t.MaxTokens, t.OutputTokens, t.Stream, t.Options, t.ExtraBody, t.SharedPrefixWords, t.FixedOutput))
				}))
		}, "http://plan-host:1234 seed=5 warmup=3 timeouts=1m0s/20s/30s | c=1 n=4 d=0s  cap=0; rate=2/s n=4 d=0s constant cap=3 | a m1 2 openai-chat 50  true map[num_ctx:2048 temperature:0] map[x:1] 3 false; b m2 1 openai-chat 0 uniform:5-9 true map[] map[] 0 true"},
		// Settings, one by one.
		{"--url", []string{"--plan", full, "--url", "http://flag-host:1/"}, func(o *runOptions) string { return o.session.URL }, "http://flag-host:1"},
		{"--seed", []string{"--plan", full, "--seed", "9"}, func(o *runOptions) string { return fmt.Sprint(o.session.Workload.Plan.Seed) }, "9"},
		{"--warmup", []string{"--plan", full, "--warmup", "0"}, func(o *runOptions) string { return fmt.Sprint(o.session.Workload.Plan.Warmup) }, "0"},
		{"--timeout", []string{"--plan", full, "--timeout", "2m"}, func(o *runOptions) string { return time.Duration(o.session.Workload.Plan.Timeout).String() }, "2m0s"},
		{"--first-byte-timeout", []string{"--plan", full, "--first-byte-timeout", "5s"}, func(o *runOptions) string {
			return time.Duration(o.session.Workload.Plan.FirstByteTimeout).String()
		}, "5s"},
		{"--stall-timeout", []string{"--plan", full, "--stall-timeout", "7s"}, func(o *runOptions) string {
			return time.Duration(o.session.Workload.Plan.StallTimeout).String()
		}, "7s"},
		// Stage fields, in every stage; -c and --rate give the stages, as long as the plan's.
		{"-n", []string{"--plan", full, "-n", "3"}, func(o *runOptions) string { return stages(o.session.Workload.Plan) }, "c=1 n=3 d=0s  cap=0; rate=2/s n=3 d=0s constant cap=3"},
		{"-d", []string{"--plan", full, "-d", "2s"}, func(o *runOptions) string { return stages(o.session.Workload.Plan) }, "c=1 n=0 d=2s  cap=0; rate=2/s n=0 d=2s constant cap=3"},
		{"--arrival", []string{"--plan", full, "--arrival", "poisson"}, func(o *runOptions) string { return stages(o.session.Workload.Plan) }, "c=1 n=4 d=0s  cap=0; rate=2/s n=4 d=0s poisson cap=3"},
		{"--max-concurrency", []string{"--plan", full, "--max-concurrency", "5"}, func(o *runOptions) string { return stages(o.session.Workload.Plan) }, "c=1 n=4 d=0s  cap=0; rate=2/s n=4 d=0s constant cap=5"},
		{"-c", []string{"--plan", two, "-c", "2,4"}, func(o *runOptions) string { return stages(o.session.Workload.Plan) }, "c=2 n=10 d=0s  cap=0; c=4 n=10 d=0s  cap=0"},
		{"-c -n", []string{"--plan", uneven, "-c", "2", "-n", "6"}, func(o *runOptions) string { return stages(o.session.Workload.Plan) }, "c=2 n=6 d=0s  cap=0"},
		{"--rate", []string{"--plan", two, "--rate", "3"}, func(o *runOptions) string { return stages(o.session.Workload.Plan) }, "rate=3/s n=10 d=0s constant cap=0"},
		// Mix fields, in every entry.
		{"-m", []string{"--plan", full, "-m", "flagmodel"}, func(o *runOptions) string {
			return mix(o.session.Workload.Plan, func(t *results.Template) any { return t.Name + " " + t.Model + " " + t.Prompt })
		}, "a flagmodel from the plan; b flagmodel "},
		{"-m twice", []string{"--plan", two, "-m", "x=3", "-m", "y"}, func(o *runOptions) string {
			return mix(o.session.Workload.Plan, func(t *results.Template) any { return fmt.Sprint(t.Name, " ", t.Weight, " ", t.MaxTokens) })
		}, "x 3 9; y 1 9"},
		{"-p", []string{"--plan", full, "-p", "flag prompt"}, func(o *runOptions) string {
			return mix(o.session.Workload.Plan, func(t *results.Template) any { return fmt.Sprint(t.Prompt, "/", t.SyntheticWords) })
		}, "flag prompt/0; flag prompt/0"},
		{"--prompt-file", []string{"--plan", full, "--prompt-file", "p.txt"}, func(o *runOptions) string {
			return mix(o.session.Workload.Plan, func(t *results.Template) any { return t.PromptFile == abs("p.txt") && t.Prompt == "" })
		}, "true; true"},
		{"--synthetic-words", []string{"--plan", full, "--synthetic-words", "4"}, func(o *runOptions) string {
			return mix(o.session.Workload.Plan, func(t *results.Template) any { return t.SyntheticWords })
		}, "4; 4"},
		{"--api", []string{"--plan", full, "--api", "openai-completions"}, func(o *runOptions) string {
			return mix(o.session.Workload.Plan, func(t *results.Template) any { return t.API })
		}, "openai-completions; openai-completions"},
		{"--max-tokens", []string{"--plan", full, "--max-tokens", "7"}, func(o *runOptions) string {
			return mix(o.session.Workload.Plan, func(t *results.Template) any { return fmt.Sprint(t.MaxTokens, "/", t.OutputTokens) })
		}, "7/; 7/"},
		{"--output-tokens", []string{"--plan", full, "--output-tokens", "normal:30,5"}, func(o *runOptions) string {
			return mix(o.session.Workload.Plan, func(t *results.Template) any { return t.OutputTokens })
		}, "normal:30,5; normal:30,5"},
		{"--no-stream", []string{"--plan", full, "--no-stream"}, func(o *runOptions) string {
			return mix(o.session.Workload.Plan, func(t *results.Template) any { return t.Stream })
		}, "false; false"},
		{"--option", []string{"--plan", full, "--option", "num_ctx=4096", "--option", "top_k=3"}, func(o *runOptions) string {
			return mix(o.session.Workload.Plan, func(t *results.Template) any { return t.Options })
		}, "map[num_ctx:4096 temperature:0 top_k:3]; map[num_ctx:4096 top_k:3]"},
		{"--extra-body", []string{"--plan", full, "--extra-body", `{"y":2}`}, func(o *runOptions) string {
			return mix(o.session.Workload.Plan, func(t *results.Template) any { return t.ExtraBody })
		}, "map[x:1 y:2]; map[y:2]"},
		{"--shared-prefix", []string{"--plan", full, "--shared-prefix", "0"}, func(o *runOptions) string {
			return mix(o.session.Workload.Plan, func(t *results.Template) any { return t.SharedPrefixWords })
		}, "0; 0"},
		{"--fixed-output", []string{"--plan", full, "--fixed-output=false"}, func(o *runOptions) string {
			return mix(o.session.Workload.Plan, func(t *results.Template) any { return t.FixedOutput })
		}, "false; false"},
		// What the plan leaves out takes the flag's default, as without a plan.
		{"defaults", []string{"--plan", sparse}, func(o *runOptions) string {
			p := o.session.Workload.Plan
			return fmt.Sprintf("%s seed=%d warmup=%d timeouts=%s/%s/%s | %s | max_tokens=%d", o.session.URL, p.Seed, p.Warmup, time.Duration(p.Timeout), time.Duration(p.FirstByteTimeout), time.Duration(p.StallTimeout), stages(p), p.Mix[0].MaxTokens)
		}, "http://127.0.0.1:7777 seed=1 warmup=1 timeouts=5m0s/5m0s/1m0s | c=16 n=16 d=0s  cap=0 | max_tokens=128"},
		{"defaults without a plan", []string{"-m", "m1", "-c", "16"}, func(o *runOptions) string {
			p := o.session.Workload.Plan
			return fmt.Sprintf("%s seed=%d warmup=%d timeouts=%s/%s/%s | %s | max_tokens=%d", o.session.URL, p.Seed, p.Warmup, time.Duration(p.Timeout), time.Duration(p.FirstByteTimeout), time.Duration(p.StallTimeout), stages(p), p.Mix[0].MaxTokens)
		}, "http://127.0.0.1:7777 seed=1 warmup=1 timeouts=5m0s/5m0s/1m0s | c=16 n=16 d=0s  cap=0 | max_tokens=128"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(dir)
			sys, _, _ := testSystem(env)
			o, err := runOptionsOf(t, sys, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.got(o); got != tt.want {
				t.Errorf("%v:\n got %s\nwant %s", tt.args, got, tt.want)
			}
		})
	}
	// What the rule cannot decide is refused, naming why.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--plan", uneven, "-c", "4"}, "which differ in length: give -n or -d"},
		{[]string{"--plan", full, "-m", "x", "-m", "y"}, "has 2 mix entries"},
		{[]string{"--plan", two, "--arrival", "poisson"}, "--arrival applies to open-loop stages (rate)"},
		{[]string{"--plan", two, "--max-concurrency", "2"}, "--max-concurrency applies to open-loop stages (rate)"},
	} {
		sys, _, _ := testSystem(env)
		if _, err := runOptionsOf(t, sys, tt.args...); exitCode(err) != exitBadInput || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want exit 2 and %q", tt.args, err, tt.want)
		}
	}
	// run --help says the rule.
	sys, stdout, _ := testSystem(env)
	if err := execute(sys, []string{"run", "--help"}, nil, nil); err != nil || !strings.Contains(stdout.String(), "a flag given explicitly sets its field in every stage") {
		t.Errorf("run --help does not say the rule: %v", err)
	}
}

// Credentials in --url are used but never written: not in the results, the records, the
// summary or any message; the URL's password makes net/http the sender, and the run says so.
func TestRunKeepsCredentialsOutOfResultsAndOutput(t *testing.T) {
	srv := fixtureServer(t, "generate-stream.http", nil)
	refused := fixtureServer(t, "generate-stream.http", nil)
	refused.Close()
	for _, base := range []string{srv.URL, refused.URL} {
		dir := t.TempDir()
		sys, stdout, stderr := testSystem(nil)
		url := strings.Replace(base, "http://", "http://alice:hunter22@", 1) + "/?api_key=sk-zzz999"
		err := execute(sys, []string{"run", "--url", url, "-m", "m", "-n", "2", "--warmup", "0", "--gpu", "off",
			"-o", filepath.Join(dir, "out.json"), "--records", filepath.Join(dir, "rec.jsonl")}, nil, nil)
		if err != nil {
			fmt.Fprintln(stderr, "llmload:", errorText(err))
		}
		target := readResults(t, filepath.Join(dir, "out.json")).Runs[0].Target
		if target.URL != base+"/?api_key=REDACTED" || target.Sender != "net/http" || !strings.Contains(target.SenderReason, "credentials") {
			t.Errorf("target %+v", target)
		}
		out, _ := os.ReadFile(filepath.Join(dir, "out.json"))
		recs, _ := os.ReadFile(filepath.Join(dir, "rec.jsonl"))
		for name, text := range map[string]string{"results": string(out), "records": string(recs), "stdout": stdout.String(), "stderr": stderr.String()} {
			if strings.Contains(text, "hunter22") || strings.Contains(text, "sk-zzz999") {
				t.Errorf("%s shows a credential:\n%s", name, text)
			}
		}
		if base == refused.URL && !strings.Contains(stdout.String(), "No request reached "+base) {
			t.Errorf("the summary of a refused run does not name the target:\n%s", stdout)
		}
	}
	// A URL that does not parse is refused without repeating it.
	sys, _, _ := testSystem(nil)
	_, err := runOptionsOf(t, sys, "--url", "http://alice:hunter22@[::1", "-m", "m")
	if exitCode(err) != exitBadInput || strings.Contains(err.Error(), "hunter22") {
		t.Errorf("bad URL: %v", err)
	}
	// Nor a header without its colon (where API keys go); -H is --header, as in curl.
	_, err = runOptionsOf(t, sys, "-H", "X-Ok: 1", "-H", "Authorization Bearer sk-zzz999", "-m", "m")
	if exitCode(err) != exitBadInput || strings.Contains(err.Error(), "sk-zzz999") || !strings.Contains(err.Error(), "--header #2") {
		t.Errorf("bad header: %v", err)
	}
	o, err := runOptionsOf(t, sys, "-H", "X-Api-Key: k1", "-m", "m")
	if err != nil || o.session.Header.Get("X-Api-Key") != "k1" {
		t.Errorf("-H X-Api-Key: %v", err)
	}
}

// sweep --external is one run against the server you run, under the labels you give; a run
// without a num_parallel label gets a note, and what only starts or compares servers is
// refused.
func TestSweepExternalLabels(t *testing.T) {
	sys, _, _ := testSystem(nil)
	o, err := sweepOptionsOf(t, sys, "--external", "--url", "http://127.0.0.1:1", "--label", "num_parallel=4", "--label", "host=a", "-m", "m")
	if err != nil {
		t.Fatal(err)
	}
	if o.external == nil || o.external.session.URL != "http://127.0.0.1:1" || o.external.session.Labels["num_parallel"] != "4" || o.external.session.Labels["host"] != "a" {
		t.Fatalf("external options %+v", o.external)
	}

	srv := fixtureServer(t, "generate-stream.http", nil)
	for _, label := range []string{"", "num_parallel=2"} {
		dir := t.TempDir()
		sys, _, stderr := testSystem(nil)
		args := []string{"sweep", "--external", "--url", srv.URL, "-m", "m", "-n", "2", "--warmup", "0", "--gpu", "off", "--no-progress",
			"--repeat", "2", "--records", filepath.Join(dir, "rec.jsonl"), "-o", filepath.Join(dir, "out.json")}
		if label != "" {
			args = append(args, "--label", label)
		}
		if err := execute(sys, args, nil, nil); err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		f := readResults(t, filepath.Join(dir, "out.json"))
		note := strings.Contains(stderr.String(), "note: no --label num_parallel=N")
		if label == "" && (!note || len(f.Runs[0].Labels) != 0) {
			t.Errorf("no label: note %v, labels %v", note, f.Runs[0].Labels)
		}
		if label != "" && (note || f.Runs[0].Labels["num_parallel"] != "2") {
			t.Errorf("label %s: note %v, labels %v", label, note, f.Runs[0].Labels)
		}
		// --repeat and --records apply to an external sweep as to run.
		recs, _ := os.ReadFile(filepath.Join(dir, "rec.jsonl"))
		if len(f.Runs) != 2 || f.Runs[1].Repeat != 2 || bytes.Count(recs, []byte("\n")) != 4 {
			t.Errorf("%d runs (last repeat %d), %d records; want 2 runs, 4 records", len(f.Runs), f.Runs[len(f.Runs)-1].Repeat, bytes.Count(recs, []byte("\n")))
		}
	}
}

// sweepSession is the session a sweep's options describe, whatever the kind of sweep.
func sweepSession(o *sweepOptions) bench.SessionConfig {
	if o.external != nil {
		return o.external.session
	}
	return o.sweep.Session
}

func simConfig(o *sweepOptions) *serve.SimLauncher {
	l, _ := o.sweep.Launcher.(*serve.SimLauncher)
	if l == nil {
		return &serve.SimLauncher{}
	}
	return l
}

func processConfig(o *sweepOptions) serve.Config {
	if l, ok := o.sweep.Launcher.(*serve.ProcessLauncher); ok {
		return l.Config
	}
	return serve.Config{}
}

// Every flag sweep registers — run's own and its own — is applied or refused by every kind
// of sweep (managed, --sim, --external), never silently ignored. A flag added later without a
// line here fails the test.
func TestSweepAppliesOrRefusesEveryFlag(t *testing.T) {
	dir := t.TempDir()
	prompt := writeFile(t, dir, "prompt.txt", "a prompt")
	body := writeFile(t, dir, "body.json", `{"model":"base","prompt":"p"}`)
	plan := writeFile(t, dir, "plan.yaml", testPlan)
	gguf := writeFile(t, dir, "model.gguf", "GGUF")
	profile, _ := filepath.Abs("../../bench/sim/testdata/profiles.yaml")
	plan0 := func(o *sweepOptions) *results.Plan { return sweepSession(o).Workload.Plan }
	mix0 := func(o *sweepOptions) *results.Template { return plan0(o).Mix[0] }
	stage0 := func(o *sweepOptions) results.Stage { return plan0(o).Stages[0] }
	llama := []string{"--server", "llama-server", "--model-file", gguf}
	const (
		notSim      = "do not apply with --sim"
		notExternal = "--external measures the one you run"
		simOnly     = "applies with --sim only"
	)
	cases := []struct {
		flag    string
		args    []string
		applied func(o *sweepOptions) bool
		refused map[string]string // mode → a piece of the error
	}{
		{"url", []string{"--url", "http://127.0.0.1:9"}, func(o *sweepOptions) bool { return sweepSession(o).URL == "http://127.0.0.1:9" },
			map[string]string{"managed": "--url is for --external", "sim": "--url is for --external"}},
		{"api", []string{"--api", "openai-completions"}, func(o *sweepOptions) bool { return mix0(o).API == "openai-completions" }, nil},
		{"model", []string{"-m", "other"}, func(o *sweepOptions) bool { return slices.Contains(plan0(o).Models(), "other") }, nil},
		{"prompt", []string{"-p", "hello"}, func(o *sweepOptions) bool { return mix0(o).Prompt == "hello" }, nil},
		{"prompt-file", []string{"--prompt-file", prompt}, func(o *sweepOptions) bool { return mix0(o).PromptFile == prompt }, nil},
		{"synthetic-words", []string{"--synthetic-words", "5"}, func(o *sweepOptions) bool { return mix0(o).SyntheticWords == 5 }, nil},
		{"body", []string{"--body", body}, func(o *sweepOptions) bool { return mix0(o).BodyFile == body }, nil},
		{"max-tokens", []string{"--max-tokens", "7"}, func(o *sweepOptions) bool { return mix0(o).MaxTokens == 7 }, nil},
		{"no-stream", []string{"--no-stream"}, func(o *sweepOptions) bool { return !mix0(o).Stream }, nil},
		{"option", []string{"--option", "num_ctx=1024"}, func(o *sweepOptions) bool { return mix0(o).Options["num_ctx"] == 1024.0 }, nil},
		{"requests", []string{"-n", "3"}, func(o *sweepOptions) bool { return stage0(o).Requests == 3 }, nil},
		{"concurrency", []string{"-c", "1,3"}, func(o *sweepOptions) bool { return len(plan0(o).Stages) == 2 && plan0(o).Stages[1].Concurrency == 3 }, nil},
		{"duration", []string{"-d", "2s"}, func(o *sweepOptions) bool { return stage0(o).Duration == results.Duration(2*time.Second) }, nil},
		{"rate", []string{"--rate", "2"}, func(o *sweepOptions) bool { return stage0(o).Rate == 2 }, nil},
		{"arrival", []string{"--rate", "2", "--arrival", "poisson"}, func(o *sweepOptions) bool { return stage0(o).Arrival == results.ArrivalPoisson }, nil},
		{"max-concurrency", []string{"--rate", "2", "--max-concurrency", "3"}, func(o *sweepOptions) bool { return stage0(o).MaxConcurrency == 3 }, nil},
		{"warmup", []string{"--warmup", "2"}, func(o *sweepOptions) bool {
			return plan0(o).Warmup == 2 && !o.sweep.WarmupPerSlot
		}, nil},
		{"timeout", []string{"--timeout", "1m"}, func(o *sweepOptions) bool { return plan0(o).Timeout == results.Duration(time.Minute) }, nil},
		{"first-byte-timeout", []string{"--first-byte-timeout", "10s"}, func(o *sweepOptions) bool {
			return plan0(o).FirstByteTimeout == results.Duration(10*time.Second)
		}, nil},
		{"stall-timeout", []string{"--stall-timeout", "5s"}, func(o *sweepOptions) bool { return plan0(o).StallTimeout == results.Duration(5*time.Second) }, nil},
		{"seed", []string{"--seed", "42"}, func(o *sweepOptions) bool { return plan0(o).Seed == 42 }, nil},
		{"extra-body", []string{"--extra-body", `{"top_k":3}`}, func(o *sweepOptions) bool { return mix0(o).ExtraBody["top_k"] == 3.0 }, nil},
		{"input-words", []string{"--input-words", "uniform:5-9"}, func(o *sweepOptions) bool { return mix0(o).InputWords == "uniform:5-9" }, nil},
		{"output-tokens", []string{"--output-tokens", "normal:30,5"}, func(o *sweepOptions) bool { return mix0(o).OutputTokens == "normal:30,5" }, nil},
		{"shared-prefix", []string{"--shared-prefix", "12"}, func(o *sweepOptions) bool { return mix0(o).SharedPrefixWords == 12 }, nil},
		{"fixed-output", []string{"--fixed-output", "--api", "openai-chat"}, func(o *sweepOptions) bool { return mix0(o).FixedOutput }, nil},
		{"goodput", []string{"--goodput", "ttft=1s"}, func(o *sweepOptions) bool { return sweepSession(o).Goodput.String() == "ttft<=1s" }, nil},
		{"max-line-size", []string{"--max-line-size", "65536"}, func(o *sweepOptions) bool { return sweepSession(o).MaxLine == 65536 }, nil},
		{"plan", []string{"--plan", plan}, func(o *sweepOptions) bool { return plan0(o).Seed == 5 && plan0(o).Warmup == 3 }, nil},
		{"output", []string{"-o", "x.json"}, func(o *sweepOptions) bool {
			if o.external != nil {
				return o.external.output == "x.json"
			}
			return o.output.file == "x.json" && o.sweep.Output(o.sweep.Points[0], 0).Path == "x.json"
		}, nil},
		{"records", []string{"--records", "r.jsonl"}, func(o *sweepOptions) bool {
			if o.external != nil {
				return o.external.session.Records == "r.jsonl"
			}
			return o.sweep.Records == "r.jsonl"
		}, nil},
		{"label", []string{"--label", "a=b"}, func(o *sweepOptions) bool { return sweepSession(o).Labels["a"] == "b" }, nil},
		{"header", []string{"--header", "X-A: b"}, func(o *sweepOptions) bool { return sweepSession(o).Header.Get("X-A") == "b" }, nil},
		{"gpu", []string{"--gpu", "off"}, func(o *sweepOptions) bool { return sweepSession(o).GPU.Mode == "off" }, nil},
		{"gpu-interval", []string{"--gpu-interval", "1s"}, func(o *sweepOptions) bool { return sweepSession(o).GPU.Interval == time.Second }, nil},
		{"gpu-index", []string{"--gpu-index", "0"}, func(o *sweepOptions) bool { return slices.Equal(sweepSession(o).GPU.Indices, []int{0}) }, nil},
		{"quiet", []string{"-q"}, func(o *sweepOptions) bool { return o.quiet && (o.external == nil || o.external.quiet) }, nil},
		{"no-progress", []string{"--no-progress"}, func(o *sweepOptions) bool { return o.noProgress && (o.external == nil || o.external.noProgress) }, nil},
		{"grace", []string{"--grace", "1s"}, func(o *sweepOptions) bool { return sweepSession(o).Grace == time.Second }, nil},
		{"repeat", []string{"--repeat", "3"}, func(o *sweepOptions) bool { return sweepSession(o).Repeat == 3 }, nil},
		{"max-error-rate", []string{"--max-error-rate", "0.5"}, func(o *sweepOptions) bool { return sweepSession(o).MaxErrorRate == 0.5 }, nil},
		{"sim", []string{"--sim"}, func(o *sweepOptions) bool { _, ok := o.sweep.Launcher.(*serve.SimLauncher); return ok },
			map[string]string{"external": "--external and --sim exclude each other"}},
		{"sim-num-parallel", []string{"--sim-num-parallel", "2"}, nil,
			map[string]string{"managed": simOnly, "sim": "--num-parallel sets it", "external": simOnly}},
		{"sim-speed", []string{"--sim-speed", "3"}, func(o *sweepOptions) bool { return simConfig(o).Config.Speed == 3 },
			map[string]string{"managed": simOnly, "external": simOnly}},
		{"sim-profile", []string{"--sim-profile", profile, "-m", "llama3.2:1b-slow"}, func(o *sweepOptions) bool {
			ms := simConfig(o).Config.Models
			return len(ms) == 2 && ms[1].Name == "llama3.2:1b-slow" && ms[1].BatchAlpha == 0.45
		}, map[string]string{"managed": simOnly, "external": simOnly}},
		{"sim-fault", []string{"--sim-fault", "cut:0.1"}, func(o *sweepOptions) bool { return len(simConfig(o).Config.Faults) == 1 },
			map[string]string{"managed": simOnly, "external": simOnly}},
		{"sim-seed", []string{"--sim-seed", "7"}, func(o *sweepOptions) bool { return simConfig(o).Config.Seed == 7 },
			map[string]string{"managed": simOnly, "external": simOnly}},
		{"sim-max-loaded-models", []string{"--sim-max-loaded-models", "1"}, func(o *sweepOptions) bool { return simConfig(o).Config.MaxLoadedModels == 1 },
			map[string]string{"managed": simOnly, "external": simOnly}},
		{"sim-max-queue", []string{"--sim-max-queue", "7"}, func(o *sweepOptions) bool { return simConfig(o).Config.MaxQueue == 7 },
			map[string]string{"managed": simOnly, "external": simOnly}},
		{"set", []string{"--set", "OLLAMA_MAX_QUEUE=8,16"}, func(o *sweepOptions) bool {
			return len(o.sweep.Points) == 4 && o.sweep.Points[3].Labels()["max_queue"] == "16" && o.sweep.Points[3].NumParallel() == 2
		}, map[string]string{"external": "--set starts servers with its settings"}},
		{"rounds", []string{"--rounds", "3"}, func(o *sweepOptions) bool { return o.sweep.Rounds == 3 },
			map[string]string{"external": "--rounds interleaves the settings of servers llmload starts"}},
		{"num-parallel", []string{"--num-parallel", "5"}, func(o *sweepOptions) bool {
			return slices.ContainsFunc(o.sweep.Points, func(p serve.Point) bool { return p.NumParallel() == 5 })
		},
			map[string]string{"external": "not --num-parallel"}},
		{"server", llama, func(o *sweepOptions) bool { return processConfig(o).Kind == serve.KindLlamaServer },
			map[string]string{"sim": notSim, "external": notExternal}},
		{"ollama", []string{"--ollama", "/opt/ollama"}, func(o *sweepOptions) bool { return processConfig(o).Binary == "/opt/ollama" },
			map[string]string{"sim": notSim, "external": notExternal}},
		{"llama-server", append([]string{"--llama-server", "/opt/llama-server"}, llama...), func(o *sweepOptions) bool {
			return processConfig(o).Binary == "/opt/llama-server"
		}, map[string]string{"sim": notSim, "external": notExternal}},
		{"model-file", llama, func(o *sweepOptions) bool { return slices.Contains(processConfig(o).Args, gguf) },
			map[string]string{"sim": notSim, "external": notExternal}},
		{"slot-context", append([]string{"--slot-context", "2048"}, llama...), func(o *sweepOptions) bool {
			return processConfig(o).SlotContext == 2048
		}, map[string]string{"sim": notSim, "external": notExternal}},
		{"server-arg", append([]string{"--server-arg=--flash-attn"}, llama...), func(o *sweepOptions) bool {
			return slices.Contains(processConfig(o).Args, "--flash-attn")
		}, map[string]string{"sim": notSim, "external": notExternal}},
		{"models-dir", []string{"--models-dir", "/m"}, func(o *sweepOptions) bool {
			return slices.Contains(processConfig(o).Env, "OLLAMA_MODELS=/m")
		}, map[string]string{"sim": notSim, "external": notExternal}},
		{"server-env", []string{"--server-env", "A=1"}, func(o *sweepOptions) bool { return slices.Equal(processConfig(o).Extra, []string{"A=1"}) },
			map[string]string{"sim": notSim, "external": notExternal}},
		{"external", []string{"--external"}, func(o *sweepOptions) bool { return o.external != nil },
			map[string]string{"managed": "not --num-parallel", "sim": "not --num-parallel"}},
		{"slo", []string{"--slo", "ttft_p95=1s"}, func(o *sweepOptions) bool { return o.slo.String() != "" },
			map[string]string{"external": "llmload report --slo"}},
		{"ready-timeout", []string{"--ready-timeout", "5s"}, func(o *sweepOptions) bool { return processConfig(o).ReadyTimeout == 5*time.Second },
			map[string]string{"sim": notSim, "external": notExternal}},
	}

	modes := map[string][]string{
		"managed":  {"--num-parallel", "1,2", "-m", "base"},
		"sim":      {"--sim", "--num-parallel", "1,2", "-m", "base"},
		"external": {"--external", "--url", "http://127.0.0.1:1", "-m", "base"},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.flag] = true
		for _, mode := range []string{"managed", "sim", "external"} {
			t.Run(c.flag+"/"+mode, func(t *testing.T) {
				sys, _, _ := testSystem(nil)
				o, err := sweepOptionsOf(t, sys, append(slices.Clone(modes[mode]), c.args...)...)
				if want, refused := c.refused[mode]; refused {
					if exitCode(err) != exitBadInput || !strings.Contains(err.Error(), want) {
						t.Errorf("%v: err %v, want it refused with %q", c.args, err, want)
					}
					return
				}
				if err != nil {
					t.Fatalf("%v: %v", c.args, err)
				}
				if !c.applied(o) {
					t.Errorf("%v: not applied", c.args)
				}
			})
		}
	}
	sys, _, _ := testSystem(nil)
	newSweepCmd(sys, nil).Flags().VisitAll(func(f *pflag.Flag) {
		if !covered[f.Name] {
			t.Errorf("sweep's --%s has no line here: say whether each kind of sweep applies or refuses it", f.Name)
		}
	})
}

// A sweep on the simulator repeats each setting --repeat times and writes a records file per
// setting, named after it.
func TestSimSweepRepeatsAndWritesRecordsPerSetting(t *testing.T) {
	dir := t.TempDir()
	sys, stdout, stderr := testSystem(nil)
	err := execute(sys, []string{"sweep", "--sim", "--sim-speed", "50", "--num-parallel", "1,2", "-c", "2", "-n", "4", "--max-tokens", "8",
		"--repeat", "2", "--records", filepath.Join(dir, "rec.jsonl"), "-o", filepath.Join(dir, "out") + "/", "--no-progress"}, nil, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, k := range []string{"1", "2"} {
		f := readResults(t, filepath.Join(dir, "out", "num_parallel-"+k+".json"))
		if len(f.Runs) != 2 || f.Runs[0].Repeat != 1 || f.Runs[1].Repeat != 2 || f.Runs[1].Labels["num_parallel"] != k {
			t.Errorf("num_parallel=%s: %d runs", k, len(f.Runs))
		}
		recs, err := os.ReadFile(filepath.Join(dir, "rec-num_parallel-"+k+".jsonl"))
		if n := bytes.Count(recs, []byte("\n")); err != nil || n != 8 {
			t.Errorf("num_parallel=%s: %d records (%v), want 2 repeats × 4", k, n, err)
		}
	}
	// A line per run, after the comparison of the settings' medians.
	out := stdout.String()
	if n := strings.Count(out, "\nNUM_PARALLEL=2 (repeat "); n != 2 {
		t.Errorf("%d lines of NUM_PARALLEL=2, want one per repeat:\n%s", n, out)
	}
	if strings.Index(out, "Each run, in the order it ran") < strings.Index(out, "Compared by num_parallel") {
		t.Errorf("the runs' lines come before the comparison:\n%s", out)
	}
	// The server's progress: its start, then what was loaded and verified with the start of
	// the stages; two lines a setting.
	for _, k := range []string{"1", "2"} {
		lines := grepLines(stderr.String(), "[NUM_PARALLEL="+k+"]")
		slots := map[string]string{"1": "1 parallel slot;", "2": "2 parallel slots;"}[k]
		if n := strings.Count(lines, "\n") + 1; n != 2 || !strings.Contains(lines, "starting the server with OLLAMA_NUM_PARALLEL="+k) ||
			!strings.Contains(lines, "loaded in") || !strings.Contains(lines, slots+" running 1 stage") || strings.Contains(lines, "the runner started with") {
			t.Errorf("NUM_PARALLEL=%s: %d progress lines:\n%s", k, n, lines)
		}
	}
}

// Errors the engine returns are said once, in the flags' terms, with the exit code their kind
// has.
func TestErrorsSaidInFlagTermsWithTheirExitCode(t *testing.T) {
	for _, tt := range []struct {
		err  error
		text string
		code int
	}{
		{nil, "", exitOK},
		{usageErrorf("--seed: bad"), "--seed: bad", exitBadInput},
		{fmt.Errorf("x: %w", bench.ErrInterrupted), "x: interrupted: results hold what was measured", exitInterrupted},
		{&bench.ConfigError{Field: "Records", Err: errors.New("open r: denied")}, "--records: open r: denied", exitBadInput},
		{fmt.Errorf("sweep stopped: NUM_PARALLEL=2: %w", &bench.ConfigError{Field: "Repeat", Err: errors.New("must be at least 1")}),
			"sweep stopped: NUM_PARALLEL=2: --repeat: must be at least 1", exitBadInput},
		{&bench.ErrorRateError{Failed: 3, Total: 10, Max: 0.05}, "3 of 10 requests failed (30.0% > --max-error-rate 5.0%)", exitFailed},
		{&bench.ErrorRateError{}, "no request completed", exitFailed},
		{errors.New("boom"), "boom", exitFailed},
	} {
		if tt.err == nil {
			if exitCode(nil) != exitOK {
				t.Error("nil error: not exit 0")
			}
			continue
		}
		if got := errorText(tt.err); got != tt.text {
			t.Errorf("errorText(%v) = %q, want %q", tt.err, got, tt.text)
		}
		if got := exitCode(tt.err); got != tt.code {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.code)
		}
	}
}

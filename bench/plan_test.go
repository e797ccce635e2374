package bench

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmload/llmload/bench/results"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadPlanFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "prompts.jsonl"), "\"one\"\n\"two\"\n")
	writeFile(t, filepath.Join(dir, "plan.yaml"), `
url: http://127.0.0.1:9999
api: ollama-chat
seed: 42
warmup: 2
timeout: 2m
defaults:
  max_tokens: 64
  options: {temperature: 0, num_ctx: 2048}
stages:
  - concurrency: 1
    requests: 10
  - name: burst
    concurrency: 8
    duration: 30s
  - rate: 2.5
    arrival: poisson
    max_concurrency: 4
    duration: 1m
mix:
  - model: llama3.2:1b
    weight: 3
    prompt_file: prompts.jsonl
  - model: qwen
    api: openai-chat
    synthetic_words: 200
    stream: false
    options: {seed: 1}
`)
	pf, err := LoadPlanFile(filepath.Join(dir, "plan.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := pf.Plan
	if pf.URL != "http://127.0.0.1:9999" || p.Seed != 42 || p.Warmup != 2 || time.Duration(p.Timeout) != 2*time.Minute {
		t.Errorf("top-level fields: %+v url=%s", p, pf.URL)
	}
	if len(p.Stages) != 3 || p.Stages[0].Name != "c=1" || p.Stages[1].Name != "burst" || p.Stages[2].Name != "rate=2.5/s" {
		t.Fatalf("stages: %+v", p.Stages)
	}
	if p.Stages[2].Arrival != results.ArrivalPoisson || p.Stages[2].MaxConcurrency != 4 {
		t.Errorf("open-loop stage: %+v", p.Stages[2])
	}
	// The loaded plan is prepared; preparing it again (as run does after its flags) is a no-op
	// that gives the workload.
	w, err := Prepare(&p, dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b := p.Mix[0], p.Mix[1]
	if a.API != "ollama-chat" || !a.Stream || a.MaxTokens != 64 || len(w.sources[0].prompts) != 2 || a.Weight != 3 {
		t.Errorf("mix[0]: %+v", a)
	}
	if b.API != "openai-chat" || b.Stream || b.SyntheticWords != 200 {
		t.Errorf("mix[1]: %+v", b)
	}
	// Options from defaults and from the template both apply.
	if b.Options["num_ctx"] != 2048 || b.Options["seed"] != 1 {
		t.Errorf("mix[1] options: %v", b.Options)
	}
}

func TestPlanErrorsNameFileLineAndField(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"unknown key", "stages:\n  - concurrency: 2\n    requets: 5\nmix:\n  - model: m\n", "plan.yaml:3: stages[0].requets: unknown field"},
		{"bad number", "stages:\n  - concurrency: lots\nmix:\n  - model: m\n", `plan.yaml:2: stages[0].concurrency: want a whole number, got "lots"`},
		{"bad duration", "stages:\n  - concurrency: 1\n    duration: 5 minutes\nmix:\n  - model: m\n", `plan.yaml:3: stages[0].duration: want a duration`},
		{"bad api", "stages:\n  - concurrency: 1\n    requests: 1\nmix:\n  - model: m\n    api: grpc\n", `plan.yaml:6: mix[0].api: unknown API "grpc"`},
		{"bad arrival", "stages:\n  - rate: 1\n    arrival: bursty\n    requests: 1\nmix:\n  - model: m\n", `plan.yaml:3: stages[0].arrival: must be constant or poisson`},
		{"no mix", "stages:\n  - concurrency: 1\n", "plan.yaml:1: mix: missing"},
		{"syntax", "stages: [\n", "plan.yaml"},
		{"stream not bool", "stages:\n  - concurrency: 1\n    requests: 1\nmix:\n  - model: m\n    stream: maybe\n", `plan.yaml:6: mix[0].stream: must be true or false`},
		{"top-level typo", "stage:\n  - concurrency: 1\nmix:\n  - model: m\n", "plan.yaml:1: stage: unknown field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePlan("plan.yaml", []byte(c.text))
			if err == nil {
				t.Fatal("no error")
			}
			var pe *PlanError
			if !errors.As(err, &pe) {
				t.Errorf("error is %T, want *PlanError", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestPrepareRejectsBadStagesAndTemplates(t *testing.T) {
	cases := []struct {
		name string
		plan results.Plan
		want string
	}{
		{"no stop", results.Plan{Stages: []results.Stage{{Concurrency: 1}}, Mix: []*results.Template{{Model: "m"}}}, "stages[0]: give a number of requests or a duration"},
		{"both loops", results.Plan{Stages: []results.Stage{{Concurrency: 1, Rate: 2, Requests: 1}}, Mix: []*results.Template{{Model: "m"}}}, "not both"},
		{"no model", results.Plan{Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{}}}, "mix[0]: no model"},
		{"two sources", results.Plan{Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{Model: "m", Prompt: "x", SyntheticWords: 3}}}, "one prompt source"},
		{"missing file", results.Plan{Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{Model: "m", PromptFile: "/nonexistent/p.txt"}}}, "prompt file"},
		// Numbers that would exhaust the client or never end, and ones JSON cannot carry.
		{"NaN rate", results.Plan{Stages: []results.Stage{{Rate: math.NaN(), Requests: 1}}, Mix: []*results.Template{{Model: "m"}}}, "stages[0]: rate must be a positive number, got NaN"},
		{"infinite rate", results.Plan{Stages: []results.Stage{{Rate: math.Inf(1), Requests: 1}}, Mix: []*results.Template{{Model: "m"}}}, "rate must be a positive number"},
		{"vanishing rate", results.Plan{Stages: []results.Stage{{Rate: 1e-10, Duration: results.Duration(2e9)}}, Mix: []*results.Template{{Model: "m"}}}, "out of range"},
		{"huge concurrency", results.Plan{Stages: []results.Stage{{Concurrency: 100_000_000, Requests: 1}}, Mix: []*results.Template{{Model: "m"}}}, "concurrency is at most 100000"},
		{"negative timeout", results.Plan{StallTimeout: -1, Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{Model: "m"}}}, "stall_timeout must not be negative"},
		{"huge warm-up", results.Plan{Warmup: 100_000_000, Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{Model: "m"}}}, "warmup must be from 0 to 10000"},
		{"NaN weight", results.Plan{Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{Model: "m", Weight: math.NaN()}}}, "mix[0]: weight must be a number"},
		{"infinite option", results.Plan{Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{Model: "m", Options: map[string]any{"temperature": math.Inf(-1)}}}}, "mix[0]: options: temperature: -Inf"},
		{"deep option", results.Plan{Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{Model: "m", Options: map[string]any{"a": nest(40)}}}}, "nested more than 16 levels"},
		{"huge synthetic prompt", results.Plan{Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{Model: "m", SyntheticWords: 2_000_000_000_000_000_000}}}, "synthetic_words must be from 0 to 1000000"},
		{"extra field llmload writes", results.Plan{Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{Model: "m", API: "openai-chat", ExtraBody: map[string]any{"stream": false}}}}, `mix[0]: extra_body: "stream" is a field llmload writes itself`},
		{"device as prompt file", results.Plan{Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{Model: "m", PromptFile: "/dev/zero"}}}, "/dev/zero is not a regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Prepare(&c.plan, "")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want %q", err, c.want)
			}
		})
	}
}

// nest makes options n levels deep.
func nest(n int) any {
	var v any = 1.0
	for range n {
		v = map[string]any{"k": v}
	}
	return v
}

func TestBodyFileDecidesModelAndStream(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "req.json"), `{"model":"llama3.2:1b","prompt":"hi","stream":false}`)
	writeFile(t, filepath.Join(dir, "bad.json"), `model=x`)
	p := results.Plan{Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{BodyFile: "req.json", Stream: true}}}
	if _, err := Prepare(&p, dir); err != nil {
		t.Fatal(err)
	}
	if p.Mix[0].Model != "llama3.2:1b" || p.Mix[0].Stream {
		t.Errorf("template from body: %+v", p.Mix[0])
	}
	bad := results.Plan{Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{BodyFile: "bad.json"}}}
	if _, err := Prepare(&bad, dir); err == nil || !strings.Contains(err.Error(), "bad.json is not a JSON object") {
		t.Errorf("bad body error = %v", err)
	}
}

func TestJSONLPromptErrorsNameTheLine(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.jsonl"), "\"ok\"\n{\"text\":\"no prompt field\"}\n")
	p := results.Plan{Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{Model: "m", PromptFile: "p.jsonl"}}}
	_, err := Prepare(&p, dir)
	if err == nil || !strings.Contains(err.Error(), "p.jsonl:2:") {
		t.Errorf("error = %v, want it to name line 2", err)
	}
}

// The example plans shipped in testdata/ are documentation: they must stay valid.
func TestExamplePlansLoad(t *testing.T) {
	paths, _ := filepath.Glob("../testdata/plans/*.yaml")
	if len(paths) == 0 {
		t.Fatal("no example plans found")
	}
	for _, p := range paths {
		if _, err := LoadPlanFile(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// A prompt file may give chat messages; they go to a chat API as they are, and nowhere else.
func TestChatMessagesFromPromptFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "chat.jsonl"),
		`{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}`+"\n"+`"plain"`+"\n")
	for _, tt := range []struct {
		api, want string
	}{
		{"openai-chat", ""},
		{"ollama-generate", "need a chat API"},
	} {
		p := results.Plan{Seed: 1, Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{Model: "m", API: tt.api, PromptFile: "chat.jsonl"}}}
		w, err := Prepare(&p, dir)
		if tt.want != "" {
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: %v, want %q", tt.api, err, tt.want)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		seq := newSequence(w)
		var sawChat, sawPlain bool
		for range 20 {
			req, _ := seq.next()
			body, err := req.Body()
			if err != nil {
				t.Fatal(err)
			}
			sawChat = sawChat || strings.Contains(string(body), `"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]`)
			sawPlain = sawPlain || strings.Contains(string(body), `"messages":[{"role":"user","content":"plain"}]`)
		}
		if !sawChat || !sawPlain {
			t.Errorf("20 requests: chat messages sent %v, a plain prompt %v", sawChat, sawPlain)
		}
	}
	// Unknown keys are refused, as a plan's are.
	writeFile(t, filepath.Join(dir, "bad.jsonl"), `{"prompt":"x","temprature":0}`+"\n")
	p := results.Plan{Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{Model: "m", PromptFile: "bad.jsonl"}}}
	if _, err := Prepare(&p, dir); err == nil || !strings.Contains(err.Error(), `bad.jsonl:1: json: unknown field "temprature"`) {
		t.Errorf("unknown key: %v", err)
	}
}

// A body file names the model and protocol of its entry: the body is sent as it is.
func TestBodyFileDecidesModelAndAPI(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		body, api, model string
		wantAPI          string
		wantErr          string
	}{
		{`{"model":"b","prompt":"p"}`, "", "", "ollama-generate", ""},
		{`{"model":"b","messages":[]}`, "", "", "ollama-chat", ""},
		{`{"model":"b","messages":[],"max_tokens":5}`, "", "", "openai-chat", ""},
		{`{"model":"b","prompt":"p","stream_options":{}}`, "", "", "openai-completions", ""},
		{`{"model":"b","messages":[]}`, "openai-chat", "b", "openai-chat", ""},
		{`{"prompt":"p"}`, "openai-completions", "label", "openai-completions", ""},
		{`{"model":"b","prompt":"p"}`, "", "other", "", `names model "b", but the template's model is "other"`},
		{`{"model":"b","messages":[]}`, "ollama-generate", "", "", "is written for ollama-chat, but the template's api is ollama-generate"},
		{`{"model":"b","prompt":"p"}`, "openai-chat", "", "", "is written for openai-completions"},
		{`{"model":"b","prompt":"p","messages":[]}`, "", "", "", `both "messages" and "prompt"`},
		{`{"model":"b","prompt":"p","options":{},"max_tokens":1}`, "", "", "", `only Ollama takes`},
	} {
		path := filepath.Join(dir, "body.json")
		if err := os.WriteFile(path, []byte(tt.body), 0o644); err != nil {
			t.Fatal(err)
		}
		p := &results.Plan{Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{API: tt.api, Model: tt.model, BodyFile: path}}}
		_, err := Prepare(p, "")
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s (api %q, model %q): err %v, want %q", tt.body, tt.api, tt.model, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.body, err)
		case p.Mix[0].API != tt.wantAPI || (tt.model == "" && p.Mix[0].Model != "b"):
			t.Errorf("%s: api %s model %s, want %s", tt.body, p.Mix[0].API, p.Mix[0].Model, tt.wantAPI)
		}
	}
}

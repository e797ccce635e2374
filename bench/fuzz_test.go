package bench

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/llmload/llmload/bench/results"
)

// fuzzDir is a plan's folder for the fuzz targets: a prompt file, a chat prompt file, a
// lengths file and a body file a fuzzed plan may name.
func fuzzDir(f *testing.F) string {
	dir := f.TempDir()
	for name, text := range map[string]string{
		"prompts.jsonl": "\"one\"\n{\"prompt\":\"two\"}\n",
		"chats.jsonl":   `{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}` + "\n",
		"lengths.txt":   "# words\n10\n20\n",
		"body.json":     `{"model":"m","prompt":"p","stream":false}`,
		"prompt.txt":    "a prompt",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	return dir
}

// FuzzPlanFile: any YAML gives a plan or an error naming the file, never a panic; a plan
// Prepare accepts encodes into a results file (no NaN, no depth without end), and the requests
// it deals encode too.
func FuzzPlanFile(f *testing.F) {
	dir := fuzzDir(f)
	paths, _ := filepath.Glob(filepath.Join("..", "testdata", "plans", "*.yaml"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"stages: [{concurrency: 1, requests: 2}]\nmix: [{model: m, prompt_file: prompts.jsonl}]",
		"stages: [{rate: .nan, duration: 1s}]\nmix: [{model: m}]",
		"stages: [{rate: 0.5, arrival: poisson, max_concurrency: 2, duration: 1s}]\nmix: [{model: m, weight: .inf}]",
		"stages: [{concurrency: 2, requests: 4}]\nmix: [{model: m, api: openai-chat, prompt_file: chats.jsonl, input_words: 'file:lengths.txt', output_tokens: 'normal:50,10', fixed_output: true}]",
		"stages: [{concurrency: 1, requests: 1}]\nmix: [{body_file: body.json}]",
		"stages: [{concurrency: 1, requests: 1}]\nmix: [{model: m, options: {stop: [[[[[[[[[[[[[[[[[[x]]]]]]]]]]]]]]]]]]}, extra_body: {n: 1e400}}]",
		"warmup: 3\ndefaults: {options: {num_ctx: 4611686018427387904}}\nstages: [{concurrency: 1, requests: 1}]\nmix: [{model: m, synthetic_words: 2000000000000000000, shared_prefix_words: 3}]",
		"a: &a [*a, *a]\nb: &b [*a, *a]",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pf, err := ParsePlan("plan.yaml", b)
		if err != nil {
			return
		}
		w, err := Prepare(&pf.Plan, dir)
		if err != nil {
			return
		}
		if _, err := json.Marshal(w.Plan); err != nil {
			t.Fatalf("a prepared plan does not encode: %v", err)
		}
		seq := newSequence(w)
		for range 3 {
			req, _ := seq.next()
			if _, err := req.Body(); err != nil {
				t.Fatalf("a prepared plan's request does not encode: %v", err)
			}
		}
	})
}

// FuzzPromptFile: any prompt file gives prompts or an error naming the file (and its line),
// never a panic; the chats, when some line gave messages, are one per prompt.
func FuzzPromptFile(f *testing.F) {
	for _, s := range []string{
		"\"one\"\n\"two\"\n",
		"{\"prompt\":\"p\"}\n{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n",
		"{\"messages\":[]}\n", "{\"messages\":[{\"content\":\"x\"}]}", "{\"prompt\":null}", "{\"x\":1}", "\n\n", "[1,2]",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "p.jsonl")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		prompts, chats, err := readPrompts(path)
		if err != nil {
			return
		}
		if len(prompts) == 0 || (chats != nil && len(chats) != len(prompts)) {
			t.Fatalf("%d prompts, %d chats", len(prompts), len(chats))
		}
	})
}

// FuzzDist: any distribution spec (and any lengths file) gives a distribution or an error,
// never a panic, and what it draws is a length from 1 to maxDistValue.
func FuzzDist(f *testing.F) {
	for _, s := range []string{"1", "1000000", "uniform:1-5", "uniform:5-1", "normal:100,1e300", "normal:1,0", "normal:NaN,1", "file:x", "poisson:3", "-1", ""} {
		f.Add(s, []byte("1\n2\n# c\n"))
	}
	f.Add("file:lengths", []byte("9223372036854775807\n"))
	f.Fuzz(func(t *testing.T, spec string, file []byte) {
		d, err := parseDist(spec, func(string) ([]byte, error) { return file, nil })
		if err != nil {
			return
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for range 16 {
			if v := d.draw(rng); v < 1 || v > maxDistValue {
				t.Fatalf("%q drew %d", spec, v)
			}
		}
	})
}

// FuzzBodyFile: any --body file gives a template or an error, never a panic; the client's
// quick look at a body's "stream" field (api.Request.ExpectStream) agrees with what Prepare
// read with encoding/json, so the reply is read as the server will send it.
func FuzzBodyFile(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","prompt":"p","stream":false}`, `{"model":"m","stream":true}`, `{"model":"m"}`,
		`{"model":"m","stream":null}`, `{"model":"m","stream":"yes"}`, `{"model":"m","stream":false,"stream":true}`,
		`{"model":"m","x":{"stream":false}}`, `{"model":"m","STREAM":false}`, `{"model":"m","stre\u0061m":false}`,
		`[]`, `{"model":1}`, ``,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, "body.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, a := range []string{"ollama-generate", "openai-chat"} {
			p := &results.Plan{Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{API: a, BodyFile: "body.json"}}}
			w, err := Prepare(p, dir)
			if err != nil {
				continue
			}
			req, tpl := newSequence(w).next()
			if got := req.ExpectStream(); got != tpl.Stream {
				t.Fatalf("%s: %s: ExpectStream %v, Prepare read stream %v", a, b, got, tpl.Stream)
			}
			if _, err := req.Body(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

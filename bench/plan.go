// Package bench is llmload's engine: it prepares plans (stages × a weighted request mix),
// runs them (closed- and open-loop worker pools), and measures every request into HDR
// histograms, which it hands back as a results.Run (the schema lives in bench/results). A
// Session is one load test of one server around that: client, repeats, GPU, results file.
package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
)

// Workload is a prepared plan: validated, defaults filled in, and every prompt source read,
// so that the runner never touches a file. RunPlan takes it.
type Workload struct {
	Plan *results.Plan
	// sources are the mix's prompt sources, parallel to Plan.Mix.
	sources []promptSource
}

// WithWarmup returns a copy of w whose plan sends n warm-up requests per model (a sweep warms
// every slot of each setting); w is left as it is.
func (w *Workload) WithWarmup(n int) *Workload {
	plan := *w.Plan
	plan.Warmup = n
	return &Workload{Plan: &plan, sources: w.sources}
}

// promptSource is what a mix entry sends: its prompts (one picked per request), a raw body,
// or neither for synthetic prompts, which are made per request from the run's seed.
type promptSource struct {
	prompts []string
	body    []byte
}

// ErrNoModel is a template of the mix that names no model, and has no body file that does.
var ErrNoModel = errors.New("no model (set the template's model, or a \"model\" field in its body file)")

// Prepare validates the plan, fills in its defaults (stage and template names, weights, API,
// arrival process) and loads every prompt source. Relative paths are resolved against dir.
// Errors name the stage or template.
func Prepare(p *results.Plan, dir string) (*Workload, error) {
	if len(p.Stages) == 0 {
		return nil, fmt.Errorf("plan has no stages")
	}
	if len(p.Mix) == 0 {
		return nil, fmt.Errorf("plan has no requests in its mix")
	}
	for i := range p.Stages {
		s := &p.Stages[i]
		where := fmt.Sprintf("stages[%d]", i)
		switch {
		case s.Rate < 0:
			return nil, fmt.Errorf("%s: rate must be positive, got %v", where, s.Rate)
		case s.Rate > 0 && s.Concurrency > 0:
			return nil, fmt.Errorf("%s: give either concurrency (closed loop) or rate (open loop), not both", where)
		case s.Rate == 0 && s.Concurrency <= 0:
			return nil, fmt.Errorf("%s: concurrency must be at least 1, got %d", where, s.Concurrency)
		case s.Requests < 0:
			return nil, fmt.Errorf("%s: requests must not be negative, got %d", where, s.Requests)
		case s.Duration < 0:
			return nil, fmt.Errorf("%s: duration must not be negative, got %s", where, time.Duration(s.Duration))
		case s.Requests == 0 && s.Duration == 0:
			return nil, fmt.Errorf("%s: give a number of requests or a duration", where)
		case s.MaxConcurrency < 0:
			return nil, fmt.Errorf("%s: max_concurrency must not be negative", where)
		}
		if s.OpenLoop() {
			if s.Arrival == "" {
				s.Arrival = results.ArrivalConstant
			}
			if s.Arrival != results.ArrivalConstant && s.Arrival != results.ArrivalPoisson {
				return nil, fmt.Errorf("%s: arrival must be constant or poisson, got %q", where, s.Arrival)
			}
		} else if s.Arrival != "" || s.MaxConcurrency != 0 {
			return nil, fmt.Errorf("%s: arrival and max_concurrency apply to open-loop stages (rate) only", where)
		}
		if s.Name == "" {
			s.Name = s.DefaultName()
		}
	}
	w := &Workload{Plan: p, sources: make([]promptSource, len(p.Mix))}
	total := 0.0
	for i, t := range p.Mix {
		where := fmt.Sprintf("mix[%d]", i)
		if t.Name == "" {
			t.Name = t.Model
			if len(p.Mix) > 1 {
				t.Name = fmt.Sprintf("%s#%d", t.Model, i+1)
			}
		}
		if t.Weight < 0 {
			return nil, fmt.Errorf("%s: weight must not be negative", where)
		}
		if t.Weight == 0 {
			t.Weight = 1
		}
		total += t.Weight
		if t.API == "" {
			t.API = string(api.OllamaGenerate)
		}
		if _, err := api.ParseAPI(t.API); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if t.MaxTokens < 0 {
			return nil, fmt.Errorf("%s: max_tokens must not be negative", where)
		}
		src, err := load(t, dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		w.sources[i] = src
		if t.Model == "" {
			return nil, fmt.Errorf("%s: %w", where, ErrNoModel)
		}
	}
	if total <= 0 {
		return nil, fmt.Errorf("mix weights sum to zero")
	}
	if p.Warmup < 0 {
		return nil, fmt.Errorf("warmup must not be negative")
	}
	return w, nil
}

// load reads the template's prompt source. A body file also decides the template's model
// (when it names none) and whether the reply streams.
func load(t *results.Template, dir string) (promptSource, error) {
	var src promptSource
	sources := 0
	for _, set := range []bool{t.Prompt != "", t.PromptFile != "", t.SyntheticWords > 0, t.BodyFile != ""} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		return src, fmt.Errorf("give one prompt source: prompt, prompt_file, synthetic_words or body_file")
	}
	if t.SyntheticWords < 0 {
		return src, fmt.Errorf("synthetic_words must not be negative")
	}
	switch {
	case t.BodyFile != "":
		b, err := os.ReadFile(resolve(dir, t.BodyFile))
		if err != nil {
			return src, fmt.Errorf("body file: %w", err)
		}
		var probe struct {
			Model  string `json:"model"`
			Stream *bool  `json:"stream"`
		}
		if err := json.Unmarshal(b, &probe); err != nil {
			return src, fmt.Errorf("body file %s is not a JSON object: %w", t.BodyFile, err)
		}
		if t.Model == "" {
			t.Model = probe.Model
		}
		// What the server will do decides what the client expects: Ollama streams unless told
		// not to, OpenAI servers do not stream unless told to.
		if probe.Stream != nil {
			t.Stream = *probe.Stream
		} else {
			t.Stream = api.API(t.API).IsOllama()
		}
		src.body = b
	case t.PromptFile != "":
		ps, err := readPrompts(resolve(dir, t.PromptFile))
		if err != nil {
			return src, err
		}
		src.prompts = ps
	case t.SyntheticWords > 0:
		// Prompts are made per request from the run's seed.
	default:
		if t.Prompt == "" {
			t.Prompt = defaultPrompt
		}
		src.prompts = []string{t.Prompt}
	}
	return src, nil
}

const defaultPrompt = "Write a short story about a lighthouse keeper."

func resolve(dir, path string) string {
	if filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

// readPrompts reads a prompt file: a .jsonl file holds one prompt per line (a JSON string, or
// an object with a "prompt" field); any other file is one prompt.
func readPrompts(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("prompt file: %w", err)
	}
	if !strings.HasSuffix(strings.ToLower(path), ".jsonl") {
		if len(bytes.TrimSpace(b)) == 0 {
			return nil, fmt.Errorf("prompt file %s is empty", path)
		}
		return []string{string(b)}, nil
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), len(b)+1)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var s string
		if err := json.Unmarshal(text, &s); err == nil {
			out = append(out, s)
			continue
		}
		var obj struct {
			Prompt *string `json:"prompt"`
		}
		if err := json.Unmarshal(text, &obj); err != nil || obj.Prompt == nil {
			return nil, fmt.Errorf("%s:%d: want a JSON string or an object with a \"prompt\" field", path, line)
		}
		out = append(out, *obj.Prompt)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("prompt file %s has no prompts", path)
	}
	return out, nil
}

// sequence deals requests for one stage. Every stage of a run gets the same sequence from the
// same seed, so stages differ only in how the requests are sent.
type sequence struct {
	work   *Workload
	rng    *rand.Rand
	cum    []float64 // cumulative weights
	nextID int
}

func newSequence(w *Workload) *sequence {
	s := &sequence{work: w, rng: rand.New(rand.NewPCG(w.Plan.Seed, 0x6c6c6d6c6f6164))}
	total := 0.0
	for _, t := range w.Plan.Mix {
		total += t.Weight
		s.cum = append(s.cum, total)
	}
	return s
}

// next returns the next request and the template it came from.
func (s *sequence) next() (*api.Request, *results.Template) {
	x := s.rng.Float64() * s.cum[len(s.cum)-1]
	idx := len(s.cum) - 1
	for i, c := range s.cum {
		if x < c {
			idx = i
			break
		}
	}
	return s.request(idx), s.work.Plan.Mix[idx]
}

// request makes a request from the mix's template idx: its body, or a prompt from its source.
func (s *sequence) request(idx int) *api.Request {
	t, src := s.work.Plan.Mix[idx], &s.work.sources[idx]
	s.nextID++
	req := &api.Request{API: api.API(t.API), Model: t.Model, MaxTokens: t.MaxTokens, Stream: t.Stream, Options: t.Options}
	switch {
	case src.body != nil:
		req.RawBody = src.body
	case t.SyntheticWords > 0:
		req.Prompt = syntheticPrompt(s.rng, t.SyntheticWords)
	case len(src.prompts) == 1:
		req.Prompt = src.prompts[0]
	default:
		req.Prompt = src.prompts[s.rng.IntN(len(src.prompts))]
	}
	return req
}

// syntheticWords is a small vocabulary of common English words: synthetic prompts made from it
// tokenize to about one token per word on every tokenizer we know of.
var syntheticWords = strings.Fields(`the of and to in is that for it as was with be by on not he
this are or his from at which but have an they you were her she there been one all we their has
would when if so no will can more out up into do time what about than some could them other
only new like then now its our two may first way even because any these work well also back
after use people most over just good year through know make day how take many where come
water long little very light sea house small world old great kind place hand keep still found
river open light tower night ship storm coast harbour lamp window morning evening stone wind`)

func syntheticPrompt(rng *rand.Rand, words int) string {
	var b strings.Builder
	b.Grow(words * 6)
	for i := 0; i < words; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(syntheticWords[rng.IntN(len(syntheticWords))])
	}
	return b.String()
}

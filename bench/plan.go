// Package bench is llmload's engine: plans (stages × a weighted request mix), the runner
// (closed- and open-loop worker pools), metrics in HDR histograms, and the results file.
package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/llmload/llmload/bench/api"
)

// Duration is a time.Duration that reads and writes as text ("30s") in plans and results.
type Duration time.Duration

// MarshalText writes the duration as Go duration text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads Go duration text.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Arrival is the open-loop arrival process.
type Arrival string

// Arrival processes.
const (
	ArrivalConstant Arrival = "constant"
	ArrivalPoisson  Arrival = "poisson"
)

// Stage is one phase of a run: a closed loop of Concurrency workers, or an open loop at Rate
// requests per second. It ends after Requests requests or after Duration, whichever comes first
// (a zero means no limit of that kind; at least one is set).
type Stage struct {
	Name           string   `json:"name"`
	Concurrency    int      `json:"concurrency"`
	Rate           float64  `json:"rate"`
	Arrival        Arrival  `json:"arrival,omitempty"`
	MaxConcurrency int      `json:"max_concurrency,omitempty"`
	Requests       int      `json:"requests,omitempty"`
	Duration       Duration `json:"duration,omitempty"`
}

// OpenLoop reports whether requests are paced by arrival time rather than by free workers.
func (s Stage) OpenLoop() bool { return s.Rate > 0 }

// DefaultName is the name a stage gets when the plan gives none: "c=10" or "rate=2/s".
func (s Stage) DefaultName() string {
	if s.OpenLoop() {
		return fmt.Sprintf("rate=%s/s", trimFloat(s.Rate))
	}
	return fmt.Sprintf("c=%d", s.Concurrency)
}

func trimFloat(f float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", f), "0"), ".")
}

// Template is one kind of request in the mix. Prompts come from exactly one source.
type Template struct {
	Name           string         `json:"name"`
	Weight         float64        `json:"weight"`
	API            api.API        `json:"api"`
	Model          string         `json:"model"`
	Prompt         string         `json:"prompt,omitempty"`
	PromptFile     string         `json:"prompt_file,omitempty"`
	SyntheticWords int            `json:"synthetic_words,omitempty"`
	BodyFile       string         `json:"body_file,omitempty"`
	MaxTokens      int            `json:"max_tokens"`
	Stream         bool           `json:"stream"`
	Options        map[string]any `json:"options,omitempty"`

	prompts []string // resolved by Plan.Prepare
	body    []byte
}

// Plan is everything a run does. It is built from flags or a YAML file, then Prepared.
type Plan struct {
	Stages []Stage     `json:"stages"`
	Mix    []*Template `json:"mix"`
	// Warmup is the number of warm-up requests per model, sent together before the first
	// stage and excluded from metrics. The first one also loads the model.
	Warmup           int      `json:"warmup"`
	Seed             uint64   `json:"seed"`
	Timeout          Duration `json:"timeout,omitempty"`
	FirstByteTimeout Duration `json:"first_byte_timeout,omitempty"`
	StallTimeout     Duration `json:"stall_timeout,omitempty"`
}

// Models lists the distinct models of the mix, in first-appearance order.
func (p *Plan) Models() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range p.Mix {
		if !seen[t.Model] {
			seen[t.Model] = true
			out = append(out, t.Model)
		}
	}
	return out
}

// NumCtx is the num_ctx option the plan's requests send (every entry of a mix for one model
// sends the same, or Ollama reloads it), 0 when none sends one.
func NumCtx(p *Plan) int {
	for _, t := range p.Mix {
		switch v := t.Options["num_ctx"].(type) {
		case int:
			return v
		case int64:
			return int(v)
		case float64:
			return int(v)
		}
	}
	return 0
}

// Prepare validates the plan and loads every prompt source, so that the runner never touches
// a file. Relative paths are resolved against dir. Errors name the stage or template.
func (p *Plan) Prepare(dir string) error {
	if len(p.Stages) == 0 {
		return fmt.Errorf("plan has no stages")
	}
	if len(p.Mix) == 0 {
		return fmt.Errorf("plan has no requests in its mix")
	}
	for i := range p.Stages {
		s := &p.Stages[i]
		where := fmt.Sprintf("stages[%d]", i)
		switch {
		case s.Rate < 0:
			return fmt.Errorf("%s: rate must be positive, got %v", where, s.Rate)
		case s.Rate > 0 && s.Concurrency > 0:
			return fmt.Errorf("%s: give either concurrency (closed loop) or rate (open loop), not both", where)
		case s.Rate == 0 && s.Concurrency <= 0:
			return fmt.Errorf("%s: concurrency must be at least 1, got %d", where, s.Concurrency)
		case s.Requests < 0:
			return fmt.Errorf("%s: requests must not be negative, got %d", where, s.Requests)
		case s.Duration < 0:
			return fmt.Errorf("%s: duration must not be negative, got %s", where, time.Duration(s.Duration))
		case s.Requests == 0 && s.Duration == 0:
			return fmt.Errorf("%s: give a number of requests or a duration", where)
		case s.MaxConcurrency < 0:
			return fmt.Errorf("%s: max_concurrency must not be negative", where)
		}
		if s.OpenLoop() {
			if s.Arrival == "" {
				s.Arrival = ArrivalConstant
			}
			if s.Arrival != ArrivalConstant && s.Arrival != ArrivalPoisson {
				return fmt.Errorf("%s: arrival must be constant or poisson, got %q", where, s.Arrival)
			}
		} else if s.Arrival != "" || s.MaxConcurrency != 0 {
			return fmt.Errorf("%s: arrival and max_concurrency apply to open-loop stages (rate) only", where)
		}
		if s.Name == "" {
			s.Name = s.DefaultName()
		}
	}
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
			return fmt.Errorf("%s: weight must not be negative", where)
		}
		if t.Weight == 0 {
			t.Weight = 1
		}
		total += t.Weight
		if t.API == "" {
			t.API = api.OllamaGenerate
		}
		if _, err := api.ParseAPI(string(t.API)); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if t.MaxTokens < 0 {
			return fmt.Errorf("%s: max_tokens must not be negative", where)
		}
		if err := t.load(dir); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if t.Model == "" {
			return fmt.Errorf("%s: no model (give -m/--model, or model: in the plan)", where)
		}
	}
	if total <= 0 {
		return fmt.Errorf("mix weights sum to zero")
	}
	if p.Warmup < 0 {
		return fmt.Errorf("warmup must not be negative")
	}
	return nil
}

// load resolves the template's prompt source.
func (t *Template) load(dir string) error {
	sources := 0
	for _, set := range []bool{t.Prompt != "", t.PromptFile != "", t.SyntheticWords > 0, t.BodyFile != ""} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		return fmt.Errorf("give one prompt source: prompt, prompt_file, synthetic_words or body_file")
	}
	if t.SyntheticWords < 0 {
		return fmt.Errorf("synthetic_words must not be negative")
	}
	switch {
	case t.BodyFile != "":
		b, err := os.ReadFile(resolve(dir, t.BodyFile))
		if err != nil {
			return fmt.Errorf("body file: %w", err)
		}
		var probe struct {
			Model  string `json:"model"`
			Stream *bool  `json:"stream"`
		}
		if err := json.Unmarshal(b, &probe); err != nil {
			return fmt.Errorf("body file %s is not a JSON object: %w", t.BodyFile, err)
		}
		if t.Model == "" {
			t.Model = probe.Model
		}
		// What the server will do decides what the client expects: Ollama streams unless told
		// not to, OpenAI servers do not stream unless told to.
		if probe.Stream != nil {
			t.Stream = *probe.Stream
		} else {
			t.Stream = t.API.IsOllama()
		}
		t.body = b
	case t.PromptFile != "":
		ps, err := readPrompts(resolve(dir, t.PromptFile))
		if err != nil {
			return err
		}
		t.prompts = ps
	case t.SyntheticWords > 0:
		// Prompts are made per request from the run's seed.
	default:
		if t.Prompt == "" {
			t.Prompt = defaultPrompt
		}
		t.prompts = []string{t.Prompt}
	}
	return nil
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
	plan   *Plan
	rng    *rand.Rand
	cum    []float64 // cumulative weights
	nextID int
}

func newSequence(p *Plan) *sequence {
	s := &sequence{plan: p, rng: rand.New(rand.NewPCG(p.Seed, 0x6c6c6d6c6f6164))}
	total := 0.0
	for _, t := range p.Mix {
		total += t.Weight
		s.cum = append(s.cum, total)
	}
	return s
}

// next returns the next request and the template it came from.
func (s *sequence) next() (*api.Request, *Template) {
	x := s.rng.Float64() * s.cum[len(s.cum)-1]
	idx := len(s.cum) - 1
	for i, c := range s.cum {
		if x < c {
			idx = i
			break
		}
	}
	t := s.plan.Mix[idx]
	s.nextID++
	req := &api.Request{API: t.API, Model: t.Model, MaxTokens: t.MaxTokens, Stream: t.Stream, Options: t.Options}
	switch {
	case t.body != nil:
		req.RawBody = t.body
	case t.SyntheticWords > 0:
		req.Prompt = syntheticPrompt(s.rng, t.SyntheticWords)
	case len(t.prompts) == 1:
		req.Prompt = t.prompts[0]
	default:
		req.Prompt = t.prompts[s.rng.IntN(len(t.prompts))]
	}
	return req, t
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

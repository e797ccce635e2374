package results

import (
	"fmt"
	"time"
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
		return fmt.Sprintf("rate=%s/s", TrimFloat(s.Rate, 3))
	}
	return fmt.Sprintf("c=%d", s.Concurrency)
}

// Template is one kind of request in the mix. Prompts come from exactly one source.
type Template struct {
	Name   string  `json:"name"`
	Weight float64 `json:"weight"`
	// API is the wire protocol: "ollama-generate", "ollama-chat", "openai-chat" … (the
	// engine's api.API values).
	API            string         `json:"api"`
	Model          string         `json:"model"`
	Prompt         string         `json:"prompt,omitempty"`
	PromptFile     string         `json:"prompt_file,omitempty"`
	SyntheticWords int            `json:"synthetic_words,omitempty"`
	BodyFile       string         `json:"body_file,omitempty"`
	MaxTokens      int            `json:"max_tokens"`
	Stream         bool           `json:"stream"`
	Options        map[string]any `json:"options,omitempty"`
	// ExtraBody are more top-level fields of every request's body (ignore_eos, min_tokens,
	// cache_prompt …), sent as given; they may not name a field llmload writes itself.
	ExtraBody map[string]any `json:"extra_body,omitempty"`
	// InputWords makes synthetic prompts whose length in words follows a distribution: "300",
	// "uniform:100-500", "normal:300,50", "file:lengths.txt" (one number a line).
	InputWords string `json:"input_words,omitempty"`
	// OutputTokens draws each request's token limit from a distribution (as InputWords); it
	// replaces MaxTokens.
	OutputTokens string `json:"output_tokens,omitempty"`
	// SharedPrefixWords starts every prompt of the entry with the same seeded words: a server
	// with a prompt cache then serves that part from it.
	SharedPrefixWords int `json:"shared_prefix_words,omitempty"`
	// FixedOutput asks the server for exactly the token limit, past the model's end of text:
	// ignore_eos and min_tokens on the OpenAI protocols (llama-server, vLLM). Ollama has no
	// such option: its lengths stay the model's own, and the run says so.
	FixedOutput bool `json:"fixed_output,omitempty"`
}

// Plan is everything a run does: built from flags or a YAML file, then prepared (validated,
// prompt sources read) by the engine, and stored with every run.
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
func (p *Plan) NumCtx() int {
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

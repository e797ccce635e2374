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
	"hash/fnv"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
)

// Workload is a prepared plan: validated, defaults filled in, and every prompt source read,
// so that the runner never touches a file. RunPlan takes it.
type Workload struct {
	Plan *results.Plan
	// Notes are caveats the plan itself brings (an exact output length Ollama cannot give).
	Notes []string
	// sources are the mix's prompt sources, parallel to Plan.Mix.
	sources []promptSource
}

// Inputs are the files the workload was read from (prompt, body and length files), as
// opened: a caller that writes files refuses to write over one of them.
func (w *Workload) Inputs() []string {
	var out []string
	for _, src := range w.sources {
		for _, f := range src.files {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// WithWarmup returns a copy of w whose plan sends n warm-up requests per model (a sweep warms
// every slot of each setting); w is left as it is.
func (w *Workload) WithWarmup(n int) *Workload {
	plan := *w.Plan
	plan.Warmup = n
	return &Workload{Plan: &plan, Notes: w.Notes, sources: w.sources}
}

// promptSource is what a mix entry sends: its prompts (one picked per request), a raw body,
// or neither for synthetic prompts, which are made per request from the run's seed.
type promptSource struct {
	prompts []string
	// chats are, parallel to prompts, each prompt's chat messages when the prompt file gave
	// them ({"messages": […]}); nil entries send the prompt as one user message.
	chats [][]api.Message
	// input and output draw synthetic prompt lengths and token limits; nil: fixed.
	input, output *dist
	prefix        string // the words every prompt starts with
	body          []byte
	files         []string // the files read, as opened
}

// Bounds on what one plan may ask: past them a plan is a mistake (a typo, a unit slip) that
// would exhaust the client's memory or never end, not a load test.
const (
	// MaxConcurrency bounds closed-loop workers and an open loop's cap: one goroutine and one
	// connection each.
	MaxConcurrency = 100_000
	// MaxWarmup bounds warm-up requests per model; they are built and sent together.
	MaxWarmup = 10_000
	// MaxSyntheticWords bounds a synthetic prompt (about a million tokens).
	MaxSyntheticWords = 1_000_000
	// MinRate is the slowest open loop: one request per 1000 s.
	MinRate = 0.001
	// MaxRate bounds an open loop's arrivals per second.
	MaxRate = 1_000_000
	// MaxOptionDepth bounds how deeply options nest; the plan is written into every results
	// file.
	MaxOptionDepth = 16
	// MaxInputFile bounds a prompt or body file.
	MaxInputFile = 256 << 20
)

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
		case math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0) || s.Rate < 0:
			return nil, fmt.Errorf("%s: rate must be a positive number, got %v", where, s.Rate)
		case s.Rate > 0 && (s.Rate < MinRate || s.Rate > MaxRate):
			return nil, fmt.Errorf("%s: rate %v requests/s is out of range (%v to %v)", where, s.Rate, MinRate, MaxRate)
		case s.Concurrency > MaxConcurrency || s.MaxConcurrency > MaxConcurrency:
			return nil, fmt.Errorf("%s: concurrency is at most %d", where, MaxConcurrency)
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
	for _, s := range p.Stages {
		if !s.OpenLoop() && s.Requests > 0 && s.Requests < s.Concurrency {
			// Kept as asked (the other stages of a list may need no more), but said: ab and hey
			// refuse it outright.
			w.Notes = append(w.Notes, fmt.Sprintf("stage %s sends %d requests: no more than %d are ever in flight, not %d (give at least %d requests for that)", s.Name, s.Requests, s.Requests, s.Concurrency, s.Concurrency))
		}
	}
	total := 0.0
	for i, t := range p.Mix {
		where := fmt.Sprintf("mix[%d]", i)
		// The name is the entry's class: stages report each class apart when there are
		// several. Unnamed entries are classed by their model.
		if t.Name == "" {
			t.Name = t.Model
		}
		if math.IsNaN(t.Weight) || math.IsInf(t.Weight, 0) || t.Weight < 0 {
			return nil, fmt.Errorf("%s: weight must be a number, at least 0, got %v", where, t.Weight)
		}
		if err := checkOptions(t.Options); err != nil {
			return nil, fmt.Errorf("%s: options: %w", where, err)
		}
		if err := checkOptions(t.ExtraBody); err != nil {
			return nil, fmt.Errorf("%s: extra_body: %w", where, err)
		}
		if t.Weight == 0 {
			t.Weight = 1
		}
		total += t.Weight
		if t.API == "" && t.BodyFile == "" {
			t.API = string(api.OllamaGenerate) // a body file says its own (see load)
		}
		if t.API != "" {
			if _, err := api.ParseAPI(t.API); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		}
		src, err := load(t, dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		w.sources[i] = src
		if t.MaxTokens < 0 {
			return nil, fmt.Errorf("%s: max_tokens must not be negative", where)
		}
		if t.FixedOutput {
			switch {
			case t.MaxTokens == 0 && t.OutputTokens == "":
				return nil, fmt.Errorf("%s: fixed_output needs a token limit (max_tokens or output_tokens)", where)
			case api.API(t.API).IsOllama():
				w.Notes = append(w.Notes, fmt.Sprintf("%s asks for a fixed output length, which Ollama cannot give (it has no option to ignore the end of text): the lengths are the model's own, and each record's done_reason says why it ended", t.Name))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(t.ExtraBody)) {
			if slices.Contains(api.BodyFields(api.API(t.API)), k) {
				return nil, fmt.Errorf("%s: extra_body: %q is a field llmload writes itself (%s)", where, k, strings.Join(api.BodyFields(api.API(t.API)), ", "))
			}
		}
		if t.Model == "" {
			return nil, fmt.Errorf("%s: %w", where, ErrNoModel)
		}
		if t.Name == "" {
			t.Name = t.Model // a body file named it
		}
	}
	if total <= 0 {
		return nil, fmt.Errorf("mix weights sum to zero")
	}
	if n := reloadNote(p.Mix); n != "" {
		w.Notes = append(w.Notes, n)
	}
	for name, d := range map[string]results.Duration{"timeout": p.Timeout, "first_byte_timeout": p.FirstByteTimeout, "stall_timeout": p.StallTimeout} {
		if d < 0 {
			return nil, fmt.Errorf("%s must not be negative, got %s", name, time.Duration(d))
		}
	}
	if p.Warmup < 0 || p.Warmup > MaxWarmup {
		return nil, fmt.Errorf("warmup must be from 0 to %d requests per model, got %d", MaxWarmup, p.Warmup)
	}
	return w, nil
}

// runnerOptions are the options Ollama starts a model's runner with: a request whose values
// differ from those the model was loaded with makes Ollama reload it (sampling options such
// as temperature do not).
var runnerOptions = []string{"num_ctx", "num_batch", "num_gpu", "main_gpu", "num_thread", "use_mmap", "use_mlock", "low_vram"}

// reloadNote says when entries of the mix ask one model, over Ollama's API, for different
// runner options: Ollama then reloads the model between their requests (reload thrash), and
// every such request pays a load.
func reloadNote(mix []*results.Template) string {
	type seen struct {
		name, opts string
	}
	first := map[string]seen{}
	var parts []string
	for _, t := range mix {
		if !api.API(t.API).IsOllama() || t.Model == "" {
			continue
		}
		var kv []string
		for _, k := range runnerOptions {
			if v, ok := t.Options[k]; ok {
				kv = append(kv, fmt.Sprintf("%s %v", k, v))
			}
		}
		opts := strings.Join(kv, ", ")
		f, ok := first[t.Model]
		if !ok {
			first[t.Model] = seen{t.Name, opts}
			continue
		}
		if f.opts != opts {
			parts = append(parts, fmt.Sprintf("%s (%s) and %s (%s) ask %s for different runner options", f.name, orNone(f.opts), t.Name, orNone(opts), t.Model))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "reload thrash: " + strings.Join(parts, "; ") + ": Ollama reloads a model whenever a request's runner options differ from those it was loaded with, so these requests take turns loading it and their latencies hold the loads"
}

func orNone(s string) string {
	if s == "" {
		return "the defaults"
	}
	return s
}

// load reads the template's prompt source. A body file also decides the template's model
// (when it names none) and whether the reply streams.
func load(t *results.Template, dir string) (promptSource, error) {
	var src promptSource
	sources := 0
	for _, set := range []bool{t.Prompt != "", t.PromptFile != "", t.SyntheticWords > 0 || t.InputWords != "", t.BodyFile != ""} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		return src, fmt.Errorf("give one prompt source: prompt, prompt_file, synthetic_words (or input_words) or body_file")
	}
	if t.SyntheticWords > 0 && t.InputWords != "" {
		return src, fmt.Errorf("give synthetic_words or input_words, not both")
	}
	readRel := func(path string) ([]byte, error) {
		src.files = append(src.files, resolve(dir, path))
		return readInput(resolve(dir, path))
	}
	var err error
	if t.InputWords != "" {
		if src.input, err = parseDist(t.InputWords, readRel); err != nil {
			return src, fmt.Errorf("input_words: %w", err)
		}
	}
	if t.OutputTokens != "" {
		if src.output, err = parseDist(t.OutputTokens, readRel); err != nil {
			return src, fmt.Errorf("output_tokens: %w", err)
		}
	}
	if t.SharedPrefixWords < 0 || t.SharedPrefixWords > MaxSyntheticWords {
		return src, fmt.Errorf("shared_prefix_words must be from 0 to %d, got %d", MaxSyntheticWords, t.SharedPrefixWords)
	}
	if t.SharedPrefixWords > 0 {
		if t.BodyFile != "" {
			return src, fmt.Errorf("shared_prefix_words does not apply to a body file, which is sent as it is")
		}
		// Seeded by the entry's name: the same prefix in every run, another for another entry.
		h := fnv.New64a()
		h.Write([]byte(t.Name))
		src.prefix = syntheticPrompt(rand.New(rand.NewPCG(h.Sum64(), 0x707265666978)), t.SharedPrefixWords)
	}
	if t.SyntheticWords < 0 || t.SyntheticWords > MaxSyntheticWords {
		return src, fmt.Errorf("synthetic_words must be from 0 to %d, got %d", MaxSyntheticWords, t.SyntheticWords)
	}
	switch {
	case t.BodyFile != "":
		b, err := readRel(t.BodyFile)
		if err != nil {
			return src, fmt.Errorf("body file: %w", err)
		}
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(b, &probe); err != nil || probe == nil {
			if err == nil {
				err = errors.New("null")
			}
			return src, fmt.Errorf("body file %s is not a JSON object: %w", t.BodyFile, err)
		}
		// "model" and "stream" are read as the server reads them (encoding/json: any case, the
		// last one winning), so that the client expects the reply the server will send.
		var named struct {
			Model  json.RawMessage `json:"model"`
			Stream json.RawMessage `json:"stream"`
		}
		_ = json.Unmarshal(b, &named) // an object, as the probe found
		var model string
		if raw := named.Model; raw != nil {
			if err := json.Unmarshal(raw, &model); err != nil {
				return src, fmt.Errorf("body file %s: \"model\" is not a string", t.BodyFile)
			}
		}
		// The body is sent as it is: the model and protocol it names are what the server gets,
		// so they are what the run reports.
		switch {
		case t.Model == "":
			t.Model = model
		case model != "" && model != t.Model:
			return src, &BodyConflictError{File: t.BodyFile, Field: "model", Body: model, Template: t.Model}
		}
		a, err := bodyAPI(probe, api.API(t.API))
		if err != nil {
			return src, fmt.Errorf("body file %s: %w", t.BodyFile, err)
		}
		if t.API == "" {
			t.API = string(a)
		} else if a != api.API(t.API) {
			return src, &BodyConflictError{File: t.BodyFile, Field: "api", Body: string(a), Template: t.API}
		}
		var stream *bool
		if raw := named.Stream; raw != nil {
			if err := json.Unmarshal(raw, &stream); err != nil {
				return src, fmt.Errorf("body file %s: \"stream\" is not true or false", t.BodyFile)
			}
		}
		// What the server will do decides what the client expects: Ollama streams unless told
		// not to, OpenAI servers do not stream unless told to.
		if stream != nil {
			t.Stream = *stream
		} else {
			t.Stream = api.API(t.API).IsOllama()
		}
		src.body = b
	case t.PromptFile != "":
		src.files = append(src.files, resolve(dir, t.PromptFile))
		ps, chats, err := readPrompts(resolve(dir, t.PromptFile))
		if err != nil {
			return src, err
		}
		if chats != nil && !slices.Contains([]api.API{api.OllamaChat, api.OpenAIChat}, api.API(t.API)) {
			return src, fmt.Errorf("prompt file %s has chat messages: they need a chat API (ollama-chat, openai-chat), not %s", t.PromptFile, t.API)
		}
		src.prompts, src.chats = ps, chats
	case t.SyntheticWords > 0 || t.InputWords != "":
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

// BodyConflictError is a body file that names another model or protocol than its template:
// the body is sent as it is, so the template's would label requests that never went there.
type BodyConflictError struct {
	File     string
	Field    string // "model" or "api"
	Body     string // what the body says
	Template string // what the template says
}

func (e *BodyConflictError) Error() string {
	if e.Field == "api" {
		return fmt.Sprintf("body file %s is written for %s, but the template's api is %s: the body is sent as it is, to the api's endpoint", e.File, e.Body, e.Template)
	}
	return fmt.Sprintf("body file %s names model %q, but the template's model is %q: the body is sent as it is, so its model is the one measured", e.File, e.Body, e.Template)
}

// Fields only one family of protocols takes: a body with one of them says which it is.
var (
	ollamaOnlyFields = []string{"options", "keep_alive", "raw", "images", "context", "template", "system", "think"}
	openAIOnlyFields = []string{"max_tokens", "max_completion_tokens", "stream_options", "n", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "response_format"}
)

// isChat says whether a protocol sends chat messages (else a prompt).
func isChat(a api.API) bool { return a == api.OllamaChat || a == api.OpenAIChat }

// bodyAPI reads the protocol a request body is written for. Given one, the body must be of its
// kind: chat "messages" for a chat protocol, a "prompt" for the others. Given none, "messages"
// make it a chat and "prompt" a completion, on OpenAI's protocols when the body has a field
// only they take and on Ollama's otherwise (the default protocol's family).
func bodyAPI(body map[string]json.RawMessage, given api.API) (api.API, error) {
	_, chat := body["messages"]
	_, prompt := body["prompt"]
	if chat && prompt {
		return "", errors.New(`it has both "messages" and "prompt": no protocol takes both`)
	}
	if given != "" {
		if (chat && !isChat(given)) || (prompt && isChat(given)) {
			kind := api.OllamaGenerate
			if chat {
				kind = api.OllamaChat
			}
			if !given.IsOllama() {
				kind = map[api.API]api.API{api.OllamaChat: api.OpenAIChat, api.OllamaGenerate: api.OpenAICompletions}[kind]
			}
			return kind, nil
		}
		return given, nil
	}
	has := func(fields []string) string {
		for _, f := range fields {
			if _, ok := body[f]; ok {
				return f
			}
		}
		return ""
	}
	ollama, openAI := has(ollamaOnlyFields), has(openAIOnlyFields)
	if ollama != "" && openAI != "" {
		return "", fmt.Errorf("it has %q, which only Ollama takes, and %q, which only OpenAI's protocols take: give its api", ollama, openAI)
	}
	switch {
	case chat && openAI != "":
		return api.OpenAIChat, nil
	case chat:
		return api.OllamaChat, nil
	case openAI != "":
		return api.OpenAICompletions, nil
	}
	return api.OllamaGenerate, nil
}

func resolve(dir, path string) string {
	if filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

// readPrompts reads a prompt file: a .jsonl file holds one prompt per line — a JSON string, an
// object with a "prompt", or an object with chat "messages" (a system prompt, earlier turns:
// [{"role":"system","content":…},{"role":"user","content":…}]); any other file is one prompt.
// chats is nil unless some line gave messages; then it is parallel to prompts (a messages
// line's prompt is its last user message, for the APIs that take a prompt and for records).
func readPrompts(path string) (prompts []string, chats [][]api.Message, err error) {
	b, err := readInput(path)
	if err != nil {
		return nil, nil, fmt.Errorf("prompt file: %w", err)
	}
	if !strings.HasSuffix(strings.ToLower(path), ".jsonl") {
		if len(bytes.TrimSpace(b)) == 0 {
			return nil, nil, fmt.Errorf("prompt file %s is empty", path)
		}
		return []string{string(b)}, nil, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), len(b)+1)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var s string
		if err := json.Unmarshal(text, &s); err == nil {
			prompts, chats = append(prompts, s), append(chats, nil)
			continue
		}
		var obj struct {
			Prompt   *string       `json:"prompt"`
			Messages []api.Message `json:"messages"`
		}
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		err := dec.Decode(&obj)
		switch {
		case err != nil && strings.Contains(err.Error(), "unknown field"):
			return nil, nil, fmt.Errorf("%s:%d: %v (known: prompt, messages)", path, line, err)
		case err != nil || (obj.Prompt == nil) == (obj.Messages == nil):
			return nil, nil, fmt.Errorf("%s:%d: want a JSON string, or an object with a \"prompt\" or \"messages\" field", path, line)
		case obj.Prompt != nil:
			prompts, chats = append(prompts, *obj.Prompt), append(chats, nil)
			continue
		}
		last := ""
		for i, m := range obj.Messages {
			if m.Role == "" {
				return nil, nil, fmt.Errorf("%s:%d: messages[%d] has no role", path, line, i)
			}
			if m.Role == "user" {
				last = m.Content
			}
		}
		prompts, chats = append(prompts, last), append(chats, obj.Messages)
	}
	if len(prompts) == 0 {
		return nil, nil, fmt.Errorf("prompt file %s has no prompts", path)
	}
	if !slices.ContainsFunc(chats, func(m []api.Message) bool { return m != nil }) {
		chats = nil
	}
	return prompts, chats, nil
}

// readInput reads a prompt or body file: a regular file of at most MaxInputFile bytes (a
// device such as /dev/zero, or a pipe, would be read forever).
func readInput(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > MaxInputFile {
		return nil, fmt.Errorf("%s is %d bytes, more than %d MiB", path, fi.Size(), MaxInputFile>>20)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxInputFile+1))
	if err == nil && len(b) > MaxInputFile {
		err = fmt.Errorf("%s grew past %d MiB while it was read", path, MaxInputFile>>20)
	}
	return b, err
}

// checkOptions refuses option values that cannot be written to a results file (NaN, ±Inf) and
// options nested deeper than MaxOptionDepth.
func checkOptions(opts map[string]any) error {
	var walk func(v any, path string, depth int) error
	walk = func(v any, path string, depth int) error {
		if depth > MaxOptionDepth {
			return fmt.Errorf("%s: nested more than %d levels deep", path, MaxOptionDepth)
		}
		switch v := v.(type) {
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%s: %v is not a number JSON can carry", path, v)
			}
		case float32:
			return walk(float64(v), path, depth)
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(v)) {
				if err := walk(v[k], path+"."+k, depth+1); err != nil {
					return err
				}
			}
		case []any:
			for i, e := range v {
				if err := walk(e, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		if err := walk(opts[k], k, 1); err != nil {
			return err
		}
	}
	return nil
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
	req := &api.Request{API: api.API(t.API), Model: t.Model, MaxTokens: t.MaxTokens, Stream: t.Stream, Options: t.Options, Extra: t.ExtraBody}
	if src.output != nil {
		req.MaxTokens = src.output.draw(s.rng)
	}
	switch {
	case src.body != nil:
		req.RawBody = src.body
	case src.input != nil:
		req.Prompt = syntheticPrompt(s.rng, src.input.draw(s.rng))
	case t.SyntheticWords > 0:
		req.Prompt = syntheticPrompt(s.rng, t.SyntheticWords)
	default:
		i := 0
		if len(src.prompts) > 1 {
			i = s.rng.IntN(len(src.prompts))
		}
		req.Prompt = src.prompts[i]
		if src.chats != nil {
			req.Messages = src.chats[i]
		}
	}
	if src.prefix != "" && src.body == nil {
		req.Prompt = src.prefix + " " + req.Prompt
		if len(req.Messages) > 0 {
			m := slices.Clone(req.Messages)
			m[0].Content = src.prefix + " " + m[0].Content
			req.Messages = m
		}
	}
	if t.FixedOutput && !req.API.IsOllama() && req.MaxTokens > 0 {
		extra := make(map[string]any, len(t.ExtraBody)+2)
		maps.Copy(extra, t.ExtraBody)
		extra["ignore_eos"], extra["min_tokens"] = true, req.MaxTokens
		req.Extra = extra
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

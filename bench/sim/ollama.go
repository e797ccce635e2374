package sim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Ollama's native API: /api/generate and /api/chat (NDJSON), and the discovery endpoints.

// ollamaJSON writes a JSON reply the way Ollama's router does (no trailing newline).
func ollamaJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode reply"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func ollamaError(w http.ResponseWriter, status int, msg string) {
	ollamaJSON(w, status, map[string]string{"error": msg})
}

// keepAliveField is a request's keep_alive: a duration string or a number of seconds.
type keepAliveField struct {
	d time.Duration
}

func (k *keepAliveField) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("keep_alive: %w", err)
	}
	switch t := v.(type) {
	case float64:
		k.d = secondsKeepAlive(t)
	case string:
		d, err := ParseKeepAlive(t)
		if err != nil {
			return fmt.Errorf("keep_alive: %w", err)
		}
		k.d = d
	default:
		return fmt.Errorf("keep_alive: want a duration or seconds, got %s", b)
	}
	return nil
}

type generateRequest struct {
	Model     string          `json:"model"`
	Prompt    string          `json:"prompt"`
	System    string          `json:"system"`
	Context   []int           `json:"context"`
	Stream    *bool           `json:"stream"`
	KeepAlive *keepAliveField `json:"keep_alive"`
	Options   map[string]any  `json:"options"`
}

type chatMessage struct {
	Role     string `json:"role"`
	Content  string `json:"content"`
	Thinking string `json:"thinking,omitempty"`
}

type chatRequest struct {
	Model     string          `json:"model"`
	Messages  []chatMessage   `json:"messages"`
	Stream    *bool           `json:"stream"`
	KeepAlive *keepAliveField `json:"keep_alive"`
	Options   map[string]any  `json:"options"`
}

type generateResponse struct {
	Model              string    `json:"model"`
	CreatedAt          time.Time `json:"created_at"`
	Response           string    `json:"response"`
	Done               bool      `json:"done"`
	DoneReason         string    `json:"done_reason,omitempty"`
	Context            []int     `json:"context,omitempty"`
	TotalDuration      int64     `json:"total_duration,omitempty"`
	LoadDuration       int64     `json:"load_duration,omitempty"`
	PromptEvalCount    int       `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64     `json:"prompt_eval_duration,omitempty"`
	EvalCount          int       `json:"eval_count,omitempty"`
	EvalDuration       int64     `json:"eval_duration,omitempty"`
}

type chatResponse struct {
	Model              string      `json:"model"`
	CreatedAt          time.Time   `json:"created_at"`
	Message            chatMessage `json:"message"`
	Done               bool        `json:"done"`
	DoneReason         string      `json:"done_reason,omitempty"`
	TotalDuration      int64       `json:"total_duration,omitempty"`
	LoadDuration       int64       `json:"load_duration,omitempty"`
	PromptEvalCount    int         `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64       `json:"prompt_eval_duration,omitempty"`
	EvalCount          int         `json:"eval_count,omitempty"`
	EvalDuration       int64       `json:"eval_duration,omitempty"`
}

// decodeBody reads a JSON request body; the error text is what a client should see.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("missing request body")
		}
		return err
	}
	return nil
}

// newJob fills what every protocol shares. It answers 404 itself (through notFound) when the
// model is unknown and returns nil.
func (s *Server) newJob(start time.Time, model string, r *http.Request) (*job, error) {
	if model == "" {
		return nil, errors.New("model is required")
	}
	name := normalizeModelName(model)
	p, ok := s.set.profiles[name]
	if !ok {
		return nil, errNotFound{model}
	}
	mj, _ := json.Marshal(model)
	fs := s.drawFaults()
	if h := r.Header.Get(FaultHeader); h != "" {
		hf, err := parseFaults(h)
		if err != nil {
			return nil, fmt.Errorf("%s header: %w", FaultHeader, err)
		}
		fs = fs.merge(hf)
	}
	return &job{
		start: start, model: model, modelJSON: mj, name: name, profile: p,
		opts: s.defaultOpts(p), keepAlive: s.set.keepAlive, faults: fs,
		index: s.requests.Add(1) - 1,
	}, nil
}

type errNotFound struct{ model string }

func (e errNotFound) Error() string { return fmt.Sprintf("model '%s' not found", e.model) }

// maxNumCtx bounds num_ctx: past any real model's context, and small enough that the KV cache
// it implies and 10 × num_ctx (Ollama's cap on generation) stay ordinary numbers.
const maxNumCtx = 1 << 20

// applyOptions reads the Ollama options the simulator acts on; the rest are accepted and
// ignored, as sampling options do not change the simulated cost.
func (j *job) applyOptions(o map[string]any) error {
	num := func(key string) (int, bool, error) {
		v, ok := o[key]
		if !ok || v == nil {
			return 0, false, nil
		}
		f, isNum := v.(float64)
		if !isNum || math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) {
			return 0, false, fmt.Errorf("option %q must be an integer", key)
		}
		return int(f), true, nil
	}
	ints := []struct {
		key string
		dst *int
	}{
		{"num_ctx", &j.opts.numCtx}, {"num_batch", &j.opts.numBatch}, {"num_gpu", &j.opts.numGPU},
		{"main_gpu", &j.opts.mainGPU}, {"num_thread", &j.opts.numThread}, {"num_predict", &j.limit},
	}
	for _, f := range ints {
		n, ok, err := num(f.key)
		if err != nil {
			return err
		}
		if ok {
			*f.dst = n
		}
	}
	if j.opts.numCtx < 1 {
		return errors.New(`option "num_ctx" must be at least 1`)
	}
	if j.opts.numCtx > maxNumCtx {
		return fmt.Errorf(`option "num_ctx" must be at most %d`, maxNumCtx)
	}
	if n, ok, err := num("seed"); err != nil {
		return err
	} else if ok {
		j.seed, j.hasSeed = int64(n), true
	}
	if v, ok := o["use_mmap"]; ok && v != nil {
		b, isBool := v.(bool)
		if !isBool {
			return errors.New(`option "use_mmap" must be a boolean`)
		}
		j.opts.useMMap = 2
		if b {
			j.opts.useMMap = 1
		}
	}
	return nil
}

// ollamaJobError answers a job error with Ollama's status and text.
func ollamaJobError(w http.ResponseWriter, err error) {
	var nf errNotFound
	if errors.As(err, &nf) {
		ollamaError(w, http.StatusNotFound, nf.Error())
		return
	}
	ollamaError(w, http.StatusBadRequest, err.Error())
}

// ollamaJob makes the job of a native request, answering the error itself when there is one.
func (s *Server) ollamaJob(w http.ResponseWriter, r *http.Request, start time.Time, model string, options map[string]any, ka *keepAliveField) (*job, bool) {
	j, err := s.newJob(start, model, r)
	if err != nil {
		ollamaJobError(w, err)
		return nil, false
	}
	if err := j.applyOptions(options); err != nil {
		ollamaError(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	if ka != nil {
		j.keepAlive = ka.d
	}
	return j, true
}

func (s *Server) handleGenerate(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req generateRequest
	if err := decodeBody(r, &req); err != nil {
		ollamaError(w, http.StatusBadRequest, err.Error())
		return
	}
	j, ok := s.ollamaJob(w, r, start, req.Model, req.Options, req.KeepAlive)
	if !ok {
		return
	}
	if req.Prompt == "" {
		s.loadOrUnload(w, r, j, req.KeepAlive, func(reason string) any {
			return generateResponse{Model: j.model, CreatedAt: time.Now().UTC(), Done: true, DoneReason: reason}
		})
		return
	}
	j.prompt = req.System + "\n" + req.Prompt
	j.contextIn = req.Context
	j.promptTokens = countTokens(req.System) + countTokens(req.Prompt) + len(req.Context)
	j.promptHash = hashString(req.System, req.Prompt)
	s.serveGeneration(w, r, ollamaWire{chat: false}, j, req.Stream == nil || *req.Stream)
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req chatRequest
	if err := decodeBody(r, &req); err != nil {
		ollamaError(w, http.StatusBadRequest, err.Error())
		return
	}
	j, ok := s.ollamaJob(w, r, start, req.Model, req.Options, req.KeepAlive)
	if !ok {
		return
	}
	if len(req.Messages) == 0 {
		s.loadOrUnload(w, r, j, req.KeepAlive, func(reason string) any {
			return chatResponse{Model: j.model, CreatedAt: time.Now().UTC(),
				Message: chatMessage{Role: "assistant"}, Done: true, DoneReason: reason}
		})
		return
	}
	parts := make([]string, 0, 2*len(req.Messages))
	for _, m := range req.Messages {
		// Four tokens of chat template per message, as real templates add role markers.
		j.promptTokens += countTokens(m.Content) + 4
		parts = append(parts, m.Role, m.Content)
	}
	j.promptHash = hashString(parts...)
	s.serveGeneration(w, r, ollamaWire{chat: true}, j, req.Stream == nil || *req.Stream)
}

// loadOrUnload answers an empty prompt: keep_alive 0 unloads (at once, or when the model's
// last request ends), anything else loads the model and keeps it. No metrics either way.
func (s *Server) loadOrUnload(w http.ResponseWriter, r *http.Request, j *job, ka *keepAliveField, reply func(reason string) any) {
	if ka != nil && ka.d == 0 {
		s.sched.unloadNow(j.name)
		ollamaJSON(w, http.StatusOK, reply("unload"))
		return
	}
	rn, err := s.sched.acquire(r.Context(), j.name, j.profile, j.opts, j.keepAlive)
	switch {
	case errors.Is(err, errBusy):
		ollamaError(w, http.StatusServiceUnavailable, err.Error())
		return
	case err != nil:
		if r.Context().Err() == nil {
			ollamaError(w, http.StatusInternalServerError, err.Error())
		}
		return
	}
	s.sched.release(rn)
	ollamaJSON(w, http.StatusOK, reply("load"))
}

// ollamaWire frames /api/generate and /api/chat.
type ollamaWire struct{ chat bool }

func (ollamaWire) streamType() string { return "application/x-ndjson" }

func (ollamaWire) fail(w http.ResponseWriter, status int, msg string) { ollamaError(w, status, msg) }

func (o ollamaWire) chunk(buf []byte, g *generation, i int) []byte {
	buf = append(buf, `{"model":`...)
	buf = append(buf, g.job.modelJSON...)
	buf = append(buf, `,"created_at":"`...)
	buf = time.Now().UTC().AppendFormat(buf, time.RFC3339Nano)
	if o.chat {
		buf = append(buf, `","message":{"role":"assistant","content":`...)
		buf = append(buf, g.srv.text.tokenJSON(g.offset, i)...)
		buf = append(buf, `},"done":false}`...)
	} else {
		buf = append(buf, `","response":`...)
		buf = append(buf, g.srv.text.tokenJSON(g.offset, i)...)
		buf = append(buf, `,"done":false}`...)
	}
	return append(buf, '\n')
}

func (o ollamaWire) response(g *generation, res *result, text string, complete bool) any {
	if !complete {
		// Ollama's silent truncation: done false, no reason, no metrics.
		if o.chat {
			return chatResponse{Model: g.job.model, CreatedAt: res.created.UTC(), Message: chatMessage{Role: "assistant", Content: text}}
		}
		return generateResponse{Model: g.job.model, CreatedAt: res.created.UTC(), Response: text}
	}
	if o.chat {
		return chatResponse{
			Model: g.job.model, CreatedAt: res.created.UTC(),
			Message: chatMessage{Role: "assistant", Content: text}, Done: true, DoneReason: res.doneReason,
			TotalDuration: int64(res.total), LoadDuration: int64(res.load),
			PromptEvalCount: res.promptTokens, PromptEvalDuration: int64(res.promptEval),
			EvalCount: res.evalCount, EvalDuration: int64(res.eval),
		}
	}
	// The context array is the conversation so far in token ids: what came in, the prompt,
	// then the reply; a client sends it back to continue.
	ctx := make([]int, 0, len(g.job.contextIn)+res.promptTokens+res.evalCount)
	ctx = append(ctx, g.job.contextIn...)
	ctx = promptTokenIDs(g.job.prompt, g.job.profile.VocabSize, ctx)
	for i := range res.evalCount {
		ctx = append(ctx, g.srv.text.tokenID(g.offset, i, g.job.profile.VocabSize))
	}
	return generateResponse{
		Model: g.job.model, CreatedAt: res.created.UTC(), Response: text, Done: true,
		DoneReason: res.doneReason, Context: ctx,
		TotalDuration: int64(res.total), LoadDuration: int64(res.load),
		PromptEvalCount: res.promptTokens, PromptEvalDuration: int64(res.promptEval),
		EvalCount: res.evalCount, EvalDuration: int64(res.eval),
	}
}

func (o ollamaWire) final(buf []byte, g *generation, res *result) []byte {
	b, _ := json.Marshal(o.response(g, res, "", true))
	buf = append(buf, b...)
	return append(buf, '\n')
}

func (ollamaWire) streamError(buf []byte, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"error": msg})
	buf = append(buf, b...)
	return append(buf, '\n')
}

func (ollamaWire) garbage(buf []byte) []byte {
	return append(buf, "llmload-sim: garbage line {\"model\": (fault injected)\n"...)
}

func (o ollamaWire) whole(w http.ResponseWriter, g *generation, res *result, complete bool) {
	text := g.text()
	if !complete {
		text = text[:len(text)/2]
	}
	ollamaJSON(w, http.StatusOK, o.response(g, res, text, complete))
}

// Discovery endpoints.

func (s *Server) handleVersion(w http.ResponseWriter, r *http.Request) {
	ollamaJSON(w, http.StatusOK, map[string]string{"version": Version})
}

type modelDetails struct {
	ParentModel       string   `json:"parent_model"`
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

func details(p Profile) modelDetails {
	return modelDetails{Format: "gguf", Family: p.Family, Families: []string{p.Family},
		ParameterSize: p.ParameterSize, QuantizationLevel: p.Quantization}
}

// digest is a stable fake blob digest, so a client can tell models apart.
func digest(p Profile) string {
	sum := sha256.Sum256([]byte("llmload-sim/" + p.Name))
	return hex.EncodeToString(sum[:])
}

func mib(f float64) int64 { return int64(math.Round(f * (1 << 20))) }

func (s *Server) handleTags(w http.ResponseWriter, r *http.Request) {
	type tag struct {
		Name       string       `json:"name"`
		Model      string       `json:"model"`
		ModifiedAt time.Time    `json:"modified_at"`
		Size       int64        `json:"size"`
		Digest     string       `json:"digest"`
		Details    modelDetails `json:"details"`
	}
	out := struct {
		Models []tag `json:"models"`
	}{Models: []tag{}}
	for _, p := range s.Models() {
		out.Models = append(out.Models, tag{Name: p.Name, Model: p.Name, ModifiedAt: s.started.UTC(),
			Size: mib(p.WeightsMiB), Digest: digest(p), Details: details(p)})
	}
	ollamaJSON(w, http.StatusOK, out)
}

func (s *Server) handlePs(w http.ResponseWriter, r *http.Request) {
	type loaded struct {
		Name          string       `json:"name"`
		Model         string       `json:"model"`
		Size          int64        `json:"size"`
		Digest        string       `json:"digest"`
		Details       modelDetails `json:"details"`
		ExpiresAt     time.Time    `json:"expires_at"`
		SizeVRAM      int64        `json:"size_vram"`
		ContextLength int          `json:"context_length"`
	}
	out := struct {
		Models []loaded `json:"models"`
	}{Models: []loaded{}}
	now := time.Now()
	s.sched.mu.Lock()
	for _, rn := range s.sched.runners {
		if rn.state == stateLoading {
			continue
		}
		exp := rn.expiresAt
		if exp.IsZero() {
			switch {
			case rn.keepAlive < 0:
				exp = now.Add(time.Duration(math.MaxInt64))
			default:
				exp = now.Add(rn.keepAlive) // busy: the countdown starts when it goes idle
			}
		}
		out.Models = append(out.Models, loaded{Name: rn.name, Model: rn.name, Size: mib(rn.sizeMiB),
			Digest: digest(rn.profile), Details: details(rn.profile), ExpiresAt: exp.UTC(),
			SizeVRAM: mib(rn.vramMiB), ContextLength: rn.opts.numCtx})
	}
	s.sched.mu.Unlock()
	slices.SortFunc(out.Models, func(a, b loaded) int { return strings.Compare(a.Name, b.Name) })
	ollamaJSON(w, http.StatusOK, out)
}

func (s *Server) handleShow(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model string `json:"model"`
		Name  string `json:"name"`
	}
	if err := decodeBody(r, &req); err != nil {
		ollamaError(w, http.StatusBadRequest, err.Error())
		return
	}
	model := req.Model
	if model == "" {
		model = req.Name
	}
	if model == "" {
		ollamaError(w, http.StatusBadRequest, "model is required")
		return
	}
	p, ok := s.set.profiles[normalizeModelName(model)]
	if !ok {
		ollamaError(w, http.StatusNotFound, errNotFound{model}.Error())
		return
	}
	a := p.Family
	hd := p.HeadDim()
	info := map[string]any{
		"general.architecture":                  a,
		"general.file_type":                     1,
		"general.parameter_count":               p.ParameterCount,
		"general.quantization_version":          2,
		"general.description":                   "simulated by llmload",
		a + ".attention.head_count":             p.Heads,
		a + ".attention.head_count_kv":          p.KVHeads,
		a + ".attention.key_length":             hd,
		a + ".attention.value_length":           hd,
		a + ".attention.layer_norm_rms_epsilon": 0.00001,
		a + ".block_count":                      p.Layers,
		a + ".context_length":                   max(p.MaxContextLength, p.ContextLength),
		a + ".embedding_length":                 p.EmbeddingLength,
		a + ".feed_forward_length":              p.FeedForward,
		a + ".rope.dimension_count":             hd,
		a + ".rope.freq_base":                   10000,
		a + ".vocab_size":                       p.VocabSize,
		"tokenizer.ggml.model":                  "gpt2",
		"tokenizer.ggml.bos_token_id":           0,
		"tokenizer.ggml.eos_token_id":           1,
		"llmload.simulated":                     true,
		"llmload.kv_bytes_per_element":          p.KVBytesPerElement,
	}
	type tensor struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Shape []int  `json:"shape"`
	}
	e, kv, ff := p.EmbeddingLength, p.KVHeads*hd, p.FeedForward
	tensors := make([]tensor, 0, 9*p.Layers+3)
	for l := range p.Layers {
		pre := fmt.Sprintf("blk.%d.", l)
		tensors = append(tensors,
			tensor{pre + "attn_k.weight", p.Quantization, []int{e, kv}},
			tensor{pre + "attn_norm.weight", "F32", []int{e}},
			tensor{pre + "attn_output.weight", p.Quantization, []int{e, e}},
			tensor{pre + "attn_q.weight", p.Quantization, []int{e, e}},
			tensor{pre + "attn_v.weight", p.Quantization, []int{e, kv}},
			tensor{pre + "ffn_down.weight", p.Quantization, []int{ff, e}},
			tensor{pre + "ffn_gate.weight", p.Quantization, []int{e, ff}},
			tensor{pre + "ffn_norm.weight", "F32", []int{e}},
			tensor{pre + "ffn_up.weight", p.Quantization, []int{e, ff}},
		)
	}
	tensors = append(tensors,
		tensor{"output.weight", p.Quantization, []int{e, p.VocabSize}},
		tensor{"output_norm.weight", "F32", []int{e}},
		tensor{"token_embd.weight", p.Quantization, []int{e, p.VocabSize}},
	)
	var mf bytes.Buffer
	fmt.Fprintf(&mf, "# Modelfile generated by \"ollama show\"\n# Simulated by llmload: no weights exist.\n# FROM %s\n\nFROM /llmload-sim/blobs/sha256-%s\nTEMPLATE {{ .Prompt }}\n", p.Name, digest(p))
	ollamaJSON(w, http.StatusOK, map[string]any{
		"modelfile":    mf.String(),
		"template":     "{{ .Prompt }}",
		"details":      details(p),
		"model_info":   info,
		"tensors":      tensors,
		"capabilities": []string{"completion"},
		"modified_at":  s.started.UTC(),
	})
}

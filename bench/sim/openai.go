package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The OpenAI-compatible API as Ollama serves it: /v1/chat/completions and /v1/completions
// (SSE), /v1/models. Ollama's /v1 takes no keep_alive and no runner options, so these requests
// run with the server's defaults.

type openAIErrorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// openAIError answers in OpenAI's error shape, with the headers Ollama's /v1 sends: a 400
// comes from its JSON binding, everything else from its OpenAI middleware.
func openAIError(w http.ResponseWriter, status int, msg string) {
	var e openAIErrorBody
	e.Error.Message = msg
	e.Error.Type = "api_error"
	b, _ := json.Marshal(e)
	if status == http.StatusBadRequest {
		e.Error.Type = "invalid_request_error"
		b, _ = json.Marshal(e)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/json")
		b = append(b, '\n')
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func openAIJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		openAIError(w, http.StatusInternalServerError, "encode reply")
		return
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

func openAIJobError(w http.ResponseWriter, err error) {
	var nf errNotFound
	if errors.As(err, &nf) {
		openAIError(w, http.StatusNotFound, nf.Error())
		return
	}
	openAIError(w, http.StatusBadRequest, err.Error())
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type openAIChatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Stream              bool           `json:"stream"`
	StreamOptions       *streamOptions `json:"stream_options"`
	MaxTokens           *int           `json:"max_tokens"`
	MaxCompletionTokens *int           `json:"max_completion_tokens"`
	Seed                *int64         `json:"seed"`
}

type openAICompletionRequest struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	Stream        bool            `json:"stream"`
	StreamOptions *streamOptions  `json:"stream_options"`
	MaxTokens     *int            `json:"max_tokens"`
	Seed          *int64          `json:"seed"`
}

// contentText reads message content: a string, or an array of parts whose text parts count.
func contentText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("invalid message content: want a string or an array of parts")
	}
	texts := make([]string, 0, len(parts))
	for _, p := range parts {
		if p.Type == "text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, " "), nil
}

// promptText reads a completions prompt: a string or an array of strings.
func promptText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var ss []string
	if err := json.Unmarshal(raw, &ss); err != nil {
		return "", errors.New("invalid prompt: want a string or an array of strings")
	}
	return strings.Join(ss, " "), nil
}

func (s *Server) handleOpenAIChat(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req openAIChatRequest
	if err := decodeBody(r, &req); err != nil {
		openAIError(w, http.StatusBadRequest, err.Error())
		return
	}
	j, err := s.newJob(start, req.Model, r)
	if err != nil {
		openAIJobError(w, err)
		return
	}
	parts := make([]string, 0, 2*len(req.Messages))
	for _, m := range req.Messages {
		text, err := contentText(m.Content)
		if err != nil {
			openAIError(w, http.StatusBadRequest, err.Error())
			return
		}
		j.promptTokens += countTokens(text) + 4
		parts = append(parts, m.Role, text)
	}
	j.promptHash = hashString(parts...)
	switch {
	case req.MaxCompletionTokens != nil:
		j.limit = *req.MaxCompletionTokens
	case req.MaxTokens != nil:
		j.limit = *req.MaxTokens
	}
	if req.Seed != nil {
		j.seed, j.hasSeed = *req.Seed, true
	}
	wr := s.newOpenAIWire(true, j, req.StreamOptions)
	s.serveGeneration(w, r, wr, j, req.Stream)
}

func (s *Server) handleOpenAICompletions(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req openAICompletionRequest
	if err := decodeBody(r, &req); err != nil {
		openAIError(w, http.StatusBadRequest, err.Error())
		return
	}
	j, err := s.newJob(start, req.Model, r)
	if err != nil {
		openAIJobError(w, err)
		return
	}
	prompt, err := promptText(req.Prompt)
	if err != nil {
		openAIError(w, http.StatusBadRequest, err.Error())
		return
	}
	j.promptTokens = countTokens(prompt)
	j.promptHash = hashString("", prompt) // as /api/generate with no system prompt: same seed, same text
	if req.MaxTokens != nil {
		j.limit = *req.MaxTokens
	}
	if req.Seed != nil {
		j.seed, j.hasSeed = *req.Seed, true
	}
	wr := s.newOpenAIWire(false, j, req.StreamOptions)
	s.serveGeneration(w, r, wr, j, req.Stream)
}

// openAIWire frames the /v1 endpoints.
type openAIWire struct {
	chat         bool
	includeUsage bool
	idJSON       []byte // `"chatcmpl-N"` / `"cmpl-N"`
	id           string
	created      int64
}

func (s *Server) newOpenAIWire(chat bool, j *job, so *streamOptions) openAIWire {
	// Ollama's ids are small random numbers, not unique across requests; so are these.
	prefix := "cmpl-"
	if chat {
		prefix = "chatcmpl-"
	}
	id := prefix + strconv.FormatInt(j.index%1000, 10)
	return openAIWire{
		chat: chat, includeUsage: so != nil && so.IncludeUsage,
		id: id, idJSON: []byte(strconv.Quote(id)), created: j.start.Unix(),
	}
}

func (openAIWire) streamType() string { return "text/event-stream" }

func (openAIWire) fail(w http.ResponseWriter, status int, msg string) { openAIError(w, status, msg) }

const zeroUsage = `,"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}`

func (o openAIWire) head(buf []byte, object string) []byte {
	buf = append(buf, `data: {"id":`...)
	buf = append(buf, o.idJSON...)
	buf = append(buf, `,"object":"`...)
	buf = append(buf, object...)
	buf = append(buf, `","created":`...)
	return strconv.AppendInt(buf, o.created, 10)
}

func (o openAIWire) piece(buf []byte, g *generation, textJSON []byte, finish string) []byte {
	fin := []byte("null")
	if finish != "" {
		fin = []byte(strconv.Quote(finish))
	}
	if o.chat {
		buf = o.head(buf, "chat.completion.chunk")
		buf = append(buf, `,"model":`...)
		buf = append(buf, g.job.modelJSON...)
		buf = append(buf, `,"system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":`...)
		buf = append(buf, textJSON...)
		buf = append(buf, `},"finish_reason":`...)
		buf = append(buf, fin...)
		buf = append(buf, `}]}`...)
	} else {
		buf = o.head(buf, "text_completion")
		buf = append(buf, `,"choices":[{"text":`...)
		buf = append(buf, textJSON...)
		buf = append(buf, `,"index":0,"finish_reason":`...)
		buf = append(buf, fin...)
		buf = append(buf, `}],"model":`...)
		buf = append(buf, g.job.modelJSON...)
		buf = append(buf, `,"system_fingerprint":"fp_ollama"`...)
		if o.includeUsage {
			buf = append(buf, zeroUsage...)
		}
		buf = append(buf, '}')
	}
	return append(buf, "\n\n"...)
}

func (o openAIWire) chunk(buf []byte, g *generation, i int) []byte {
	return o.piece(buf, g, g.srv.text.tokenJSON(g.offset, i), "")
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func usageOf(res *result) usage {
	return usage{res.promptTokens, res.evalCount, res.promptTokens + res.evalCount}
}

func (o openAIWire) final(buf []byte, g *generation, res *result) []byte {
	buf = o.piece(buf, g, []byte(`""`), res.doneReason)
	if o.includeUsage {
		u, _ := json.Marshal(usageOf(res))
		if o.chat {
			buf = o.head(buf, "chat.completion.chunk")
			buf = append(buf, `,"model":`...)
			buf = append(buf, g.job.modelJSON...)
			buf = append(buf, `,"system_fingerprint":"fp_ollama","choices":[],"usage":`...)
		} else {
			buf = o.head(buf, "text_completion")
			buf = append(buf, `,"choices":[],"model":`...)
			buf = append(buf, g.job.modelJSON...)
			buf = append(buf, `,"system_fingerprint":"fp_ollama","usage":`...)
		}
		buf = append(buf, u...)
		buf = append(buf, "}\n\n"...)
	}
	return append(buf, "data: [DONE]\n\n"...)
}

func (openAIWire) streamError(buf []byte, msg string) []byte {
	var e openAIErrorBody
	e.Error.Message, e.Error.Type = msg, "api_error"
	b, _ := json.Marshal(e)
	buf = append(buf, "data: "...)
	buf = append(buf, b...)
	return append(buf, "\n\n"...)
}

func (openAIWire) garbage(buf []byte) []byte {
	return append(buf, "data: {llmload-sim garbage (fault injected)\n\n"...)
}

func (o openAIWire) whole(w http.ResponseWriter, g *generation, res *result, complete bool) {
	text := g.text()
	var finish *string
	var u *usage
	if complete {
		finish = &res.doneReason
		uu := usageOf(res)
		u = &uu
	} else {
		text = text[:len(text)/2]
	}
	if o.chat {
		type choice struct {
			Index   int         `json:"index"`
			Message chatMessage `json:"message"`
			Finish  *string     `json:"finish_reason"`
		}
		openAIJSON(w, struct {
			ID                string   `json:"id"`
			Object            string   `json:"object"`
			Created           int64    `json:"created"`
			Model             string   `json:"model"`
			SystemFingerprint string   `json:"system_fingerprint"`
			Choices           []choice `json:"choices"`
			Usage             *usage   `json:"usage,omitempty"`
		}{o.id, "chat.completion", o.created, g.job.model, "fp_ollama",
			[]choice{{0, chatMessage{Role: "assistant", Content: text}, finish}}, u})
		return
	}
	type choice struct {
		Text   string  `json:"text"`
		Index  int     `json:"index"`
		Finish *string `json:"finish_reason"`
	}
	openAIJSON(w, struct {
		ID                string   `json:"id"`
		Object            string   `json:"object"`
		Created           int64    `json:"created"`
		Model             string   `json:"model"`
		SystemFingerprint string   `json:"system_fingerprint"`
		Choices           []choice `json:"choices"`
		Usage             *usage   `json:"usage,omitempty"`
	}{o.id, "text_completion", o.created, g.job.model, "fp_ollama", []choice{{text, 0, finish}}, u})
}

type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (s *Server) openAIModelOf(p Profile) openAIModel {
	return openAIModel{ID: p.Name, Object: "model", Created: s.started.Unix(), OwnedBy: "library"}
}

func (s *Server) handleOpenAIModels(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Object string        `json:"object"`
		Data   []openAIModel `json:"data"`
	}{Object: "list", Data: []openAIModel{}}
	for _, p := range s.Models() {
		out.Data = append(out.Data, s.openAIModelOf(p))
	}
	openAIJSON(w, out)
}

func (s *Server) handleOpenAIModel(w http.ResponseWriter, r *http.Request) {
	model := r.PathValue("model")
	p, ok := s.set.profiles[normalizeModelName(model)]
	if !ok {
		openAIError(w, http.StatusNotFound, fmt.Sprintf("model '%s' not found", model))
		return
	}
	openAIJSON(w, s.openAIModelOf(p))
}

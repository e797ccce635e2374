// Package api speaks the client side of the wire protocols llmload measures: Ollama's native
// NDJSON endpoints and the OpenAI-compatible SSE endpoints. One Request in, one Record out.
package api

import (
	"fmt"
	"strings"
	"time"
)

// API names a wire protocol and endpoint.
type API string

// The protocols llmload can drive.
const (
	OllamaGenerate    API = "ollama-generate"
	OllamaChat        API = "ollama-chat"
	OpenAIChat        API = "openai-chat"
	OpenAICompletions API = "openai-completions"
)

// APIs lists every supported protocol, in the order --help shows them.
var APIs = []API{OllamaGenerate, OllamaChat, OpenAIChat, OpenAICompletions}

// ParseAPI checks a protocol name given by a user.
func ParseAPI(s string) (API, error) {
	for _, a := range APIs {
		if string(a) == s {
			return a, nil
		}
	}
	names := make([]string, len(APIs))
	for i, a := range APIs {
		names[i] = string(a)
	}
	return "", fmt.Errorf("unknown API %q (want one of %s)", s, strings.Join(names, ", "))
}

// Path is the endpoint the protocol posts to.
func (a API) Path() string {
	switch a {
	case OllamaChat:
		return "/api/chat"
	case OpenAIChat:
		return "/v1/chat/completions"
	case OpenAICompletions:
		return "/v1/completions"
	default:
		return "/api/generate"
	}
}

// IsOllama reports whether the protocol is Ollama's native one (NDJSON, server timings).
func (a API) IsOllama() bool { return a == OllamaGenerate || a == OllamaChat }

// Request is one request to send. Options are sent identically on every request built from the
// same template, so that Ollama never reloads the model between requests.
type Request struct {
	API       API
	Model     string
	Prompt    string
	MaxTokens int // 0: server default. Ollama: options.num_predict; OpenAI: max_tokens
	Stream    bool
	// Options are model options (temperature, seed, num_ctx, top_k, top_p, stop …). Ollama's
	// native APIs get them as "options", but for the ones Ollama takes at the top level
	// (keep_alive, think, format); OpenAI-compatible servers get each one at the top level, but
	// for Ollama's runner options, which they do not know (see OllamaRunnerOptions).
	Options map[string]any
	// Messages, when set, are a chat's messages (a system prompt, earlier turns) for the chat
	// APIs; Prompt is then not sent.
	Messages []Message
	// Extra are more top-level fields of the body, sent as given (ignore_eos, min_tokens,
	// cache_prompt …). They may not name a field llmload writes itself (see BodyFields).
	Extra map[string]any
	// RawBody, when set, is sent verbatim (as `ab -p` does); the fields above then only label
	// the record.
	RawBody []byte
}

// Message is one message of a chat.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// OllamaRunnerOptions are Ollama's options that configure its runner rather than a request:
// an OpenAI-compatible endpoint has no field for them (Ollama's /v1 takes none), so they are
// not sent there.
var OllamaRunnerOptions = []string{"num_ctx", "num_batch", "num_gpu", "main_gpu", "use_mmap", "num_thread", "num_keep", "numa", "low_vram", "vocab_only", "use_mlock", "num_predict"}

// ollamaTopLevel are options Ollama's native APIs take beside "options", not inside it.
var ollamaTopLevel = []string{"keep_alive", "think", "format", "raw", "system", "template", "suffix"}

// BodyFields are the top-level fields llmload writes itself, per protocol: an extra field may
// not name one.
func BodyFields(a API) []string {
	switch a {
	case OllamaGenerate:
		return []string{"model", "prompt", "stream", "options"}
	case OllamaChat:
		return []string{"model", "messages", "stream", "options"}
	case OpenAIChat:
		return []string{"model", "messages", "stream", "stream_options", "max_tokens"}
	case OpenAICompletions:
		return []string{"model", "prompt", "stream", "stream_options", "max_tokens"}
	}
	return nil
}

// Class is the outcome of one request. Each failure mode counts under its own class.
type Class string

// Outcome classes. Their string values appear in results files and must not change.
const (
	ClassOK               Class = "ok"
	ClassConnRefused      Class = "connection_refused"
	ClassNotFound         Class = "http_404"
	ClassBadRequest       Class = "http_400"
	ClassBusy             Class = "http_503"
	ClassHTTP4xx          Class = "http_4xx" // any other 4xx
	ClassHTTP5xx          Class = "http_5xx" // any other 5xx
	ClassStreamError      Class = "stream_error"
	ClassTruncated        Class = "truncated"
	ClassMalformed        Class = "malformed"
	ClassTimeoutFirstByte Class = "timeout_first_byte"
	ClassTimeoutStall     Class = "timeout_stall"
	ClassTimeoutTotal     Class = "timeout_total"
	ClassCancelled        Class = "cancelled"
	ClassNetwork          Class = "network_error" // reset, EOF before headers, other transport failures
	// ClassRequestError: the request could not be built (unknown API, options that do not
	// encode as JSON, a bad base URL); nothing was sent.
	ClassRequestError Class = "request_error"
	// ClassHTTPOther: a final status that is neither 2xx, 3xx, 4xx nor 5xx.
	ClassHTTPOther Class = "http_other"
	// ClassRedirect: a 3xx reply. No redirect is followed (it would measure another server, or
	// turn a POST into a GET); the error text names where it pointed.
	ClassRedirect Class = "redirect"
	// ClassClientLimit: the client ran out of something of its own (file descriptors, local
	// ports) and could not send. Not the server's failure: the self-check marks the stage.
	ClassClientLimit Class = "client_limit"
)

// ServerTimings are the durations a server reports for a request: Ollama's final chunk
// (done:true), or llama-server's "timings" object. They are present only when the reply
// completed with them; a truncated reply has none.
type ServerTimings struct {
	Total           time.Duration `json:"total_ns"`
	Load            time.Duration `json:"load_ns"`
	PromptEval      time.Duration `json:"prompt_eval_ns"`
	Eval            time.Duration `json:"eval_ns"`
	PromptEvalCount int           `json:"prompt_eval_count"` // the whole prompt, cached part included
	EvalCount       int           `json:"eval_count"`
	// CachedCount is how many prompt tokens the server's prompt cache served (llama-server's
	// cache_n; Ollama 0.30+'s prompt_eval_cached_count).
	CachedCount int `json:"cached_count,omitempty"`
	// FromLlamaServer says the figures are llama-server's own timings. It reports no total
	// (nor load): Total is then the service time llmload measured, so the residual holds the
	// slot wait, the transport and the server's fixed work, as Ollama's does.
	FromLlamaServer bool `json:"from_llama_server,omitempty"`
}

// Residual is total − load − prompt_eval − eval: slot wait plus fixed overhead (and, at
// NUM_PARALLEL > 1, batch sharing).
func (s ServerTimings) Residual() time.Duration {
	return s.Total - s.Load - s.PromptEval - s.Eval
}

// Record is what one request produced. It is made by Client.Do and is immutable afterwards,
// except for the scheduling fields (Intended, Placed, Stage, Seq, Worker, Template) the runner sets
// before handing it on. All offsets are measured from Sent on the monotonic clock.
type Record struct {
	// Scheduling (filled by the runner).
	Intended time.Time // when the request should have been sent (open loop); = Sent otherwise
	// Placed is when an open loop's request found a place under its cap on requests in flight,
	// when it had to wait for one (zero otherwise): Placed − Intended is the server's
	// saturation, Sent − Placed the client's own lag.
	Placed   time.Time
	Stage    int
	Seq      int
	Worker   int
	Template string

	// Request identity.
	API    API
	Model  string
	Stream bool

	Sent       time.Time     // just before the request was written
	Headers    time.Duration // response headers arrived
	FirstByte  time.Duration // first body byte arrived
	FirstToken time.Duration // first chunk carrying generated (or thinking) text; 0 if none
	Done       time.Duration // last byte arrived, or the failure happened
	// TokenTimes are the arrival offsets of the chunks that carried generated text (the first
	// MaxTokenTimes of them), taken when the bytes arrived, before JSON decoding. ITL is the
	// gaps between them. Chunks counts them all.
	TokenTimes []time.Duration
	Chunks     int

	Status int
	Class  Class
	Error  string // error text, truncated to a few hundred bytes

	OutputTokens int
	// TokensFromServer is true when OutputTokens is the server's count (eval_count or
	// usage.completion_tokens) and false when it is the count of content chunks.
	TokensFromServer bool
	PromptTokens     int
	DoneReason       string
	Server           *ServerTimings // Ollama only, and only when the final chunk carried them
	BytesIn          int64

	// NewConn is whether the request went out on a connection opened for it rather than a
	// kept-alive one. Reconnected is whether its first attempt went out on a kept-alive
	// connection the server had already closed, so that it was sent again on a new one: the
	// attempt reached no server, so it is not an error (see staleConn).
	NewConn     bool
	Reconnected bool
}

// OK reports whether the request succeeded.
func (r *Record) OK() bool { return r.Class == ClassOK }

package api

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"

	"github.com/llmload/llmload/bench/internal/jsonw"
)

type ollamaMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Stream is never omitted: Ollama streams when the field is absent, OpenAI servers do not.
type ollamaGenerateBody struct {
	Model   string         `json:"model"`
	Prompt  string         `json:"prompt"`
	Stream  bool           `json:"stream"`
	Options map[string]any `json:"options,omitempty"`
}

type ollamaChatBody struct {
	Model    string          `json:"model"`
	Messages []ollamaMessage `json:"messages"`
	Stream   bool            `json:"stream"`
	Options  map[string]any  `json:"options,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type openAIBody struct {
	Model    string          `json:"model"`
	Messages []ollamaMessage `json:"messages,omitempty"`
	Prompt   *string         `json:"prompt,omitempty"`
	Stream   bool            `json:"stream"`
	// Without include_usage a stream carries no token counts at all.
	StreamOptions *streamOptions `json:"stream_options,omitempty"`
	MaxTokens     int            `json:"max_tokens,omitempty"`
	Temperature   any            `json:"temperature,omitempty"`
	Seed          any            `json:"seed,omitempty"`
	TopP          any            `json:"top_p,omitempty"`
	Stop          any            `json:"stop,omitempty"`
}

// Body is the request body as sent on the wire: RawBody verbatim when set, else built from the
// fields for the request's API.
func (r *Request) Body() ([]byte, error) {
	if len(r.RawBody) > 0 {
		return r.RawBody, nil
	}
	if b, ok := r.plainBody(); ok {
		return b, nil
	}
	return r.marshalBody()
}

// marshalBody builds the body with encoding/json.
func (r *Request) marshalBody() ([]byte, error) {
	var v any
	switch r.API {
	case OllamaGenerate:
		v = ollamaGenerateBody{Model: r.Model, Prompt: r.Prompt, Stream: r.Stream, Options: r.ollamaOptions()}
	case OllamaChat:
		v = ollamaChatBody{
			Model:    r.Model,
			Messages: []ollamaMessage{{Role: "user", Content: r.Prompt}},
			Stream:   r.Stream,
			Options:  r.ollamaOptions(),
		}
	case OpenAIChat, OpenAICompletions:
		b := openAIBody{
			Model:       r.Model,
			Stream:      r.Stream,
			MaxTokens:   max(r.MaxTokens, 0),
			Temperature: r.Options["temperature"],
			Seed:        r.Options["seed"],
			TopP:        r.Options["top_p"],
			Stop:        r.Options["stop"],
		}
		if r.API == OpenAIChat {
			b.Messages = []ollamaMessage{{Role: "user", Content: r.Prompt}}
		} else {
			b.Prompt = &r.Prompt
		}
		if r.Stream {
			b.StreamOptions = &streamOptions{IncludeUsage: true}
		}
		v = b
	default:
		return nil, fmt.Errorf("build body: unknown API %q", r.API)
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("build %s body: %w", r.API, err)
	}
	return body, nil
}

// ollamaOptions adds num_predict to a copy of the options; the caller's map is shared between
// requests of one template and must not change.
func (r *Request) ollamaOptions() map[string]any {
	if r.MaxTokens == 0 {
		return r.Options
	}
	opts := make(map[string]any, len(r.Options)+1)
	maps.Copy(opts, r.Options)
	opts["num_predict"] = r.MaxTokens
	return opts
}

// ExpectStream reports whether the server will stream its reply. For a RawBody it reads the
// body's "stream" field, and when that is absent applies the protocol's default: Ollama
// streams, OpenAI servers do not.
func (r *Request) ExpectStream() bool {
	if len(r.RawBody) == 0 {
		return r.Stream
	}
	if stream, ok := streamField(r.RawBody); ok {
		return stream
	}
	return r.API.IsOllama()
}

// plainBody writes the body of a request without options (the usual case: a model, a prompt,
// a token limit) byte for byte as marshalBody would, without reflection or a map per request.
// Requests with options take marshalBody.
func (r *Request) plainBody() ([]byte, bool) {
	if len(r.Options) > 0 {
		return nil, false
	}
	b := make([]byte, 0, 128+len(r.Model)+len(r.Prompt)+len(r.Prompt)/8)
	b = append(b, `{"model":`...)
	b = jsonw.AppendString(b, r.Model)
	switch r.API {
	case OllamaGenerate, OpenAICompletions:
		b = append(b, `,"prompt":`...)
		b = jsonw.AppendString(b, r.Prompt)
	case OllamaChat, OpenAIChat:
		b = append(b, `,"messages":[{"role":"user","content":`...)
		b = jsonw.AppendString(b, r.Prompt)
		b = append(b, `}]`...)
	default:
		return nil, false
	}
	b = append(b, `,"stream":`...)
	b = strconv.AppendBool(b, r.Stream)
	if r.API.IsOllama() {
		if r.MaxTokens != 0 {
			b = append(b, `,"options":{"num_predict":`...)
			b = strconv.AppendInt(b, int64(r.MaxTokens), 10)
			b = append(b, '}')
		}
	} else {
		if r.Stream {
			b = append(b, `,"stream_options":{"include_usage":true}`...)
		}
		if r.MaxTokens > 0 {
			b = append(b, `,"max_tokens":`...)
			b = strconv.AppendInt(b, int64(r.MaxTokens), 10)
		}
	}
	return append(b, '}'), true
}

package api

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/llmload/llmload/bench/internal/jsonw"
)

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

// marshalBody builds the body: llmload's own fields first, in the protocol's order (model,
// prompt or messages, stream, then Ollama's options or OpenAI's stream_options and
// max_tokens), then the options that go at the top level and Extra, sorted by name.
func (r *Request) marshalBody() ([]byte, error) {
	if !r.API.valid() {
		return nil, fmt.Errorf("build body: unknown API %q", r.API)
	}
	var obj object
	obj.add("model", r.Model)
	switch r.API {
	case OllamaGenerate, OpenAICompletions:
		obj.add("prompt", r.Prompt)
	default:
		msgs := r.Messages
		if len(msgs) == 0 {
			msgs = []Message{{Role: "user", Content: r.Prompt}}
		}
		obj.add("messages", msgs)
	}
	// Stream is never omitted: Ollama streams when the field is absent, OpenAI servers do not.
	obj.add("stream", r.Stream)
	top := map[string]any{}
	if r.API.IsOllama() {
		opts := r.ollamaOptions()
		inner := make(map[string]any, len(opts))
		for k, x := range opts {
			if slices.Contains(ollamaTopLevel, k) {
				top[k] = x
			} else {
				inner[k] = x
			}
		}
		if len(inner) > 0 {
			obj.add("options", inner)
		}
	} else {
		if r.Stream {
			// Without include_usage a stream carries no token counts at all.
			obj.add("stream_options", streamOptions{IncludeUsage: true})
		}
		if r.MaxTokens > 0 {
			obj.add("max_tokens", r.MaxTokens)
		}
		for k, x := range r.Options {
			if !slices.Contains(OllamaRunnerOptions, k) {
				top[k] = x
			}
		}
	}
	maps.Copy(top, r.Extra)
	for _, k := range slices.Sorted(maps.Keys(top)) {
		if !obj.has(k) {
			obj.add(k, top[k])
		}
	}
	body, err := obj.marshal()
	if err != nil {
		return nil, fmt.Errorf("build %s body: %w", r.API, err)
	}
	return body, nil
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// object is a JSON object whose members keep the order they were added in.
type object struct {
	keys []string
	vals []any
}

func (o *object) add(k string, v any) { o.keys, o.vals = append(o.keys, k), append(o.vals, v) }

func (o *object) has(k string) bool { return slices.Contains(o.keys, k) }

func (o *object) marshal() ([]byte, error) {
	b := []byte{'{'}
	for i, k := range o.keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, k)
		b = append(b, ':')
		v, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

func (a API) valid() bool { return slices.Contains(APIs, a) }

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

// plainBody writes the body of a request without options, messages or extra fields (the usual
// case: a model, a prompt, a token limit) as marshalBody would, without reflection or a map per
// request. Others take marshalBody.
func (r *Request) plainBody() ([]byte, bool) {
	if len(r.Options) > 0 || len(r.Messages) > 0 || len(r.Extra) > 0 {
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

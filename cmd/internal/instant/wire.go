package instant

import "strconv"

// wire builds the instant server's reply bodies, shaped like Ollama's and an OpenAI-compatible
// server's (field order, final chunk, usage) but with fixed values: a client pays for what it
// parses, so the shape matters and the content does not.
type wire struct{ ollama, chat bool }

// Fixed parts of every reply.
const (
	createdAt = `"created_at":"2026-01-01T00:00:00.000000000Z"`
	token     = `"ok"`
)

func (w wire) streamType() string {
	if w.ollama {
		return "application/x-ndjson"
	}
	return "text/event-stream"
}

func (w wire) jsonType() string {
	if w.ollama {
		return "application/json; charset=utf-8"
	}
	return "application/json"
}

// text is the reply's text: tokens times "ok".
func text(b []byte, tokens int) []byte {
	b = append(b, '"')
	for range tokens {
		b = append(b, "ok"...)
	}
	return append(b, '"')
}

func ollamaMetrics(b []byte, tokens int) []byte {
	b = append(b, `,"done":true,"done_reason":"stop","total_duration":1000000,"load_duration":10000,"prompt_eval_count":1,"prompt_eval_duration":10000,"eval_count":`...)
	b = strconv.AppendInt(b, int64(tokens), 10)
	return append(b, `,"eval_duration":900000}`...)
}

func usage(b []byte, tokens int) []byte {
	b = append(b, `"usage":{"prompt_tokens":1,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(tokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(tokens+1), 10)
	return append(b, '}')
}

// whole is a stream:false reply.
func (w wire) whole(b []byte, tokens int) []byte {
	switch {
	case w.ollama && w.chat:
		b = append(b, `{"model":"instant",`+createdAt+`,"message":{"role":"assistant","content":`...)
		b = text(b, tokens)
		b = append(b, '}')
		return ollamaMetrics(b, tokens)
	case w.ollama:
		b = append(b, `{"model":"instant",`+createdAt+`,"response":`...)
		b = text(b, tokens)
		return ollamaMetrics(b, tokens)
	case w.chat:
		b = append(b, `{"id":"chatcmpl-1","object":"chat.completion","created":1767225600,"model":"instant","system_fingerprint":"fp_instant","choices":[{"index":0,"message":{"role":"assistant","content":`...)
		b = text(b, tokens)
		b = append(b, `},"finish_reason":"stop"}],`...)
	default:
		b = append(b, `{"id":"cmpl-1","object":"text_completion","created":1767225600,"model":"instant","system_fingerprint":"fp_instant","choices":[{"text":`...)
		b = text(b, tokens)
		b = append(b, `,"index":0,"finish_reason":"stop"}],`...)
	}
	b = usage(b, tokens)
	return append(b, '}')
}

// chunk is one text chunk of a stream.
func (w wire) chunk(b []byte) []byte {
	switch {
	case w.ollama && w.chat:
		return append(b, `{"model":"instant",`+createdAt+`,"message":{"role":"assistant","content":`+token+`},"done":false}`+"\n"...)
	case w.ollama:
		return append(b, `{"model":"instant",`+createdAt+`,"response":`+token+`,"done":false}`+"\n"...)
	case w.chat:
		return append(b, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"instant","system_fingerprint":"fp_instant","choices":[{"index":0,"delta":{"role":"assistant","content":`+token+`},"finish_reason":null}]}`+"\n\n"...)
	default:
		return append(b, `data: {"id":"cmpl-1","object":"text_completion","created":1767225600,"choices":[{"text":`+token+`,"index":0,"finish_reason":null}],"model":"instant","system_fingerprint":"fp_instant"}`+"\n\n"...)
	}
}

// final ends a stream: Ollama's done:true line with its metrics, or OpenAI's finish_reason
// chunk, usage chunk and [DONE].
func (w wire) final(b []byte, tokens int) []byte {
	switch {
	case w.ollama && w.chat:
		b = append(b, `{"model":"instant",`+createdAt+`,"message":{"role":"assistant","content":""}`...)
		b = ollamaMetrics(b, tokens)
		return append(b, '\n')
	case w.ollama:
		b = append(b, `{"model":"instant",`+createdAt+`,"response":""`...)
		b = ollamaMetrics(b, tokens)
		return append(b, '\n')
	case w.chat:
		b = append(b, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"instant","system_fingerprint":"fp_instant","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"stop"}]}`+"\n\n"...)
		b = append(b, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"instant","system_fingerprint":"fp_instant","choices":[],`...)
	default:
		b = append(b, `data: {"id":"cmpl-1","object":"text_completion","created":1767225600,"choices":[{"text":"","index":0,"finish_reason":"stop"}],"model":"instant","system_fingerprint":"fp_instant"}`+"\n\n"...)
		b = append(b, `data: {"id":"cmpl-1","object":"text_completion","created":1767225600,"choices":[],"model":"instant","system_fingerprint":"fp_instant",`...)
	}
	b = usage(b, tokens)
	return append(b, "}\n\ndata: [DONE]\n\n"...)
}

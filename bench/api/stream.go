package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// bodyFormat is how a 2xx response body is framed.
type bodyFormat int

const (
	formatNDJSON bodyFormat = iota // Ollama streams: one JSON object per line
	formatSSE                      // OpenAI streams: data: lines, ending data: [DONE]
	formatJSON                     // stream:false replies: one JSON document
)

// formatOf picks the framing from the Content-Type the server sent, because servers answer
// some requests in another framing than the one asked for (Ollama answers a streamed preload
// with plain JSON). Without a known type, the request decides.
func formatOf(contentType string, api API, stream bool) bodyFormat {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(mt)
	for _, t := range [...]struct {
		name   string
		format bodyFormat
	}{
		{"application/json", formatJSON}, {"application/x-ndjson", formatNDJSON}, {"text/event-stream", formatSSE},
		{"application/ndjson", formatNDJSON}, {"application/jsonl", formatNDJSON},
		{"application/x-jsonlines", formatNDJSON}, {"application/jsonlines", formatNDJSON},
	} {
		if equalFoldASCII(mt, t.name) {
			return t.format
		}
	}
	switch {
	case !stream:
		return formatJSON
	case api.IsOllama():
		return formatNDJSON
	default:
		return formatSSE
	}
}

// drainLimit bounds what is read after a stream has ended (done:true or [DONE]). Reading to
// the end lets the connection be reused; the bound stops a server that keeps talking.
const drainLimit = 64 << 10

// maxTextSnippet is how much of a bad chunk goes into the error text.
const maxTextSnippet = 80

// streamReader turns the lines of one response body into the Record's token times, counts and
// outcome. It is the hot path: a content chunk costs one scan and one append.
type streamReader struct {
	rec    *Record
	sent   time.Time
	ollama bool
	format bodyFormat

	chunks   int  // chunks that carried text
	complete bool // done:true, data: [DONE], or a whole OpenAI reply
	empty    bool // a single-document reply had no body
	doneAt   int64
	fail     Class // a failure found in the body; "" while none
	failText string

	// Server counts, used only when the reply completed.
	output, prompt     int
	outputOK, promptOK bool

	// SSE event being assembled.
	event    []byte
	eventAt  time.Time
	hasEvent bool
	eventErr bool // "event: error"
}

func newStreamReader(rec *Record, sent time.Time, format bodyFormat) *streamReader {
	return &streamReader{rec: rec, sent: sent, ollama: rec.API.IsOllama(), format: format}
}

// read consumes the body in the reader's format. It returns only transport errors; what the
// body itself says ends up in the reader's fields.
func (s *streamReader) read(lr *lineReader) error {
	switch s.format {
	case formatNDJSON:
		return s.readNDJSON(lr)
	case formatSSE:
		return s.readSSE(lr)
	default:
		return s.readJSON(lr)
	}
}

// MaxTokenTimes bounds the chunk arrival times one record keeps (512 KiB): an endless stream
// of valid chunks must not grow without end. Past it, chunks are still counted, and the record's
// first token and last byte stay exact; only ITL samples the first MaxTokenTimes gaps.
const MaxTokenTimes = 1 << 16

func (s *streamReader) addText(at time.Time) {
	d := at.Sub(s.sent)
	if s.chunks == 0 {
		s.rec.FirstToken = d
	}
	if len(s.rec.TokenTimes) < MaxTokenTimes {
		s.rec.TokenTimes = append(s.rec.TokenTimes, d)
	}
	s.chunks++
	s.rec.Chunks = s.chunks
}

func (s *streamReader) markComplete(lr *lineReader) {
	s.complete = true
	s.doneAt = lr.n
	if lr.wd != nil {
		lr.wd.drain()
	}
}

// draining reports whether the stream already ended, and whether enough has been drained.
func (s *streamReader) draining(lr *lineReader) (ended, stop bool) {
	if !s.complete {
		return false, false
	}
	return true, lr.n-s.doneAt > drainLimit
}

func (s *streamReader) malformed(err error, b []byte) {
	s.fail = ClassMalformed
	s.failText = fmt.Sprintf("malformed chunk: %v: %q", err, snippet(b))
}

func (s *streamReader) streamError(b []byte) {
	s.fail = ClassStreamError
	s.failText = "error in stream: " + errorText(b)
}

func snippet(b []byte) []byte {
	if len(b) > maxTextSnippet {
		return b[:maxTextSnippet]
	}
	return b
}

func blank(b []byte) bool { return len(bytes.TrimSpace(b)) == 0 }

func (s *streamReader) readNDJSON(lr *lineReader) error {
	for {
		line, at, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if ended, stop := s.draining(lr); ended {
			if stop {
				return nil
			}
			continue
		}
		if blank(line) {
			continue
		}
		if !s.ollamaObject(lr, line, at) {
			return nil
		}
	}
}

func (s *streamReader) readSSE(lr *lineReader) error {
	for {
		line, at, err := lr.next()
		if err == io.EOF {
			// A last event without its blank line still counts.
			if s.hasEvent && !s.complete {
				s.dispatch(lr)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if ended, stop := s.draining(lr); ended {
			if stop {
				return nil
			}
			continue
		}
		if len(line) == 0 {
			if s.hasEvent && !s.dispatch(lr) {
				return nil
			}
			s.eventErr = false
			continue
		}
		switch line[0] {
		case ':': // comment, used as keep-alive
			continue
		case '{':
			// Not SSE, but some servers write a bare JSON error line into an event stream.
			if !s.openAIObject(lr, line, at, false) {
				return nil
			}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(field) {
		case "data":
			if len(s.event)+len(value)+1 > lr.limit() {
				s.fail = ClassMalformed
				s.failText = "malformed reply: " + (&tooLongError{what: "an event of the stream", limit: lr.limit()}).Error()
				return nil
			}
			if need := len(s.event) + len(value) + 1; need > cap(s.event) {
				// Double, as the line buffer does: append's smaller steps for big slices would
				// allocate several times an event's size on the way to the limit.
				s.event = slices.Grow(s.event, min(max(2*cap(s.event), need), lr.limit())-len(s.event))
			}
			if s.hasEvent {
				s.event = append(s.event, '\n')
			}
			s.event = append(s.event, value...)
			s.hasEvent = true
			s.eventAt = at
		case "event":
			s.eventErr = string(value) == "error"
		}
		// Other fields (id, retry, unknown ones) are ignored, as the SSE spec says.
	}
}

// dispatch handles the assembled SSE event; false stops reading.
func (s *streamReader) dispatch(lr *lineReader) bool {
	data, at, isErr := s.event, s.eventAt, s.eventErr
	s.event, s.hasEvent, s.eventErr = s.event[:0], false, false
	if isErr {
		s.streamError(data)
		return false
	}
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0:
		return true
	case string(data) == "[DONE]":
		s.markComplete(lr)
		return true
	}
	return s.openAIObject(lr, data, at, false)
}

func (s *streamReader) readJSON(lr *lineReader) error {
	body, at, err := lr.all()
	if err != nil {
		return err
	}
	if blank(body) {
		s.empty = true
		return nil
	}
	if s.ollama {
		s.ollamaObject(lr, body, at)
	} else {
		s.openAIObject(lr, body, at, true)
	}
	return nil
}

// ollamaObject handles one Ollama chunk; false stops reading.
func (s *streamReader) ollamaObject(lr *lineReader, b []byte, at time.Time) bool {
	var fs finalScan
	c, err := scanOllamaLine(b, &fs)
	if err != nil {
		s.malformed(err, b)
		return false
	}
	if c.errored {
		s.streamError(b)
		return false
	}
	if c.text {
		s.addText(at)
	}
	if !c.done {
		return true
	}
	f := fs.finalChunk
	if fs.slow {
		f, err = decodeOllamaFinal(b)
	}
	if err == nil {
		err = checkFinal(f)
	}
	if err != nil {
		s.malformed(fmt.Errorf("final chunk: %w", err), b)
		return false
	}
	s.markComplete(lr)
	s.rec.DoneReason = f.DoneReason
	// Preload and unload replies (done_reason load/unload) carry no metrics: Server stays nil.
	if f.HasTotal {
		s.rec.Server = &ServerTimings{
			Total:           time.Duration(f.Total),
			Load:            time.Duration(f.Load),
			PromptEval:      time.Duration(f.PromptEval),
			Eval:            time.Duration(f.Eval),
			PromptEvalCount: f.PromptCount,
			EvalCount:       f.EvalCount,
			CachedCount:     f.CachedCount,
		}
	}
	if f.HasEvalCount {
		s.output, s.outputOK = f.EvalCount, true
	}
	if f.HasPromptCount {
		s.prompt, s.promptOK = f.PromptCount, true
	}
	return true
}

// openAIObject handles one OpenAI chunk, or a whole reply; false stops reading.
func (s *streamReader) openAIObject(lr *lineReader, b []byte, at time.Time, whole bool) bool {
	c, err := scanOpenAIChunk(b)
	if err != nil {
		s.malformed(err, b)
		return false
	}
	if c.errored {
		s.streamError(b)
		return false
	}
	if c.impossible != "" {
		s.malformed(fmt.Errorf("%s is not a token count", c.impossible), b)
		return false
	}
	if c.text {
		s.addText(at)
	}
	if c.finish != nil {
		s.rec.DoneReason = finishReason(c.finish)
	}
	if c.timings != nil {
		t, err := parseLlamaTimings(c.timings)
		if err != nil {
			s.malformed(err, b)
			return false
		}
		s.rec.Server = t
	}
	if c.usage {
		// The last usage wins: /v1/completions repeats a zero usage on every chunk before the
		// real one.
		s.output, s.outputOK = c.output, c.outputOK
		s.prompt, s.promptOK = c.prompt, c.promptOK && c.prompt > 0
	}
	if whole {
		if !c.choices {
			s.malformed(fmt.Errorf("reply has no choices"), b)
			return false
		}
		// A whole reply has no end marker but its finish_reason: a reply cut short (Ollama's
		// repeat limit seen through /v1) has none.
		if c.finish != nil {
			s.markComplete(lr)
		}
	}
	return true
}

// parseLlamaTimings reads llama-server's "timings" object (one per reply, in its last chunk). An
// object with impossible figures (negative, or past MaxCount and MaxDuration) makes the reply
// malformed, as an Ollama final chunk with them does.
func parseLlamaTimings(raw []byte) (*ServerTimings, error) {
	var t struct {
		PromptN     int     `json:"prompt_n"`
		PromptMs    float64 `json:"prompt_ms"`
		PredictedN  int     `json:"predicted_n"`
		PredictedMs float64 `json:"predicted_ms"`
		CacheN      int     `json:"cache_n"`
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("timings: %w", err)
	}
	maxMs := float64(MaxDuration / time.Millisecond)
	for _, n := range []struct {
		name string
		v    int
	}{{"prompt_n", t.PromptN}, {"predicted_n", t.PredictedN}, {"cache_n", t.CacheN}} {
		if n.v < 0 || n.v > MaxCount {
			return nil, fmt.Errorf("timings.%s %d is not a token count", n.name, n.v)
		}
	}
	if !(t.PromptMs >= 0 && t.PromptMs <= maxMs && t.PredictedMs >= 0 && t.PredictedMs <= maxMs) {
		return nil, fmt.Errorf("timings: prompt_ms %v, predicted_ms %v are not durations of a request", t.PromptMs, t.PredictedMs)
	}
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	return &ServerTimings{
		PromptEval: ms(t.PromptMs), Eval: ms(t.PredictedMs),
		PromptEvalCount: t.PromptN + t.CacheN, EvalCount: t.PredictedN, CachedCount: t.CacheN,
		FromLlamaServer: true,
	}, nil
}

// MaxDuration is the longest duration a reply may report (a week): past it, the figure is no
// server's measurement of a request.
const MaxDuration = 7 * 24 * time.Hour

// checkFinal refuses an Ollama final chunk whose figures no request has: negative or
// overflowing counts and durations (a sum over a run would wrap, a share would be absurd).
func checkFinal(f finalChunk) error {
	for _, d := range []struct {
		name string
		v    int64
	}{{"total_duration", f.Total}, {"load_duration", f.Load}, {"prompt_eval_duration", f.PromptEval}, {"eval_duration", f.Eval}} {
		if d.v < 0 || d.v > int64(MaxDuration) {
			return fmt.Errorf("%s %d ns is not a duration of a request", d.name, d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"prompt_eval_count", f.PromptCount}, {"eval_count", f.EvalCount}, {"prompt_eval_cached_count", f.CachedCount}} {
		if n.v < 0 || n.v > MaxCount {
			return fmt.Errorf("%s %d is not a token count", n.name, n.v)
		}
	}
	return nil
}

// finishReason turns a raw finish_reason into a string, without allocating for common ones.
func finishReason(raw []byte) string {
	switch string(raw) {
	case "stop":
		return "stop"
	case "length":
		return "length"
	case "tool_calls":
		return "tool_calls"
	}
	return string(key(raw))
}

// verdict is the outcome the body alone decides.
func (s *streamReader) verdict() (Class, string) {
	if s.fail != "" {
		return s.fail, s.failText
	}
	if s.complete {
		return ClassOK, ""
	}
	switch {
	case s.format == formatJSON && s.empty:
		return ClassTruncated, "empty reply"
	case s.format == formatJSON && s.ollama:
		return ClassTruncated, `reply has "done": false (the server stopped the generation early)`
	case s.format == formatJSON:
		return ClassTruncated, "reply has no finish_reason (the server stopped the generation early)"
	case s.format == formatSSE:
		return ClassTruncated, "stream ended without data: [DONE]"
	}
	return ClassTruncated, "stream ended without a done:true line"
}

// settleTokens fills the token counts: the server's when the reply completed and gave them,
// else the number of chunks that carried text.
func (s *streamReader) settleTokens() {
	r := s.rec
	r.OutputTokens, r.TokensFromServer, r.PromptTokens = s.chunks, false, 0
	if r.Class != ClassOK {
		return
	}
	// A zero count from a server that streamed text is no count at all (usage left at zero).
	if s.outputOK && (s.output > 0 || s.chunks == 0) {
		r.OutputTokens, r.TokensFromServer = s.output, true
	}
	if s.promptOK {
		r.PromptTokens = s.prompt
	}
}

package api

import (
	"bytes"
	"encoding/json"
)

// finalChunk is what the done:true chunk says. The Has fields tell a missing count from a
// zero one, because Ollama omits what is zero and a truncated reply has none of them.
type finalChunk struct {
	DoneReason                    string
	Total, Load, PromptEval, Eval int64
	PromptCount, EvalCount        int
	// CachedCount is prompt_eval_cached_count (Ollama 0.30+, from llama-server's cache_n): the
	// prompt tokens its cache served.
	CachedCount                  int
	HasTotal                     bool
	HasPromptCount, HasEvalCount bool
}

// ollamaFinal is finalChunk as encoding/json decodes it: pointers for presence.
type ollamaFinal struct {
	DoneReason         string `json:"done_reason"`
	TotalDuration      *int64 `json:"total_duration"`
	LoadDuration       int64  `json:"load_duration"`
	PromptEvalCount    *int   `json:"prompt_eval_count"`
	PromptEvalDuration int64  `json:"prompt_eval_duration"`
	EvalCount          *int   `json:"eval_count"`
	EvalDuration       int64  `json:"eval_duration"`
	CachedCount        *int   `json:"prompt_eval_cached_count"`
}

// finalFields are the members decodeOllamaFinal reads, by name.
var finalFields = [...]string{"done_reason", "total_duration", "load_duration", "prompt_eval_count",
	"prompt_eval_duration", "eval_count", "eval_duration", "prompt_eval_cached_count"}

// decodeOllamaFinal reads a final chunk exactly as json.Unmarshal into ollamaFinal would,
// without its reflection and allocations: every request ends with one, and a stream:false
// reply is nothing else. What the fast scan does not settle the same way for sure (a wrong
// type, a fraction, an escaped string, a member whose name matches only ignoring case, as
// encoding/json allows) goes to encoding/json, so results and error texts stay its own.
func decodeOllamaFinal(b []byte) (finalChunk, error) {
	if f, ok := scanOllamaFinal(b); ok {
		return f, nil
	}
	var j ollamaFinal
	if err := json.Unmarshal(b, &j); err != nil {
		return finalChunk{}, err
	}
	f := finalChunk{DoneReason: j.DoneReason, Load: j.LoadDuration, PromptEval: j.PromptEvalDuration, Eval: j.EvalDuration}
	if j.TotalDuration != nil {
		f.Total, f.HasTotal = *j.TotalDuration, true
	}
	if j.PromptEvalCount != nil {
		f.PromptCount, f.HasPromptCount = *j.PromptEvalCount, true
	}
	if j.EvalCount != nil {
		f.EvalCount, f.HasEvalCount = *j.EvalCount, true
	}
	if j.CachedCount != nil {
		f.CachedCount = *j.CachedCount
	}
	return f, nil
}

// scanOllamaFinal is the fast path; false means "ask encoding/json".
func scanOllamaFinal(b []byte) (finalChunk, bool) {
	var f finalScan
	s := jsonScan{b: b}
	if !s.beginObject() {
		return f.finalChunk, false
	}
	n := 0
	for {
		raw, more := s.member(&n)
		if !more {
			break
		}
		start := s.i
		if !s.skip() {
			return f.finalChunk, false
		}
		f.take(key(raw), b[start:s.i])
	}
	return f.finalChunk, s.end() && !f.slow
}

// finalScan collects the members of a final chunk as a scan meets them; slow says one of them
// needs encoding/json to be read the way it would read it.
type finalScan struct {
	finalChunk
	slow bool
}

// take reads one member, given its decoded name and its raw (already validated) value.
func (f *finalScan) take(name, raw []byte) {
	s := jsonScan{b: raw}
	ok := true
	switch string(name) {
	case "done_reason":
		switch s.peek() {
		case 'n':
			ok = s.lit("null") // null leaves a string as it was
		case '"':
			var v []byte
			if v, ok = s.str(); ok && bytes.IndexByte(v, '\\') >= 0 {
				ok = false
			}
			f.DoneReason = doneReason(v)
		default:
			ok = false
		}
	case "total_duration":
		if s.peek() == 'n' {
			ok = s.lit("null")
			f.Total, f.HasTotal = 0, false // null sets a pointer to nil
			break
		}
		f.Total, ok = s.int64()
		f.HasTotal = true
	case "load_duration":
		f.Load, ok = s.int64OrNull(f.Load)
	case "prompt_eval_duration":
		f.PromptEval, ok = s.int64OrNull(f.PromptEval)
	case "eval_duration":
		f.Eval, ok = s.int64OrNull(f.Eval)
	case "prompt_eval_count":
		f.PromptCount, f.HasPromptCount, ok = s.intPointer()
	case "eval_count":
		f.EvalCount, f.HasEvalCount, ok = s.intPointer()
	case "prompt_eval_cached_count":
		f.CachedCount, _, ok = s.intPointer()
	default:
		for _, field := range finalFields {
			if len(name) == len(field) && equalFoldASCII(name, field) {
				f.slow = true // encoding/json matches member names ignoring case
			}
		}
		return
	}
	if !ok || !s.end() {
		f.slow = true
	}
}

// int64 reads an integer that fits an int64; anything else (a fraction, an exponent, another
// type) is left to encoding/json.
func (s *jsonScan) int64() (int64, bool) {
	if c := s.peek(); c != '-' && !isDigit(c) {
		return 0, false
	}
	raw, ok := s.num()
	if !ok {
		return 0, false
	}
	neg := raw[0] == '-'
	if neg {
		raw = raw[1:]
	}
	var v uint64
	for _, c := range raw {
		if !isDigit(c) {
			return 0, false
		}
		if v > (1<<63)/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	switch {
	case neg && v <= 1<<63:
		return -int64(v), true
	case !neg && v < 1<<63:
		return int64(v), true
	}
	return 0, false
}

func (s *jsonScan) int64OrNull(old int64) (int64, bool) {
	if s.peek() == 'n' {
		return old, s.lit("null")
	}
	return s.int64()
}

func (s *jsonScan) intPointer() (v int, present, ok bool) {
	if s.peek() == 'n' {
		return 0, false, s.lit("null")
	}
	n, ok := s.int64()
	if !ok || int64(int(n)) != n {
		return 0, false, false
	}
	return int(n), true, true
}

// doneReason turns a raw done_reason into a string, without allocating for common ones.
func doneReason(raw []byte) string {
	switch string(raw) {
	case "stop":
		return "stop"
	case "length":
		return "length"
	case "load":
		return "load"
	case "unload":
		return "unload"
	}
	return string(raw)
}

package api

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

// The hand-written chunk scanner is checked against a reference built on encoding/json's token
// API: a different implementation of the same rules, so the fuzzer can compare them.

// refMembers walks the members of a JSON object in order; false when raw is not an object or
// fn rejects a member.
func refMembers(raw []byte, fn func(key string, val json.RawMessage) bool) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		k, ok := tok.(string)
		if !ok {
			return false
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return false
		}
		if !fn(k, bytes.TrimSpace(val)) {
			return false
		}
	}
	tok, err := dec.Token()
	return err == nil && tok == json.Delim('}')
}

func isNull(v json.RawMessage) bool { return string(v) == "null" }

func refText(v json.RawMessage) (nonEmpty, ok bool) {
	switch {
	case isNull(v):
		return false, true
	case len(v) > 0 && v[0] == '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return false, false
		}
		return s != "", true
	}
	return false, false
}

func refMessage(v json.RawMessage) (text, ok bool) {
	if isNull(v) {
		return false, true
	}
	if len(v) == 0 || v[0] != '{' {
		return false, false
	}
	flags := map[string]bool{}
	ok = refMembers(v, func(k string, val json.RawMessage) bool {
		switch k {
		case "content", "thinking", "reasoning_content", "reasoning":
			ne, ok := refText(val)
			flags[k] = ne
			return ok
		}
		return true
	})
	for _, f := range flags {
		text = text || f
	}
	return text, ok
}

func refCount(v json.RawMessage) (int, bool) {
	if len(v) == 0 || !(v[0] == '-' || isDigit(v[0])) {
		return 0, false
	}
	var n int
	if json.Unmarshal(v, &n) != nil || n < 0 || n > MaxCount {
		return 0, false
	}
	return n, true
}

// refFinal is an encoding/json decoding of a final chunk as the client's fields.
func refFinal(j ollamaFinal) finalChunk {
	f := finalChunk{Load: j.LoadDuration, PromptEval: j.PromptEvalDuration, Eval: j.EvalDuration}
	if j.TotalDuration != nil {
		f.Total = *j.TotalDuration
	}
	if j.PromptEvalCount != nil {
		f.PromptCount = *j.PromptEvalCount
	}
	if j.EvalCount != nil {
		f.EvalCount = *j.EvalCount
	}
	if j.CachedCount != nil {
		f.CachedCount = *j.CachedCount
	}
	return f
}

// topObject applies the rules both scanners share about the document as a whole.
func topObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return json.Valid(b) && len(t) > 0 && t[0] == '{'
}

func refScanOllama(b []byte) (chunkInfo, bool) {
	var c chunkInfo
	if !topObject(b) {
		return c, false
	}
	var response, thinking, message bool
	ok := refMembers(b, func(k string, v json.RawMessage) bool {
		var ok bool
		switch k {
		case "response":
			response, ok = refText(v)
		case "thinking":
			thinking, ok = refText(v)
		case "message":
			message, ok = refMessage(v)
		case "done":
			switch string(v) {
			case "true":
				c.done, ok = true, true
			case "false", "null":
				c.done, ok = false, true
			}
		case "error":
			c.errored, ok = !isNull(v), true
		default:
			ok = true
		}
		return ok
	})
	c.text = response || thinking || message
	return c, ok
}

func refChoice(v json.RawMessage) (text bool, finish []byte, ok bool) {
	if isNull(v) {
		return false, nil, true
	}
	if len(v) == 0 || v[0] != '{' {
		return false, nil, false
	}
	var delta, message, plain bool
	ok = refMembers(v, func(k string, val json.RawMessage) bool {
		var ok bool
		switch k {
		case "delta":
			delta, ok = refMessage(val)
		case "message":
			message, ok = refMessage(val)
		case "text":
			plain, ok = refText(val)
		case "finish_reason":
			if isNull(val) {
				finish, ok = nil, true
			} else if val[0] == '"' {
				finish, ok = val[1:len(val)-1], true
			}
		default:
			ok = true
		}
		return ok
	})
	return delta || message || plain, finish, ok
}

func refScanOpenAI(b []byte) (chunkInfo, bool) {
	var c chunkInfo
	if !topObject(b) {
		return c, false
	}
	ok := refMembers(b, func(k string, v json.RawMessage) bool {
		switch k {
		case "choices":
			c.text, c.finish, c.choices = false, nil, false
			if isNull(v) {
				return true
			}
			var elems []json.RawMessage
			if v[0] != '[' || json.Unmarshal(v, &elems) != nil {
				return false
			}
			c.choices = true
			for _, e := range elems {
				text, finish, ok := refChoice(bytes.TrimSpace(e))
				if !ok {
					return false
				}
				c.text = c.text || text
				if finish != nil {
					c.finish = finish
				}
			}
		case "usage":
			c.usage, c.promptOK, c.outputOK, c.prompt, c.output = false, false, false, 0, 0
			if isNull(v) {
				return true
			}
			if v[0] != '{' {
				return false
			}
			c.usage = true
			return refMembers(v, func(k string, val json.RawMessage) bool {
				numeric := len(val) > 0 && (val[0] == '-' || isDigit(val[0]))
				switch k {
				case "prompt_tokens":
					if c.prompt, c.promptOK = refCount(val); numeric && !c.promptOK {
						c.impossible = "usage." + k
					}
				case "completion_tokens":
					if c.output, c.outputOK = refCount(val); numeric && !c.outputOK {
						c.impossible = "usage." + k
					}
				}
				return true
			})
		case "timings":
			if v[0] == '{' {
				c.timings = v
			}
		case "error":
			c.errored = !isNull(v)
		}
		return true
	})
	return c, ok
}

func sameChunk(a, b chunkInfo) bool {
	return a.text == b.text && a.done == b.done && a.errored == b.errored && a.choices == b.choices &&
		bytes.Equal(a.finish, b.finish) && (a.finish == nil) == (b.finish == nil) && a.usage == b.usage &&
		a.promptOK == b.promptOK && a.outputOK == b.outputOK && a.prompt == b.prompt && a.output == b.output &&
		a.impossible == b.impossible
}

// refLines splits a body as lineReader does at a clean end.
func refLines(data []byte) [][]byte {
	lines := bytes.Split(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		lines[i] = trimCR(l)
	}
	return lines
}

// refNDJSON is the outcome of an Ollama stream by the reference rules.
func refNDJSON(data []byte) (Class, int) {
	chunks := 0
	for _, l := range refLines(data) {
		if blank(l) {
			continue
		}
		c, ok := refScanOllama(l)
		switch {
		case !ok:
			return ClassMalformed, chunks
		case c.errored:
			return ClassStreamError, chunks
		}
		if c.text {
			chunks++
		}
		if c.done {
			var j ollamaFinal
			if json.Unmarshal(l, &j) != nil || checkFinal(refFinal(j)) != nil {
				return ClassMalformed, chunks
			}
			return ClassOK, chunks
		}
	}
	return ClassTruncated, chunks
}

// refSSE is the outcome of an OpenAI stream by the reference rules.
func refSSE(data []byte) (Class, int) {
	chunks := 0
	var event []string
	isErr := false
	// handle returns a final class, or "" to go on.
	handle := func(payload []byte) Class {
		c, ok := refScanOpenAI(payload)
		switch {
		case !ok:
			return ClassMalformed
		case c.errored:
			return ClassStreamError
		case c.impossible != "":
			return ClassMalformed
		}
		if c.timings != nil {
			if _, err := parseLlamaTimings(c.timings); err != nil {
				return ClassMalformed
			}
		}
		if c.text {
			chunks++
		}
		return ""
	}
	dispatch := func() Class {
		data := strings.Join(event, "\n")
		wasErr := isErr
		event, isErr = nil, false
		if wasErr {
			return ClassStreamError
		}
		data = strings.TrimSpace(data)
		switch data {
		case "":
			return ""
		case "[DONE]":
			return ClassOK
		}
		return handle([]byte(data))
	}
	for _, l := range refLines(data) {
		s := string(l)
		switch {
		case s == "":
			if event != nil {
				if c := dispatch(); c != "" {
					return c, chunks
				}
			}
			isErr = false
		case s[0] == ':':
		case s[0] == '{':
			if c := handle(l); c != "" {
				return c, chunks
			}
		default:
			field, value, _ := strings.Cut(s, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "data":
				event = append(event, value)
			case "event":
				isErr = value == "error"
			}
		}
	}
	if event != nil {
		if c := dispatch(); c != "" {
			return c, chunks
		}
	}
	return ClassTruncated, chunks
}

// stepReader hands out at most step bytes per Read, like a network delivering small segments.
type stepReader struct {
	data []byte
	step int
}

func (r *stepReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.step, len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// runReader runs a body through the stream reader as Client.Do does after the headers.
func runReader(src io.Reader, format bodyFormat, api API) (*Record, error) {
	rec := &Record{API: api, Sent: time.Now()}
	lr := newLineReader(src, nil)
	sr := newStreamReader(rec, rec.Sent, format)
	err := sr.read(lr)
	rec.BytesIn = lr.n
	if lr.n > 0 {
		rec.FirstByte = lr.first.Sub(rec.Sent)
		rec.Done = lr.at.Sub(rec.Sent)
	}
	rec.Class, rec.Error = sr.verdict()
	rec.Error = truncateText(rec.Error, maxErrorText)
	sr.settleTokens()
	return rec, err
}

func fixtureBodies(tb testing.TB, names ...string) [][]byte {
	var out [][]byte
	for _, n := range names {
		out = append(out, loadFixture(tb, n).body)
	}
	return out
}

var ndjsonSeeds = []string{
	`{"response":"a","done":false}` + "\n" + `{"error":"boom"}` + "\n",
	`{"message":{"role":"assistant","content":"","thinking":"hmm"},"done":false}` + "\n" + `{"done":true}`,
	`{"response":"\u00e9\"","done":false}` + "\r\n\r\n" + `{"done":true,"eval_count":1e3}`,
	`{"respons\u0065":"x","done":null,"message":null,"error":null}` + "\n",
	`{"a":[[[[{"b":[-0.5e+10,true,false,null]}]]]],"response":"x"}` + "\n" + "garbage\n",
	`{"response":"x","response":""}` + "\n" + `{"done":"yes"}`,
	"\n\n   \n" + `{"done":true,"done_reason":"load"}` + "\n" + "trailing garbage after done\n",
	`{"done":true}{"done":true}`,
}

func FuzzNDJSON(f *testing.F) {
	for _, b := range fixtureBodies(f, "generate-stream.http", "chat-stream.http", "generate-truncated-stream.http",
		"generate-nostream.http", "generate-truncated-nostream.http", "preload.http") {
		f.Add(b, uint16(7))
		f.Add(b, uint16(4096))
	}
	for _, s := range ndjsonSeeds {
		f.Add([]byte(s), uint16(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, step uint16) {
		// The line reader yields exactly the lines a plain split gives, however reads fall.
		lr := newLineReader(&stepReader{data: data, step: int(step%512) + 1}, nil)
		var got [][]byte
		for {
			line, _, err := lr.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("next: %v", err)
			}
			got = append(got, bytes.Clone(line))
		}
		want := refLines(data)
		if len(got) != len(want) {
			t.Fatalf("%d lines, reference %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("line %d: %q, reference %q", i, got[i], want[i])
			}
			mine, err := scanOllamaChunk(got[i])
			ref, ok := refScanOllama(got[i])
			if (err == nil) != ok || ok && !sameChunk(mine, ref) {
				t.Fatalf("line %q: scanner %+v (%v), reference %+v (%v)", got[i], mine, err, ref, ok)
			}
		}

		rec, err := runReader(&stepReader{data: data, step: int(step%512) + 1}, formatNDJSON, OllamaGenerate)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		checkRecord(t, rec)
		class, chunks := refNDJSON(data)
		if rec.Class != class || len(rec.TokenTimes) != chunks {
			t.Fatalf("class %s with %d chunks, reference %s with %d", rec.Class, len(rec.TokenTimes), class, chunks)
		}
		if rec.Class == ClassTruncated && (rec.Server != nil || rec.TokensFromServer || rec.DoneReason != "") {
			t.Fatalf("truncated record with server data: %+v", rec)
		}
	})
}

var sseSeeds = []string{
	"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n",
	"data:{\"choices\":[{\"text\":\"a\",\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\r\n\r\ndata: [DONE]",
	": keep-alive\n\nevent: error\ndata: {\"message\":\"x\"}\n\n",
	"data: {\"choices\":\n data: [1]}\n\n",
	"{\"error\":{\"message\":\"bad\"}}\n",
	"data: {\"choices\":[null,{\"delta\":{\"reasoning_content\":\"r\"}}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"completion_tokens\":-1,\"prompt_tokens\":1.5}}\n\n",
	"id: 1\nretry: 10\ndata: [DONE]\n\ndata: not json after done\n\n",
	"data: {\"choices\":[{\"delta\":{\"content\":5}}]}\n\n",
}

func FuzzSSE(f *testing.F) {
	for _, b := range fixtureBodies(f, "openai-chat-stream.http", "openai-completions-stream.http", "openai-chat-nostream.http") {
		f.Add(b, uint16(7))
		f.Add(b, uint16(4096))
	}
	for _, s := range sseSeeds {
		f.Add([]byte(s), uint16(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, step uint16) {
		// Every line, and every line past a "data:" prefix, scans as the reference says.
		for _, l := range refLines(data) {
			payload := bytes.TrimPrefix(bytes.TrimPrefix(l, []byte("data:")), []byte(" "))
			for _, p := range [][]byte{l, payload} {
				mine, err := scanOpenAIChunk(p)
				ref, ok := refScanOpenAI(p)
				if (err == nil) != ok || ok && !sameChunk(mine, ref) {
					t.Fatalf("payload %q: scanner %+v (%v), reference %+v (%v)", p, mine, err, ref, ok)
				}
			}
		}
		rec, err := runReader(&stepReader{data: data, step: int(step%512) + 1}, formatSSE, OpenAIChat)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		checkRecord(t, rec)
		class, chunks := refSSE(data)
		if rec.Class != class || len(rec.TokenTimes) != chunks {
			t.Fatalf("class %s with %d chunks, reference %s with %d", rec.Class, len(rec.TokenTimes), class, chunks)
		}
		if rec.Server != nil {
			t.Fatal("server timings from an OpenAI stream")
		}
	})
}

// TestReaderEdgeCases pins outcomes the fuzzer only checks for consistency.
func TestReaderEdgeCases(t *testing.T) {
	// The object is one level; encoding/json allows maxDepth levels in all.
	deep := strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1)
	tooDeep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	if !json.Valid([]byte(`{"x":`+deep+`}`)) || json.Valid([]byte(`{"x":`+tooDeep+`}`)) {
		t.Fatal("encoding/json's depth limit moved")
	}
	tests := []struct {
		name   string
		format bodyFormat
		api    API
		body   string
		class  Class
		chunks int
		tokens int
		server bool
	}{
		{"thinking counts as text", formatNDJSON, OllamaChat, `{"message":{"role":"assistant","content":"","thinking":"hmm"},"done":false}` + "\n" + `{"thinking":"x","done":false}` + "\n" + `{"done":true,"eval_count":2,"total_duration":1}` + "\n", ClassOK, 2, 2, true},
		{"role-only and empty chunks are not text", formatSSE, OpenAIChat, "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: [DONE]\n\n", ClassOK, 1, 1, false},
		{"reasoning counts as text", formatSSE, OpenAIChat, "data: {\"choices\":[{\"delta\":{\"reasoning\":\"r\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"reasoning_content\":\"r\"}}]}\n\ndata: [DONE]\n\n", ClassOK, 2, 2, false},
		{"no usage: chunk count", formatSSE, OpenAIChat, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\":{\"completion_tokens\":0}}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"y\"}}]}\n\ndata: [DONE]\n\n", ClassOK, 2, 2, false},
		{"done without metrics", formatNDJSON, OllamaGenerate, `{"response":"a","done":false}` + "\n" + `{"done":true,"done_reason":"stop"}`, ClassOK, 1, 1, false},
		{"done with bad metrics", formatNDJSON, OllamaGenerate, `{"done":true,"total_duration":"soon"}`, ClassMalformed, 0, 0, false},
		{"nesting at the limit", formatNDJSON, OllamaGenerate, `{"x":` + deep + `,"done":true}`, ClassOK, 0, 0, false},
		{"nesting past the limit", formatNDJSON, OllamaGenerate, `{"x":` + tooDeep + `,"done":true}`, ClassMalformed, 0, 0, false},
		{"array is not a chunk", formatNDJSON, OllamaGenerate, "[1]\n", ClassMalformed, 0, 0, false},
		{"pretty-printed reply", formatJSON, OllamaGenerate, "{\n  \"response\": \"hi\",\n  \"done\": true,\n  \"eval_count\": 1,\n  \"total_duration\": 9\n}\n", ClassOK, 1, 1, true},
		{"lines after done are ignored", formatNDJSON, OllamaGenerate, `{"done":true}` + "\n" + "garbage\n", ClassOK, 0, 0, false},
		{"data after DONE ignored", formatSSE, OpenAIChat, "data: [DONE]\n\ndata: garbage\n\n", ClassOK, 0, 0, false},
		{"whole OpenAI reply without finish_reason", formatJSON, OpenAIChat, `{"choices":[{"index":0,"message":{"role":"assistant","content":"wa wa"},"finish_reason":null}]}`, ClassTruncated, 1, 1, false},
		{"whole OpenAI reply", formatJSON, OpenAICompletions, `{"choices":[{"text":"x","finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":1}}`, ClassOK, 1, 1, false},
		{"event split over data lines", formatSSE, OpenAIChat, "data: {\"choices\":\ndata: [{\"text\":\"x\"}]}\n\ndata: [DONE]\n", ClassOK, 1, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := runReader(strings.NewReader(tt.body), tt.format, tt.api)
			if err != nil {
				t.Fatal(err)
			}
			checkRecord(t, rec)
			if rec.Class != tt.class || len(rec.TokenTimes) != tt.chunks || rec.OutputTokens != tt.tokens || (rec.Server != nil) != tt.server {
				t.Errorf("class %s, %d chunks, %d tokens, server %+v: %s", rec.Class, len(rec.TokenTimes), rec.OutputTokens, rec.Server, rec.Error)
			}
		})
	}
}

// TestLineReaderTransportError: a partial line before a transport error is never decoded.
func TestLineReaderTransportError(t *testing.T) {
	src := io.MultiReader(strings.NewReader(`{"response":"a","done":false}`+"\n"+`{"resp`), &errReader{io.ErrUnexpectedEOF})
	rec, err := runReader(src, formatNDJSON, OllamaGenerate)
	if err != io.ErrUnexpectedEOF || len(rec.TokenTimes) != 1 || rec.Class == ClassMalformed {
		t.Errorf("err %v, %d chunks, class %s", err, len(rec.TokenTimes), rec.Class)
	}
}

type errReader struct{ err error }

func (r *errReader) Read([]byte) (int, error) { return 0, r.err }

// TestLineReaderNoProgress: a source that returns nothing forever ends with an error.
func TestLineReaderNoProgress(t *testing.T) {
	lr := newLineReader(&errReader{nil}, nil)
	if _, _, err := lr.next(); err != io.ErrNoProgress {
		t.Errorf("err %v", err)
	}
}

// benchStream builds a stream of n content chunks from a fixture's chunks, followed by the
// fixture's tail, as a slice of network reads (one per chunk).
func benchStream(tb testing.TB, file string, sse bool, n int) [][]byte {
	body := loadFixture(tb, file).body
	var units [][]byte
	sep := []byte("\n")
	if sse {
		sep = []byte("\n\n")
	}
	for _, u := range bytes.SplitAfter(body, sep) {
		if len(u) > 0 {
			units = append(units, u)
		}
	}
	var content, tail [][]byte
	for _, u := range units {
		if c, err := scanAny(u, sse); err == nil && c.text {
			content = append(content, u)
		} else {
			tail = append(tail, u)
		}
	}
	reads := make([][]byte, 0, n+len(tail))
	for i := range n {
		reads = append(reads, content[i%len(content)])
	}
	return append(reads, tail...)
}

func scanAny(u []byte, sse bool) (chunkInfo, error) {
	u = bytes.TrimSpace(u)
	if sse {
		return scanOpenAIChunk(bytes.TrimPrefix(u, []byte("data: ")))
	}
	return scanOllamaChunk(u)
}

// segmentReader returns one segment per Read.
type segmentReader struct {
	segs [][]byte
	i    int // current segment
	off  int // bytes of it already read
}

func (r *segmentReader) Read(p []byte) (int, error) {
	if r.i == len(r.segs) {
		return 0, io.EOF
	}
	n := copy(p, r.segs[r.i][r.off:])
	r.off += n
	if r.off == len(r.segs[r.i]) {
		r.i, r.off = r.i+1, 0
	}
	return n, nil
}

// readStream parses one whole response as Client.Do does, TokenTimes reserved up front.
func readStream(reads [][]byte, format bodyFormat, api API, n int) *Record {
	rec := &Record{API: api, Sent: time.Now(), TokenTimes: make([]time.Duration, 0, n+1)}
	lr := newLineReader(&segmentReader{segs: reads}, nil)
	sr := newStreamReader(rec, rec.Sent, format)
	_ = sr.read(lr)
	rec.Class, rec.Error = sr.verdict()
	sr.settleTokens()
	return rec
}

const benchChunks = 1024

func benchReader(b *testing.B, file string, format bodyFormat, api API) {
	reads := benchStream(b, file, format == formatSSE, benchChunks)
	b.ReportAllocs()
	for b.Loop() {
		rec := readStream(reads, format, api, benchChunks)
		if !rec.OK() || len(rec.TokenTimes) != benchChunks {
			b.Fatalf("class %s, %d chunks: %s", rec.Class, len(rec.TokenTimes), rec.Error)
		}
	}
	b.ReportMetric(float64(benchChunks)*float64(b.N)/b.Elapsed().Seconds(), "chunks/s")
}

// BenchmarkNDJSONReader parses Ollama /api/chat streams of 1024 content chunks, one network
// read per chunk; an op is one whole stream.
func BenchmarkNDJSONReader(b *testing.B) {
	benchReader(b, "chat-stream.http", formatNDJSON, OllamaChat)
}

// BenchmarkSSEReader parses OpenAI /v1/chat/completions streams of 1024 content chunks.
func BenchmarkSSEReader(b *testing.B) {
	benchReader(b, "openai-chat-stream.http", formatSSE, OpenAIChat)
}

// TestReaderAllocsPerChunk: the per-chunk path allocates nothing, so a stream's allocations do
// not grow with its length.
func TestReaderAllocsPerChunk(t *testing.T) {
	for _, tt := range []struct {
		file   string
		format bodyFormat
		api    API
	}{
		{"chat-stream.http", formatNDJSON, OllamaChat},
		{"generate-stream.http", formatNDJSON, OllamaGenerate},
		{"openai-chat-stream.http", formatSSE, OpenAIChat},
		{"openai-completions-stream.http", formatSSE, OpenAICompletions},
	} {
		allocs := func(n int) float64 {
			reads := benchStream(t, tt.file, tt.format == formatSSE, n)
			return testing.AllocsPerRun(20, func() { readStream(reads, tt.format, tt.api, n) })
		}
		small, large := allocs(16), allocs(1024)
		if large > small {
			t.Errorf("%s: %v allocs for 16 chunks, %v for 1024", tt.file, small, large)
		}
	}
}

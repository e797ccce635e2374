package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// A stream chunk is decoded by a small hand-written scanner rather than encoding/json: a load
// test reads hundreds of thousands of chunks per second and only needs to know whether a chunk
// carries text, ends the stream or reports an error. The scanner validates the whole line as
// JSON (so garbage is still caught as malformed) and allocates nothing. Rare lines — the final
// Ollama chunk, error lines — go to encoding/json afterwards.

// maxDepth mirrors encoding/json's nesting limit so that both agree on what is valid.
const maxDepth = 10000

// chunkError says where and why a chunk is not the JSON it should be.
type chunkError struct {
	off int
	msg string
}

func (e *chunkError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.off) }

// jsonScan walks one JSON document held in b. After the first failure err is set and every
// method returns false.
type jsonScan struct {
	b     []byte
	i     int
	depth int
	err   string
	off   int
}

func (s *jsonScan) fail(msg string) bool {
	if s.err == "" {
		s.err, s.off = msg, s.i
	}
	return false
}

func (s *jsonScan) error() error {
	if s.err == "" {
		return nil
	}
	return &chunkError{off: s.off, msg: s.err}
}

func (s *jsonScan) ws() {
	i := s.i
	for i < len(s.b) && s.b[i] <= ' ' {
		switch s.b[i] {
		case ' ', '\t', '\n', '\r':
			i++
			continue
		}
		break
	}
	s.i = i
}

func (s *jsonScan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str reads a string and returns its raw (still escaped) contents.
func (s *jsonScan) str() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, s.fail("want a string")
	}
	s.i++
	start := s.i
	// Most strings hold no escape: run to the closing quote in a tight loop first.
	i := s.i
	for i < len(s.b) && plainStringByte[s.b[i]] {
		i++
	}
	s.i = i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw := s.b[start:s.i]
			s.i++
			return raw, true
		case c == '\\':
			s.i++
			if s.i >= len(s.b) {
				return nil, s.fail("unterminated string")
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if s.i+4 >= len(s.b) {
					return nil, s.fail("short \\u escape")
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !isHex(h) {
						return nil, s.fail("bad \\u escape")
					}
				}
				s.i += 5
			default:
				return nil, s.fail("bad escape")
			}
		case c < 0x20:
			return nil, s.fail("control character in string")
		default:
			s.i++
		}
	}
	return nil, s.fail("unterminated string")
}

// plainStringByte is true for the bytes a string may hold as they are: not the quote, not the
// backslash, not a control character.
var plainStringByte = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// num reads a number in JSON's grammar and returns its text.
func (s *jsonScan) num() ([]byte, bool) {
	start := s.i
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		for s.i < len(s.b) && isDigit(s.b[s.i]) {
			s.i++
		}
	default:
		return nil, s.fail("bad number")
	}
	if s.peek() == '.' {
		s.i++
		if !isDigit(s.peek()) {
			return nil, s.fail("bad number")
		}
		for s.i < len(s.b) && isDigit(s.b[s.i]) {
			s.i++
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if !isDigit(s.peek()) {
			return nil, s.fail("bad number")
		}
		for s.i < len(s.b) && isDigit(s.b[s.i]) {
			s.i++
		}
	}
	return s.b[start:s.i], true
}

func (s *jsonScan) lit(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return s.fail("bad literal")
}

// open consumes '{' or '[' and enters one nesting level.
func (s *jsonScan) open() bool {
	s.depth++
	if s.depth > maxDepth {
		return s.fail("nested too deep")
	}
	s.i++
	return true
}

// member moves to the next member of the object being read (n counts members so far) and
// returns its raw key, leaving the scanner at the value. It returns false at the closing brace
// (consumed) or on a syntax error (s.err says which).
func (s *jsonScan) member(n *int) ([]byte, bool) {
	s.ws()
	if *n > 0 {
		switch s.peek() {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			s.depth--
			return nil, false
		default:
			return nil, s.fail("want , or }")
		}
	} else if s.peek() == '}' {
		s.i++
		s.depth--
		return nil, false
	}
	*n++
	key, ok := s.str()
	if !ok {
		return nil, false
	}
	s.ws()
	if s.peek() != ':' {
		return nil, s.fail("want :")
	}
	s.i++
	s.ws()
	return key, true
}

// element moves to the next element of the array being read; false at ']' or on error.
func (s *jsonScan) element(n *int) bool {
	s.ws()
	if *n > 0 {
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			s.depth--
			return false
		default:
			return s.fail("want , or ]")
		}
	} else if s.peek() == ']' {
		s.i++
		s.depth--
		return false
	}
	*n++
	s.ws()
	return true
}

// skip reads over any value, checking its syntax.
func (s *jsonScan) skip() bool {
	switch c := s.peek(); {
	case c == '{':
		if !s.open() {
			return false
		}
		n := 0
		for {
			if _, more := s.member(&n); !more {
				return s.err == ""
			}
			if !s.skip() {
				return false
			}
		}
	case c == '[':
		if !s.open() {
			return false
		}
		n := 0
		for s.element(&n) {
			if !s.skip() {
				return false
			}
		}
		return s.err == ""
	case c == '"':
		_, ok := s.str()
		return ok
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || isDigit(c):
		_, ok := s.num()
		return ok
	case s.i >= len(s.b):
		return s.fail("unexpected end")
	}
	return s.fail("unexpected character")
}

// null consumes a null literal if one is next.
func (s *jsonScan) null() bool {
	if s.peek() == 'n' {
		return s.lit("null")
	}
	return false
}

// text reads a string or null and reports whether it holds at least one character. Any escape
// decodes to at least one byte, so the raw length is enough.
func (s *jsonScan) text() (nonEmpty, ok bool) {
	switch s.peek() {
	case '"':
		raw, ok := s.str()
		return len(raw) > 0, ok
	case 'n':
		return false, s.lit("null")
	}
	return false, s.fail("want a string or null")
}

// rawText reads a string or null and returns the raw string (nil for null).
func (s *jsonScan) rawText() ([]byte, bool) {
	switch s.peek() {
	case '"':
		return s.str()
	case 'n':
		return nil, s.lit("null")
	}
	return nil, s.fail("want a string or null")
}

// boolean reads true, false or null (false).
func (s *jsonScan) boolean() (v, ok bool) {
	switch s.peek() {
	case 't':
		return true, s.lit("true")
	case 'f':
		return false, s.lit("false")
	case 'n':
		return false, s.lit("null")
	}
	return false, s.fail("want a boolean")
}

// count reads a token count. Counts are advisory: anything but a non-negative integer that fits
// an int is ignored (valid=false) rather than failing the chunk.
func (s *jsonScan) count() (n int, valid, ok bool) {
	if c := s.peek(); c == '-' || isDigit(c) {
		raw, ok := s.num()
		if !ok {
			return 0, false, false
		}
		n, valid := parseCount(raw)
		return n, valid, true
	}
	return 0, false, s.skip()
}

func parseCount(raw []byte) (int, bool) {
	neg := len(raw) > 0 && raw[0] == '-'
	if neg {
		raw = raw[1:]
	}
	var v int64
	for _, c := range raw {
		if !isDigit(c) {
			return 0, false
		}
		d := int64(c - '0')
		if v > (math.MaxInt64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	if neg && v != 0 || v > MaxCount {
		return 0, false
	}
	return int(v), true
}

// MaxCount is the most tokens a count in a reply may say (a billion): past it, sums over a run
// would overflow, and no server made them.
const MaxCount = 1 << 30

// end checks that nothing but whitespace follows the top-level value.
func (s *jsonScan) end() bool {
	if s.err != "" {
		return false
	}
	s.ws()
	if s.i != len(s.b) {
		return s.fail("data after the object")
	}
	return true
}

// beginObject checks that the document is an object and enters it.
func (s *jsonScan) beginObject() bool {
	s.ws()
	if s.peek() != '{' {
		return s.fail("not a JSON object")
	}
	return s.open()
}

// key returns a member name as encoding/json would see it. Escapes are rare in keys, so only
// they pay for a decode.
func key(raw []byte) []byte {
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw
	}
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(append(append(quoted, '"'), raw...), '"')
	var k string
	if json.Unmarshal(quoted, &k) != nil {
		return raw
	}
	return []byte(k)
}

// chunkInfo is what the hot path needs from one chunk, whichever protocol sent it.
type chunkInfo struct {
	text    bool // carries generated or thinking text
	done    bool // Ollama: done:true
	errored bool // has a non-null "error" member
	// OpenAI only.
	choices bool   // has a "choices" array
	finish  []byte // raw finish_reason of the last choice that had one; aliases the input
	usage   bool   // has a "usage" object
	prompt  int    // usage.prompt_tokens, when promptOK
	output  int    // usage.completion_tokens, when outputOK
	// promptOK and outputOK say the counts were present and non-negative integers.
	promptOK, outputOK bool
	timings            []byte // llama-server's raw "timings" object; aliases the input
	// impossible names a usage count no real reply has (negative, fractional, or over
	// MaxCount): the reply is malformed.
	impossible string
}

// scanMessage reads a message or delta object (or null) and reports whether it carries text:
// content, or thinking under any of the names servers use for it.
func (s *jsonScan) scanMessage() (text, ok bool) {
	if s.null() {
		return false, true
	}
	if s.peek() != '{' {
		return false, s.fail("want an object or null")
	}
	if !s.open() {
		return false, false
	}
	var content, thinking, reasoningContent, reasoning bool
	n := 0
	for {
		raw, more := s.member(&n)
		if !more {
			break
		}
		var ok bool
		switch string(key(raw)) {
		case "content":
			content, ok = s.text()
		case "thinking":
			thinking, ok = s.text()
		case "reasoning_content":
			reasoningContent, ok = s.text()
		case "reasoning":
			reasoning, ok = s.text()
		default:
			ok = s.skip()
		}
		if !ok {
			return false, false
		}
	}
	if s.err != "" {
		return false, false
	}
	return content || thinking || reasoningContent || reasoning, true
}

// scanOllamaChunk reads one line of an Ollama NDJSON stream (or a whole stream:false reply).
// Wrong types in the members it knows make the chunk malformed; duplicate members behave as
// in encoding/json (the last one wins).
func scanOllamaChunk(b []byte) (chunkInfo, error) { return scanOllamaLine(b, nil) }

// scanOllamaLine is scanOllamaChunk that, given f, also reads the final chunk's members in the
// same pass (see finalScan).
func scanOllamaLine(b []byte, f *finalScan) (chunkInfo, error) {
	s := jsonScan{b: b}
	var c chunkInfo
	if !s.beginObject() {
		return c, s.error()
	}
	var response, thinking, message bool
	n := 0
	for {
		raw, more := s.member(&n)
		if !more {
			break
		}
		var ok bool
		switch string(key(raw)) {
		case "response":
			response, ok = s.text()
		case "thinking":
			thinking, ok = s.text()
		case "message":
			message, ok = s.scanMessage()
		case "done":
			c.done, ok = s.boolean()
		case "error":
			c.errored = !s.null()
			ok = s.err == "" && (!c.errored || s.skip())
		default:
			start := s.i
			if ok = s.skip(); ok && f != nil {
				f.take(key(raw), b[start:s.i])
			}
		}
		if !ok {
			return c, s.error()
		}
	}
	if !s.end() {
		return c, s.error()
	}
	c.text = response || thinking || message
	return c, nil
}

// scanChoice reads one element of "choices" (or null).
func (s *jsonScan) scanChoice() (text bool, finish []byte, ok bool) {
	if s.null() {
		return false, nil, true
	}
	if s.peek() != '{' {
		return false, nil, s.fail("want an object or null")
	}
	if !s.open() {
		return false, nil, false
	}
	var delta, message, plain bool
	n := 0
	for {
		raw, more := s.member(&n)
		if !more {
			break
		}
		var ok bool
		switch string(key(raw)) {
		case "delta":
			delta, ok = s.scanMessage()
		case "message":
			message, ok = s.scanMessage()
		case "text":
			plain, ok = s.text()
		case "finish_reason":
			finish, ok = s.rawText()
		default:
			ok = s.skip()
		}
		if !ok {
			return false, nil, false
		}
	}
	if s.err != "" {
		return false, nil, false
	}
	return delta || message || plain, finish, true
}

// scanUsage reads a usage object (or null) into c.
func (s *jsonScan) scanUsage(c *chunkInfo) bool {
	c.usage, c.promptOK, c.outputOK, c.prompt, c.output = false, false, false, 0, 0
	if s.null() {
		return true
	}
	if s.peek() != '{' {
		return s.fail("want an object or null")
	}
	if !s.open() {
		return false
	}
	c.usage = true
	n := 0
	for {
		raw, more := s.member(&n)
		if !more {
			break
		}
		var ok bool
		numeric := s.peek() == '-' || isDigit(s.peek())
		switch name := string(key(raw)); name {
		case "prompt_tokens":
			c.prompt, c.promptOK, ok = s.count()
			if numeric && !c.promptOK {
				c.impossible = "usage." + name
			}
		case "completion_tokens":
			c.output, c.outputOK, ok = s.count()
			if numeric && !c.outputOK {
				c.impossible = "usage." + name
			}
		default:
			ok = s.skip()
		}
		if !ok {
			return false
		}
	}
	return s.err == ""
}

// scanOpenAIChunk reads one SSE data payload (or a whole non-streamed reply) of the OpenAI
// chat/completions protocols.
func scanOpenAIChunk(b []byte) (chunkInfo, error) {
	s := jsonScan{b: b}
	var c chunkInfo
	if !s.beginObject() {
		return c, s.error()
	}
	n := 0
	for {
		raw, more := s.member(&n)
		if !more {
			break
		}
		ok := true
		switch string(key(raw)) {
		case "choices":
			c.text, c.finish, c.choices = false, nil, false
			if s.null() {
				break
			}
			if s.peek() != '[' {
				ok = s.fail("want an array or null")
				break
			}
			if ok = s.open(); !ok {
				break
			}
			c.choices = true
			m := 0
			for s.element(&m) {
				text, finish, ok := s.scanChoice()
				if !ok {
					return c, s.error()
				}
				c.text = c.text || text
				if finish != nil {
					c.finish = finish
				}
			}
			ok = s.err == ""
		case "usage":
			ok = s.scanUsage(&c)
		case "timings":
			start := s.i
			if ok = s.skip(); ok {
				if raw := bytes.TrimSpace(b[start:s.i]); len(raw) > 0 && raw[0] == '{' {
					c.timings = raw
				}
			}
		case "error":
			c.errored = !s.null()
			ok = s.err == "" && (!c.errored || s.skip())
		default:
			ok = s.skip()
		}
		if !ok {
			return c, s.error()
		}
	}
	if !s.end() {
		return c, s.error()
	}
	return c, nil
}

// streamField finds a top-level boolean "stream" member in a raw request body. found is false
// when the body is not a JSON object or has no such boolean. Its name matches as encoding/json
// (and so Ollama, and bench.Prepare reading a body file) matches it: without regard to case,
// escapes decoded, the last one winning.
func streamField(b []byte) (stream, found bool) {
	s := jsonScan{b: b}
	if !s.beginObject() {
		return false, false
	}
	n := 0
	for {
		raw, more := s.member(&n)
		if !more {
			break
		}
		if bytes.EqualFold(key(raw), []byte("stream")) {
			found = s.peek() == 't' || s.peek() == 'f'
			stream = s.peek() == 't'
		}
		if !s.skip() {
			return false, false
		}
	}
	if !s.end() {
		return false, false
	}
	return stream, found
}

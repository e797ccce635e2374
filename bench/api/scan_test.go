package api

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// chunkGen builds random JSON objects from the member names the scanners know, with values of
// every type, so that the comparison with the reference covers wrong types, nulls, duplicates
// and escaped keys far more often than byte-level fuzzing does.
type chunkGen struct {
	r *rand.Rand
}

var (
	genKeys = []string{"response", "thinking", "message", "done", "error", "content", "reasoning_content",
		"reasoning", "text", "delta", "choices", "finish_reason", "usage", "prompt_tokens",
		"completion_tokens", `respons\u0065`, `cont\u0065nt`, "model", "Response", ""}
	genStrings = []string{`""`, `"x"`, `"\u0041"`, `"\\\""`, `"é"`, `"stop"`, `"\ud800"`, `"a\/b"`}
	genNumbers = []string{"0", "-0", "1", "-1", "1.5", "1e3", "8", "99999999999999999999",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "0.0"}
)

func (g chunkGen) value(depth int) string {
	n := 6
	if depth > 3 {
		n = 4
	}
	switch g.r.IntN(n) {
	case 0:
		return genStrings[g.r.IntN(len(genStrings))]
	case 1:
		return genNumbers[g.r.IntN(len(genNumbers))]
	case 2:
		return []string{"true", "false", "null"}[g.r.IntN(3)]
	case 3:
		return "null"
	case 4:
		elems := make([]string, g.r.IntN(3))
		for i := range elems {
			elems[i] = g.value(depth + 1)
		}
		return "[" + strings.Join(elems, g.space()+","+g.space()) + "]"
	}
	return g.object(depth + 1)
}

func (g chunkGen) space() string { return []string{"", "", "", " ", "\t", "\r\n "}[g.r.IntN(6)] }

func (g chunkGen) object(depth int) string {
	members := make([]string, g.r.IntN(5))
	for i := range members {
		k := genKeys[g.r.IntN(len(genKeys))]
		members[i] = `"` + k + `"` + g.space() + ":" + g.space() + g.typical(k, depth)
	}
	return "{" + g.space() + strings.Join(members, ","+g.space()) + g.space() + "}"
}

// typical usually gives a member the shape servers send, so that deep paths get exercised.
func (g chunkGen) typical(key string, depth int) string {
	if depth > 4 || g.r.IntN(3) == 0 {
		return g.value(depth)
	}
	switch key {
	case "usage", "message", "delta":
		return g.objectOf(depth, "prompt_tokens", "completion_tokens", "content", "thinking", "reasoning", "reasoning_content")
	case "choices":
		elems := make([]string, g.r.IntN(3))
		for i := range elems {
			elems[i] = g.objectOf(depth+1, "delta", "message", "text", "finish_reason", "index")
		}
		return "[" + strings.Join(elems, ",") + "]"
	case "prompt_tokens", "completion_tokens":
		return genNumbers[g.r.IntN(len(genNumbers))]
	case "response", "thinking", "content", "text", "finish_reason", "reasoning", "reasoning_content":
		return genStrings[g.r.IntN(len(genStrings))]
	}
	return g.value(depth)
}

func (g chunkGen) objectOf(depth int, keys ...string) string {
	members := make([]string, g.r.IntN(4))
	for i := range members {
		k := keys[g.r.IntN(len(keys))]
		members[i] = `"` + k + `":` + g.typical(k, depth+1)
	}
	return "{" + strings.Join(members, ",") + "}"
}

// corrupt sometimes damages a document: a cut, a stray byte, trailing data.
func (g chunkGen) corrupt(s string) string {
	if len(s) == 0 || g.r.IntN(4) != 0 {
		return s
	}
	i := g.r.IntN(len(s))
	switch g.r.IntN(4) {
	case 0:
		return s[:i]
	case 1:
		const stray = "{}[],:\"\\ x0-"
		return s[:i] + string(stray[g.r.IntN(len(stray))]) + s[i:]
	case 2:
		return s[:i] + s[i+1:]
	}
	return s + []string{" ", "x", "{}", "\n"}[g.r.IntN(4)]
}

func TestScannerMatchesReference(t *testing.T) {
	g := chunkGen{r: rand.New(rand.NewPCG(1, 2))}
	n := 30000
	if testing.Short() {
		n = 3000
	}
	for range n {
		doc := []byte(g.corrupt(g.object(0)))
		mine, err := scanOllamaChunk(doc)
		ref, ok := refScanOllama(doc)
		if (err == nil) != ok || ok && !sameChunk(mine, ref) {
			t.Fatalf("ollama %s: scanner %+v (%v), reference %+v (%v)", doc, mine, err, ref, ok)
		}
		mine, err = scanOpenAIChunk(doc)
		ref, ok = refScanOpenAI(doc)
		if (err == nil) != ok || ok && !sameChunk(mine, ref) {
			t.Fatalf("openai %s: scanner %+v (%v), reference %+v (%v)", doc, mine, err, ref, ok)
		}
	}
}

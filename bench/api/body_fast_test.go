package api

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestPlainBodyMatchesMarshal checks the hand-written bodies against encoding/json's.
func TestPlainBodyMatchesMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	texts := []string{"", "hi", "count to ten", "a\"b\\c\n\t<&>", "é 日本 \u2028", "bad \xff utf8", "\x00\x1f\x7f"}
	for i := range 2000 {
		r := Request{
			API: APIs[rng.IntN(len(APIs))], Model: texts[rng.IntN(len(texts))], Prompt: texts[rng.IntN(len(texts))],
			MaxTokens: []int{0, 1, 8, 4096, -1, -2}[rng.IntN(6)], Stream: rng.IntN(2) == 0,
		}
		got, ok := r.plainBody()
		want, err := r.marshalBody()
		if !ok || err != nil || !bytes.Equal(got, want) {
			t.Fatalf("request %d %+v:\n got %s (%v)\nwant %s (%v)", i, r, got, ok, want, err)
		}
	}
	if _, ok := (&Request{API: OllamaGenerate, Options: map[string]any{"seed": 1}}).plainBody(); ok {
		t.Error("options taken by the plain path")
	}
}

func TestPlainBodyAllocs(t *testing.T) {
	r := &Request{API: OllamaGenerate, Model: "llama3.2:1b", Prompt: "count to ten", MaxTokens: 8, Stream: true}
	if n := testing.AllocsPerRun(100, func() { _, _ = r.Body() }); n > 1 {
		t.Errorf("%v allocations per body", n)
	}
}

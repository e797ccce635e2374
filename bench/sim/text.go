package sim

import (
	"encoding/json"
	"hash/fnv"
	"unicode"
	"unicode/utf8"
)

// The simulator's "tokenizer" is one token per whitespace-separated word: easy for a user to
// predict (a synthetic prompt of N words is N prompt tokens) and cheap at thousands of streams.

// countTokens counts the words of s without allocating.
func countTokens(s string) int {
	n, in := 0, false
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		if unicode.IsSpace(r) {
			in = false
		} else if !in {
			in = true
			n++
		}
	}
	return n
}

// promptTokenIDs maps each word of s to a stable token id below vocab, for the `context` array.
func promptTokenIDs(s string, vocab int, dst []int) []int {
	start := -1
	flush := func(end int) {
		if start >= 0 {
			h := fnv.New32a()
			h.Write([]byte(s[start:end]))
			dst = append(dst, int(h.Sum32()%uint32(vocab)))
			start = -1
		}
	}
	for i, r := range s {
		if unicode.IsSpace(r) {
			flush(i)
		} else if start < 0 {
			start = i
		}
	}
	flush(len(s))
	return dst
}

// textTable holds each vocabulary word JSON-encoded, with and without a leading space, so
// streaming a token costs no encoding work.
type textTable struct {
	plain, spaced         []string // raw text
	plainJSON, spacedJSON [][]byte // JSON string literals
}

func newTextTable() *textTable {
	// The generated text is a fixed cycle of words. Deterministic output keeps tests and
	// golden files stable, and a cycle never repeats one token ~30 times, the run that makes a
	// real Ollama truncate silently.
	vocabulary := [...]string{
		"the", "quick", "model", "answers", "every", "request", "in", "its", "turn", "while",
		"tokens", "flow", "from", "a", "simulated", "runner", "that", "never", "tires", "and",
		"batches", "grow", "as", "more", "slots", "open", "so", "throughput", "rises", "but",
		"each", "stream", "slows", "down", "a", "little", "queue", "waits", "are", "measured",
		"by", "the", "client", "not", "guessed", "memory", "holds", "weights", "plus", "cache",
		"for", "every", "slot", "llamas", "graze", "on", "high", "plateaus", "under", "clear",
		"skies", "today", "again", "okay",
	}
	t := &textTable{}
	for _, w := range vocabulary {
		t.plain = append(t.plain, w)
		t.spaced = append(t.spaced, " "+w)
		a, _ := json.Marshal(w)
		b, _ := json.Marshal(" " + w)
		t.plainJSON = append(t.plainJSON, a)
		t.spacedJSON = append(t.spacedJSON, b)
	}
	return t
}

// token returns the text of generated token i of a sequence whose words start at offset.
func (t *textTable) token(offset, i int) string {
	k := (offset + i) % len(t.plain)
	if i == 0 {
		return t.plain[k]
	}
	return t.spaced[k]
}

// tokenJSON is token as a JSON string literal.
func (t *textTable) tokenJSON(offset, i int) []byte {
	k := (offset + i) % len(t.plain)
	if i == 0 {
		return t.plainJSON[k]
	}
	return t.spacedJSON[k]
}

// tokenID is a stable id for generated token i, for the `context` array.
func (t *textTable) tokenID(offset, i, vocab int) int {
	return (100 + (offset+i)%len(t.plain)) % vocab
}

package tinyllama

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

const (
	bosID      = 0
	eosID      = 1
	firstByte  = 2 // token id of byte 0x00; byte b is token firstByte+b
	firstMerge = firstByte + 256
	bosText    = "<s>"
	eosText    = "</s>"

	minVocab = firstMerge + 1 // Ollama's converter wants at least one merge
	maxVocab = 16384
)

// vocab is a byte-level BPE vocabulary: BOS, EOS, the 256 byte tokens, then merges of
// lower-case letters with and without a leading space, in a fixed order that does not
// depend on the seed.
type vocab struct {
	tokens []string // byte-level text (GPT-2's byte-to-unicode mapping), indexed by id
	merges []string // "left right", highest priority first; merge i makes token firstMerge+i
}

func newVocab(size int) (*vocab, error) {
	if size < minVocab || size > maxVocab {
		return nil, fmt.Errorf("vocab %d outside [%d, %d]", size, minVocab, maxVocab)
	}
	v := &vocab{tokens: make([]string, 0, size)}
	v.tokens = append(v.tokens, bosText, eosText)
	for b := range 256 {
		v.tokens = append(v.tokens, byteLevel([]byte{byte(b)}))
	}
	space := byteLevel([]byte{' '})
	letters := make([]string, 26)
	for i := range letters {
		letters[i] = string(rune('a' + i))
	}
	add := func(left, right string) bool {
		if len(v.tokens) == size {
			return false
		}
		v.merges = append(v.merges, left+" "+right)
		v.tokens = append(v.tokens, left+right)
		return true
	}
	// Tiers, each complete before the next starts, so every merge's parts exist.
	for _, a := range letters { // " a"
		if !add(space, a) {
			return v, nil
		}
	}
	for _, a := range letters { // "ab"
		for _, b := range letters {
			if !add(a, b) {
				return v, nil
			}
		}
	}
	for _, a := range letters { // " ab"
		for _, b := range letters {
			if !add(space+a, b) {
				return v, nil
			}
		}
	}
	for _, a := range letters { // "abc"
		for _, b := range letters {
			for _, c := range letters {
				if !add(a+b, c) {
					return v, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("vocab %d larger than the merges this generator makes", size)
}

// text returns the bytes a token stands for; special tokens return their literal text.
func (v *vocab) text(id int) string {
	if id < firstByte {
		return v.tokens[id]
	}
	return string(fromByteLevel(v.tokens[id]))
}

// cycleEligible reports whether a token may appear in generated text: printable ASCII with
// at least one non-space byte. That keeps out EOS/BOS, control and whitespace-only tokens
// (Ollama compares trimmed chunks, so two whitespace tokens in a row count as a repeat), and
// bytes ≥ 0x80, which are partial UTF-8 that Ollama holds back.
func (v *vocab) cycleEligible(id int) bool {
	if id < firstByte {
		return false
	}
	t := v.text(id)
	if strings.TrimSpace(t) == "" {
		return false
	}
	for i := range len(t) {
		if t[i] < 0x20 || t[i] > 0x7e {
			return false
		}
	}
	return true
}

// byteLevelTable is GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for
// themselves, the rest are shifted to U+0100 and up, so every byte is a visible rune.
var byteLevelTable = func() [256]rune {
	var t [256]rune
	n := 0
	for b := range 256 {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			t[b] = rune(b)
		} else {
			t[b] = rune(256 + n)
			n++
		}
	}
	return t
}()

func byteLevel(bs []byte) string {
	var sb strings.Builder
	for _, b := range bs {
		sb.WriteRune(byteLevelTable[b])
	}
	return sb.String()
}

func fromByteLevel(s string) []byte {
	var out []byte
	for _, r := range s {
		for b, t := range byteLevelTable {
			if t == r {
				out = append(out, byte(b))
				break
			}
		}
	}
	return out
}

// tokenizerJSON renders a Hugging Face tokenizers file. The vocab object is written in id
// order (encoding/json would sort the keys), so the file reads naturally.
func (v *vocab) tokenizerJSON() ([]byte, error) {
	type addedToken struct {
		ID         int    `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	}
	var vb bytes.Buffer
	vb.WriteByte('{')
	for id, tok := range v.tokens {
		if id > 0 {
			vb.WriteByte(',')
		}
		k, err := marshal(tok, "")
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&vb, "%s:%d", k, id)
	}
	vb.WriteByte('}')
	doc := struct {
		Version       string          `json:"version"`
		Truncation    any             `json:"truncation"`
		Padding       any             `json:"padding"`
		AddedTokens   []addedToken    `json:"added_tokens"`
		Normalizer    any             `json:"normalizer"`
		PreTokenizer  map[string]any  `json:"pre_tokenizer"`
		PostProcessor any             `json:"post_processor"`
		Decoder       map[string]any  `json:"decoder"`
		Model         json.RawMessage `json:"model"`
	}{
		Version: "1.0",
		AddedTokens: []addedToken{
			{ID: bosID, Content: bosText, Special: true},
			{ID: eosID, Content: eosText, Special: true},
		},
		PreTokenizer: map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		Decoder:      map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
	}
	merges, err := marshal(v.merges, "")
	if err != nil {
		return nil, err
	}
	var mb bytes.Buffer
	fmt.Fprintf(&mb, `{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,`+
		`"end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,"ignore_merges":false,`+
		`"vocab":%s,"merges":%s}`, vb.Bytes(), merges)
	doc.Model = mb.Bytes()
	return marshal(doc, "  ")
}

func tokenizerConfigJSON(maxLen int) ([]byte, error) {
	return marshal(map[string]any{
		"add_bos_token":                true,
		"add_eos_token":                false,
		"bos_token":                    bosText,
		"eos_token":                    eosText,
		"clean_up_tokenization_spaces": false,
		"model_max_length":             maxLen,
		"tokenizer_class":              "PreTrainedTokenizerFast",
	}, "  ")
}

// marshal is json.Marshal without HTML escaping ("<s>" stays readable), indented when
// indent is not empty, and without the encoder's trailing newline.
func marshal(v any, indent string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Package tinyllama writes small random-weight Llama models as Hugging Face folders that a
// real Ollama converts with `ollama create`, built so that greedy decoding never loops.
//
// Random weights alone fall into repetition loops under batching, and Ollama silently
// truncates a generation after ~30 identical tokens. Here every token's embedding carries a
// large spike on one hidden dimension, and lm_head maps that dimension to the next token of
// a fixed cycle of printable tokens; the random transformer layers only add a small
// perturbation. So each token leads to a different next token by a wide logit margin, and
// EOS, whitespace-only, control and non-ASCII byte tokens are never produced.
package tinyllama

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Shape is a Llama architecture's size.
type Shape struct {
	Hidden       int     // hidden_size
	Layers       int     // num_hidden_layers
	Heads        int     // num_attention_heads
	KVHeads      int     // num_key_value_heads
	FFN          int     // intermediate_size
	Vocab        int     // vocab_size, special tokens included
	MaxPositions int     // max_position_embeddings
	RopeTheta    float64 // rope_theta
	RMSNormEps   float64 // rms_norm_eps
}

// presets are sized by time per token on a 2-core CPU (Ollama 0.11.4, -march=native build):
// small (3.7M parameters) answers a 32-token request in ~0.1 s, and its ~2.5 ms per token is
// mostly fixed per-step overhead; heavy (191M) takes ~9× as long per token (~25 ms, ~0.8 s
// per 32 tokens), so queueing behind it is unmistakable; ref (115M, ~16 ms per token) is the
// ~120M size of the NUM_PARALLEL 1/2/4 throughput figures measured on a 2-core CPU (86.6 /
// 113 / 166.7 tok/s with a -march=native build of Ollama, 18.8 / 19.4 / 20.0 without SIMD).
var presets = map[string]Shape{
	"small": {Hidden: 256, Layers: 4, Heads: 4, KVHeads: 2, FFN: 768, Vocab: 1024,
		MaxPositions: 4096, RopeTheta: 10000, RMSNormEps: 1e-5},
	"heavy": {Hidden: 1024, Layers: 16, Heads: 16, KVHeads: 8, FFN: 2816, Vocab: 1024,
		MaxPositions: 4096, RopeTheta: 10000, RMSNormEps: 1e-5},
	"ref": {Hidden: 768, Layers: 12, Heads: 12, KVHeads: 12, FFN: 3072, Vocab: 1024,
		MaxPositions: 4096, RopeTheta: 10000, RMSNormEps: 1e-5},
}

// Preset returns a named shape.
func Preset(name string) (Shape, error) {
	s, ok := presets[name]
	if !ok {
		return Shape{}, fmt.Errorf("unknown preset %q (have %v)", name, PresetNames())
	}
	return s, nil
}

// PresetNames lists the preset names, sorted.
func PresetNames() []string {
	return slices.Sorted(maps.Keys(presets))
}

// HeadDim is the per-head width.
func (s Shape) HeadDim() int { return s.Hidden / s.Heads }

// Params counts the weights, lm_head included (it is not tied to the embeddings).
func (s Shape) Params() int64 {
	var n int64
	for _, t := range s.tensors() {
		n += t.Elements()
	}
	return n
}

// Validate reports why a shape cannot be built.
func (s Shape) Validate() error {
	var errs []error
	if s.Hidden < 16 {
		errs = append(errs, fmt.Errorf("hidden size %d < 16", s.Hidden))
	}
	if s.Layers < 1 {
		errs = append(errs, fmt.Errorf("layers %d < 1", s.Layers))
	}
	if s.Heads < 1 || s.KVHeads < 1 {
		errs = append(errs, fmt.Errorf("heads %d, kv heads %d: both must be ≥ 1", s.Heads, s.KVHeads))
	} else {
		if s.Hidden%s.Heads != 0 || s.HeadDim()%2 != 0 {
			errs = append(errs, fmt.Errorf("hidden size %d must split into %d heads of even width", s.Hidden, s.Heads))
		}
		if s.Heads%s.KVHeads != 0 {
			errs = append(errs, fmt.Errorf("heads %d not a multiple of kv heads %d", s.Heads, s.KVHeads))
		}
	}
	if s.FFN < 1 {
		errs = append(errs, fmt.Errorf("intermediate size %d < 1", s.FFN))
	}
	if s.Vocab < minVocab || s.Vocab > maxVocab {
		errs = append(errs, fmt.Errorf("vocab %d outside [%d, %d]", s.Vocab, minVocab, maxVocab))
	}
	if s.MaxPositions < 1 {
		errs = append(errs, fmt.Errorf("max positions %d < 1", s.MaxPositions))
	}
	if s.RopeTheta <= 0 || s.RMSNormEps <= 0 {
		errs = append(errs, errors.New("rope theta and rms norm eps must be > 0"))
	}
	return errors.Join(errs...)
}

// TensorSpec names a tensor and its shape in Hugging Face layout ([out, in] for matrices).
type TensorSpec struct {
	Name  string
	Shape []int
}

// Elements is the product of the dimensions.
func (t TensorSpec) Elements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

// tensors lists the model's tensors in file order.
func (s Shape) tensors() []TensorSpec {
	hd := s.HeadDim()
	ts := []TensorSpec{{"model.embed_tokens.weight", []int{s.Vocab, s.Hidden}}}
	for l := range s.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		ts = append(ts,
			TensorSpec{p + "input_layernorm.weight", []int{s.Hidden}},
			TensorSpec{p + "self_attn.q_proj.weight", []int{s.Heads * hd, s.Hidden}},
			TensorSpec{p + "self_attn.k_proj.weight", []int{s.KVHeads * hd, s.Hidden}},
			TensorSpec{p + "self_attn.v_proj.weight", []int{s.KVHeads * hd, s.Hidden}},
			TensorSpec{p + "self_attn.o_proj.weight", []int{s.Hidden, s.Heads * hd}},
			TensorSpec{p + "post_attention_layernorm.weight", []int{s.Hidden}},
			TensorSpec{p + "mlp.gate_proj.weight", []int{s.FFN, s.Hidden}},
			TensorSpec{p + "mlp.up_proj.weight", []int{s.FFN, s.Hidden}},
			TensorSpec{p + "mlp.down_proj.weight", []int{s.Hidden, s.FFN}},
		)
	}
	ts = append(ts,
		TensorSpec{"model.norm.weight", []int{s.Hidden}},
		TensorSpec{"lm_head.weight", []int{s.Vocab, s.Hidden}},
	)
	return slices.Clip(ts)
}

package tinyllama

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
)

// DType is the element type written to model.safetensors.
type DType string

// Supported element types.
const (
	F16 DType = "F16"
	F32 DType = "F32"
)

func (d DType) size() int {
	if d == F32 {
		return 4
	}
	return 2
}

func (d DType) torchName() string {
	if d == F32 {
		return "float32"
	}
	return "float16"
}

// Target logits of the construction: the designed next token scores about cycleLogit, tokens
// that must never be produced about -blockedLogit, everything else near zero. The gap is
// wide enough that even temperature-1 sampling (the OpenAI endpoints' default) follows the
// cycle.
const (
	cycleLogit   = 32
	blockedLogit = 32
	// layerScale sets each projection's weights to layerScale/sqrt(fan_in) (uniform), so a
	// layer adds roughly layerScale² per residual component against the embedding's ~1.
	layerScale = 0.3
	// embedNoise and headNoise are the random parts on top of the structure.
	embedNoise = 0.05
	headNoise  = 0.02
)

// Model is a generated model: its shape, vocabulary, and the token cycle that greedy
// decoding follows. Tensor values are computed on demand, one deterministic stream per
// tensor, so a large model never sits in memory whole.
type Model struct {
	Shape Shape
	Seed  uint64
	DType DType

	vocab *vocab
	cycle []int       // token ids in cycle order
	pos   map[int]int // token id → index in cycle
	dims  []int       // hidden dimension carrying cycle position k; dimension 0 is the bias channel
	alias []int       // token id → the cycle position its embedding stands for
}

// New builds the model description for a shape and seed.
func New(shape Shape, seed uint64, dtype DType) (*Model, error) {
	if err := shape.Validate(); err != nil {
		return nil, fmt.Errorf("shape: %w", err)
	}
	if dtype != F16 && dtype != F32 {
		return nil, fmt.Errorf("dtype %q: want F16 or F32", dtype)
	}
	v, err := newVocab(shape.Vocab)
	if err != nil {
		return nil, err
	}
	m := &Model{Shape: shape, Seed: seed, DType: dtype, vocab: v}

	var eligible []int
	for id := range v.tokens {
		if v.cycleEligible(id) {
			eligible = append(eligible, id)
		}
	}
	shuffle(m.stream("cycle"), eligible)
	// One orthogonal hidden dimension per cycle token (dimension 0 is the bias channel).
	n := min(len(eligible), shape.Hidden-1)
	m.cycle, err = orderCycle(eligible[:n], func(id int) string { return strings.TrimSpace(v.text(id)) })
	if err != nil {
		return nil, err
	}
	m.pos = make(map[int]int, n)
	for k, id := range m.cycle {
		m.pos[id] = k
	}
	m.dims = make([]int, shape.Hidden-1)
	for i := range m.dims {
		m.dims[i] = i + 1
	}
	shuffle(m.stream("dims"), m.dims)
	m.dims = m.dims[:n]
	// Tokens outside the cycle (prompt-only text, BOS, …) borrow a random cycle position's
	// direction, so their successor is decided by a wide margin too, not by noise that
	// could flip with batch order. The borrowed position's successor must not look equal
	// to the token itself.
	m.alias = make([]int, shape.Vocab)
	r := m.stream("alias")
	for id := range m.alias {
		if k, ok := m.pos[id]; ok {
			m.alias[id] = k
			continue
		}
		k := intN(r, n)
		for strings.TrimSpace(v.text(m.cycle[(k+1)%n])) == strings.TrimSpace(v.text(id)) {
			k = (k + 1) % n
		}
		m.alias[id] = k
	}
	return m, nil
}

// orderCycle arranges ids so that no two neighbours (the last and first included) have the
// same key: Ollama's repeat check compares whitespace-trimmed chunks, so " a" after "a"
// would count as a repeat. It keeps the given order where it can.
func orderCycle(ids []int, key func(int) string) ([]int, error) {
	rest := append([]int(nil), ids...)
	out := make([]int, 0, len(ids))
	var stuck []int
	for len(rest) > 0 {
		i := 0
		if len(out) > 0 {
			prev := key(out[len(out)-1])
			for i < len(rest) && key(rest[i]) == prev {
				i++
			}
		}
		if i == len(rest) { // only equal keys left: place them later
			stuck = append(stuck, rest...)
			break
		}
		out = append(out, rest[i])
		rest = append(rest[:i], rest[i+1:]...)
	}
	for _, id := range stuck {
		placed := false
		for p := range len(out) + 1 {
			before, after := out[(p-1+len(out))%len(out)], out[p%len(out)]
			if key(before) != key(id) && key(after) != key(id) {
				out = append(out[:p], append([]int{id}, out[p:]...)...)
				placed = true
				break
			}
		}
		if !placed {
			return nil, fmt.Errorf("cannot order %d cycle tokens without equal neighbours", len(ids))
		}
	}
	if len(out) < 2 || key(out[0]) == key(out[len(out)-1]) {
		return nil, fmt.Errorf("cannot close a cycle of %d tokens", len(out))
	}
	return out, nil
}

// Cycle returns the token ids in the order greedy decoding visits them.
func (m *Model) Cycle() []int { return append([]int(nil), m.cycle...) }

// Next returns the token the construction makes follow id: the next one in the cycle, or
// for a token outside it, the successor of the cycle position it borrows.
func (m *Model) Next(id int) int {
	return m.cycle[(m.alias[id]+1)%len(m.cycle)]
}

// InCycle reports whether decoding can produce the token.
func (m *Model) InCycle(id int) bool {
	_, ok := m.pos[id]
	return ok
}

// TokenText returns the bytes a token stands for.
func (m *Model) TokenText(id int) string { return m.vocab.text(id) }

// BOS and EOS return the special token ids.
func (m *Model) BOS() int { return bosID }

// EOS returns the end-of-sequence token id, which the construction never produces.
func (m *Model) EOS() int { return eosID }

// Tensors lists the tensors in file order.
func (m *Model) Tensors() []TensorSpec { return m.Shape.tensors() }

// stream returns the deterministic random source for one named purpose.
func (m *Model) stream(name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(m.Seed, h.Sum64()))
}

// shuffle and intN use only the PCG source's raw output (a specified algorithm), not
// rand.Rand's helpers, whose derivation from it may change between Go releases: a seed
// must give the same model bytes with any Go version.
func shuffle(r *rand.Rand, s []int) {
	for i := len(s) - 1; i > 0; i-- {
		j := intN(r, i+1)
		s[i], s[j] = s[j], s[i]
	}
}

func intN(r *rand.Rand, n int) int { return int(r.Uint64() % uint64(n)) }

// uniform draws from the centred uniform distribution with standard deviation sd; it uses
// plain arithmetic on the generator's bits so values are identical on every platform.
func uniform(r *rand.Rand, sd float64) float32 {
	u := float64(r.Uint64()>>11) / (1 << 53) // [0, 1)
	return float32((2*u - 1) * math.Sqrt(3) * sd)
}

// Tensor computes a tensor's values (row-major, Hugging Face layout), already rounded to
// the model's dtype.
func (m *Model) Tensor(spec TensorSpec) []float32 {
	data := make([]float32, spec.Elements())
	m.fill(spec, data)
	if m.DType == F16 {
		for i, x := range data {
			data[i] = f16ToF32(f32ToF16(x))
		}
	}
	return data
}

func (m *Model) fill(spec TensorSpec, data []float32) {
	d := m.Shape.Hidden
	// The embedding has a spike of amp on its token's dimension and a constant amp on the
	// bias dimension: amp² + amp² = d, so the RMS norm of a residual row stays near 1.
	amp := math.Sqrt(float64(d) / 2)
	r := m.stream(spec.Name)
	switch {
	case spec.Name == "model.embed_tokens.weight":
		for id := range m.Shape.Vocab {
			row := data[id*d : (id+1)*d]
			for j := range row {
				row[j] = uniform(r, embedNoise)
			}
			row[m.dims[m.alias[id]]] += float32(amp)
			row[0] = float32(amp)
		}
	case spec.Name == "lm_head.weight":
		alpha := cycleLogit / amp
		beta := blockedLogit / amp
		for id := range m.Shape.Vocab {
			row := data[id*d : (id+1)*d]
			for j := range row {
				row[j] = uniform(r, headNoise*alpha)
			}
			k, inCycle := m.pos[id]
			if !inCycle {
				row[0] = float32(-beta)
				continue
			}
			// This token follows the cycle token before it: score that one's dimension.
			prev := (k - 1 + len(m.cycle)) % len(m.cycle)
			row[0] = 0
			row[m.dims[prev]] += float32(alpha)
		}
	case len(spec.Shape) == 1: // RMS norm weights
		for i := range data {
			data[i] = 1
		}
	default:
		sd := layerScale / math.Sqrt(float64(spec.Shape[1]))
		for i := range data {
			data[i] = uniform(r, sd)
		}
	}
}

// encode appends a tensor's values in the model's dtype, little-endian.
func (m *Model) encode(dst []byte, data []float32) []byte {
	for _, x := range data {
		if m.DType == F32 {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
		} else {
			dst = binary.LittleEndian.AppendUint16(dst, f32ToF16(x))
		}
	}
	return dst
}

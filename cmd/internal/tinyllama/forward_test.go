package tinyllama

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// refModel is a plain-Go Llama forward pass (Hugging Face conventions: rotate-half RoPE,
// grouped-query attention, SwiGLU), used to check what greedy decoding of the generated
// weights does. It mirrors the model, not Ollama's code.
type refModel struct {
	s      Shape
	w      map[string][]float32
	kCache [][][]float32 // layer → position → kv_heads*head_dim
	vCache [][][]float32
}

func newRefModel(m *Model) *refModel {
	r := &refModel{s: m.Shape, w: map[string][]float32{}}
	for _, t := range m.Tensors() {
		r.w[t.Name] = m.Tensor(t)
	}
	r.kCache = make([][][]float32, m.Shape.Layers)
	r.vCache = make([][][]float32, m.Shape.Layers)
	return r
}

func rmsNorm(x, g []float32, eps float64) []float32 {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	inv := 1 / math.Sqrt(ss/float64(len(x))+eps)
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(float64(v)*inv) * g[i]
	}
	return out
}

// matVec computes W·x for W of shape [rows, len(x)].
func matVec(w, x []float32, rows int) []float32 {
	cols := len(x)
	out := make([]float32, rows)
	for r := range rows {
		row := w[r*cols : (r+1)*cols]
		var s float32
		for c, v := range row {
			s += v * x[c]
		}
		out[r] = s
	}
	return out
}

func (r *refModel) rope(v []float32, heads, pos int) {
	hd := r.s.HeadDim()
	half := hd / 2
	for h := range heads {
		x := v[h*hd : (h+1)*hd]
		for i := range half {
			freq := math.Pow(r.s.RopeTheta, -2*float64(i)/float64(hd))
			sin, cos := math.Sincos(float64(pos) * freq)
			a, b := float64(x[i]), float64(x[i+half])
			x[i] = float32(a*cos - b*sin)
			x[i+half] = float32(b*cos + a*sin)
		}
	}
}

// step feeds one token at position pos (positions must come in order) and returns logits.
func (r *refModel) step(tok, pos int) []float32 {
	s := r.s
	d, hd := s.Hidden, s.HeadDim()
	x := append([]float32(nil), r.w["model.embed_tokens.weight"][tok*d:(tok+1)*d]...)
	for l := range s.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		xn := rmsNorm(x, r.w[p+"input_layernorm.weight"], s.RMSNormEps)
		q := matVec(r.w[p+"self_attn.q_proj.weight"], xn, s.Heads*hd)
		k := matVec(r.w[p+"self_attn.k_proj.weight"], xn, s.KVHeads*hd)
		v := matVec(r.w[p+"self_attn.v_proj.weight"], xn, s.KVHeads*hd)
		r.rope(q, s.Heads, pos)
		r.rope(k, s.KVHeads, pos)
		r.kCache[l] = append(r.kCache[l], k)
		r.vCache[l] = append(r.vCache[l], v)
		att := make([]float32, s.Heads*hd)
		group := s.Heads / s.KVHeads
		for h := range s.Heads {
			kvh := h / group
			qh := q[h*hd : (h+1)*hd]
			scores := make([]float64, pos+1)
			maxScore := math.Inf(-1)
			for j := range pos + 1 {
				kj := r.kCache[l][j][kvh*hd : (kvh+1)*hd]
				var dot float64
				for i := range hd {
					dot += float64(qh[i]) * float64(kj[i])
				}
				scores[j] = dot / math.Sqrt(float64(hd))
				maxScore = max(maxScore, scores[j])
			}
			var sum float64
			for j := range scores {
				scores[j] = math.Exp(scores[j] - maxScore)
				sum += scores[j]
			}
			out := att[h*hd : (h+1)*hd]
			for j := range scores {
				vj := r.vCache[l][j][kvh*hd : (kvh+1)*hd]
				for i := range hd {
					out[i] += float32(scores[j] / sum * float64(vj[i]))
				}
			}
		}
		o := matVec(r.w[p+"self_attn.o_proj.weight"], att, d)
		for i := range x {
			x[i] += o[i]
		}
		xn = rmsNorm(x, r.w[p+"post_attention_layernorm.weight"], s.RMSNormEps)
		gate := matVec(r.w[p+"mlp.gate_proj.weight"], xn, s.FFN)
		up := matVec(r.w[p+"mlp.up_proj.weight"], xn, s.FFN)
		for i, g := range gate {
			gate[i] = g / float32(1+math.Exp(-float64(g))) * up[i]
		}
		down := matVec(r.w[p+"mlp.down_proj.weight"], gate, d)
		for i := range x {
			x[i] += down[i]
		}
	}
	h := rmsNorm(x, r.w["model.norm.weight"], s.RMSNormEps)
	return matVec(r.w["lm_head.weight"], h, s.Vocab)
}

// top2 returns the best token and its lead over the runner-up.
func top2(logits []float32) (int, float32) {
	best, second := 0, -1
	for i, v := range logits {
		switch {
		case v > logits[best]:
			best, second = i, best
		case i != best && (second < 0 || v > logits[second]):
			second = i
		}
	}
	return best, logits[best] - logits[second]
}

// TestGreedyDecodingFollowsCycle runs the whole transformer on prompts that end in cycle and
// non-cycle tokens (space, newline, a UTF-8 lead byte) and checks that greedy decoding
// produces only cycle tokens, each the designed successor of the one before, with a wide
// margin, and never two chunks that Ollama's repeat check would call equal.
func TestGreedyDecodingFollowsCycle(t *testing.T) {
	t.Parallel()
	shape, _ := Preset("small")
	m, err := New(shape, 7, F16)
	if err != nil {
		t.Fatal(err)
	}
	steps := 40
	if testing.Short() {
		steps = 12
	}
	for _, prompt := range []string{"hello", "count to ten ", "é\n"} {
		t.Run(fmt.Sprintf("%q", prompt), func(t *testing.T) {
			t.Parallel()
			r := newRefModel(m)
			toks := []int{bosID}
			for _, b := range []byte(prompt) {
				toks = append(toks, firstByte+int(b))
			}
			var logits []float32
			for pos, tok := range toks {
				logits = r.step(tok, pos)
			}
			var gen []int
			for i := range steps {
				tok, margin := top2(logits)
				if !m.InCycle(tok) {
					t.Fatalf("step %d: token %d (%q) is outside the cycle", i, tok, m.TokenText(tok))
				}
				if margin < 5 {
					t.Errorf("step %d: margin %.2f < 5", i, margin)
				}
				if logits[eosID] > -20 {
					t.Errorf("step %d: EOS logit %.1f > -20", i, logits[eosID])
				}
				prev := toks[len(toks)-1]
				if len(gen) > 0 {
					prev = gen[len(gen)-1]
				}
				if want := m.Next(prev); tok != want {
					t.Fatalf("step %d: %d follows %d, want %d", i, tok, prev, want)
				}
				if strings.TrimSpace(m.TokenText(tok)) == strings.TrimSpace(m.TokenText(prev)) {
					t.Fatalf("step %d: %q repeats %q", i, m.TokenText(tok), m.TokenText(prev))
				}
				gen = append(gen, tok)
				logits = r.step(tok, len(toks)+i)
			}
			var text strings.Builder
			for _, tok := range gen {
				text.WriteString(m.TokenText(tok))
			}
			t.Logf("%q → %q", prompt, text.String())
		})
	}
}

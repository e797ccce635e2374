package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Profile describes one simulated model: what /api/tags and /api/show report about it, what it
// costs in GPU memory, and how fast it loads, reads prompts and decodes. Durations are in
// simulated time (divided by Config.Speed on the wall clock). In YAML, durations are strings
// such as "1.5s" or "0s".
type Profile struct {
	// Name is the model name with its tag, as clients send it ("llama3.2:1b"). A name without
	// a tag means ":latest".
	Name string `yaml:"name"`

	// Shape, reported by /api/tags, /api/ps and /api/show.
	Family           string `yaml:"family"`             // architecture, e.g. "llama"
	ParameterSize    string `yaml:"parameter_size"`     // e.g. "1.2B"
	ParameterCount   int64  `yaml:"parameter_count"`    // general.parameter_count
	Quantization     string `yaml:"quantization"`       // e.g. "Q8_0"
	Layers           int    `yaml:"layers"`             // block_count
	Heads            int    `yaml:"heads"`              // attention.head_count
	KVHeads          int    `yaml:"kv_heads"`           // attention.head_count_kv
	EmbeddingLength  int    `yaml:"embedding_length"`   // head_dim = embedding_length / heads
	FeedForward      int    `yaml:"feed_forward"`       // feed_forward_length (reported only)
	VocabSize        int    `yaml:"vocab_size"`         // reported, and the range of token ids
	MaxContextLength int    `yaml:"max_context_length"` // the trained context_length in model_info

	// Memory.
	WeightsMiB        float64 `yaml:"weights_mib"`          // model file size, loaded onto the GPU
	OverheadMiB       float64 `yaml:"overhead_mib"`         // per runner: CUDA context and compute graph
	KVBytesPerElement float64 `yaml:"kv_bytes_per_element"` // 2 for f16, 1 for q8_0, 0.5 for q4_0
	ContextLength     int     `yaml:"context_length"`       // default num_ctx per slot

	// Cost model.
	LoadTime        time.Duration `yaml:"load_time"`        // cold load of the runner
	PrefillRate     float64       `yaml:"prefill_rate"`     // prompt tokens per second; 0 = free
	DecodeStep      time.Duration `yaml:"decode_step"`      // one decode step with one sequence
	BatchAlpha      float64       `yaml:"batch_alpha"`      // step(b) = decode_step × (1 + α(b−1)), 0 ≤ α < 1
	Overhead        time.Duration `yaml:"overhead"`         // per request, slot held, before prompt eval (templating, the hop to the runner)
	EOSProbability  float64       `yaml:"eos_probability"`  // chance per generated token that the model stops ("stop")
	DefaultTokens   int           `yaml:"default_tokens"`   // output length when the request sets no limit
	BusyUtilPct     float64       `yaml:"busy_util_pct"`    // GPU utilization while this runner decodes
	OffloadSlowdown float64       `yaml:"offload_slowdown"` // step cost factor when no layer fits on the GPU (partial offload interpolates)
}

// Presets returns the built-in profiles, fresh each call so callers may change them.
//
// The numbers are plausible for an H100 running Ollama, not measurements: llama3.2:1b and
// codellama:7b have their real shapes (so KV memory per slot is right: 128 MiB and 2 GiB at
// num_ctx 4096), and "instant" has no delays at all, for measuring the client's own overhead.
func Presets() []Profile {
	return []Profile{
		{
			Name: "llama3.2:1b", Family: "llama", ParameterSize: "1.2B", ParameterCount: 1235814432,
			Quantization: "Q8_0", Layers: 16, Heads: 32, KVHeads: 8, EmbeddingLength: 2048,
			FeedForward: 8192, VocabSize: 128256, MaxContextLength: 131072,
			WeightsMiB: 1260, OverheadMiB: 420, KVBytesPerElement: 2, ContextLength: 4096,
			LoadTime: 1200 * time.Millisecond, PrefillRate: 12000, DecodeStep: 4 * time.Millisecond,
			BatchAlpha: 0.3, Overhead: 4 * time.Millisecond, DefaultTokens: 128,
			BusyUtilPct: 85, OffloadSlowdown: 8,
		},
		{
			Name: "codellama:7b", Family: "llama", ParameterSize: "7B", ParameterCount: 6738546688,
			Quantization: "Q4_0", Layers: 32, Heads: 32, KVHeads: 32, EmbeddingLength: 4096,
			FeedForward: 11008, VocabSize: 32016, MaxContextLength: 16384,
			WeightsMiB: 3650, OverheadMiB: 560, KVBytesPerElement: 2, ContextLength: 4096,
			LoadTime: 3 * time.Second, PrefillRate: 4000, DecodeStep: 9 * time.Millisecond,
			BatchAlpha: 0.2, Overhead: 6 * time.Millisecond, DefaultTokens: 128,
			BusyUtilPct: 92, OffloadSlowdown: 8,
		},
		{
			Name: "instant:latest", Family: "llama", ParameterSize: "1M", ParameterCount: 1048576,
			Quantization: "F16", Layers: 1, Heads: 1, KVHeads: 1, EmbeddingLength: 64,
			FeedForward: 128, VocabSize: 4096, MaxContextLength: 4096,
			WeightsMiB: 2, OverheadMiB: 0, KVBytesPerElement: 2, ContextLength: 2048,
			DefaultTokens: 128, BusyUtilPct: 50, OffloadSlowdown: 1,
		},
	}
}

// HeadDim is the size of one attention head (embedding_length / heads).
func (p Profile) HeadDim() int {
	if p.Heads == 0 {
		return 0
	}
	return p.EmbeddingLength / p.Heads
}

// KVBytesPerToken is the KV cache one token of context takes: keys and values for every layer
// and KV head.
func (p Profile) KVBytesPerToken() float64 {
	return float64(p.Layers*p.KVHeads*2*p.HeadDim()) * p.KVBytesPerElement
}

// MiBPerSlot is the GPU memory one extra parallel slot costs at the given context length:
// numCtx × layers × kv_heads × 2 × head_dim × kv_bytes_per_element / 2^20. Ollama allocates
// the KV cache for all NUM_PARALLEL slots at load, so this is the slope of memory against
// NUM_PARALLEL. numCtx ≤ 0 means the profile's ContextLength.
func (p Profile) MiBPerSlot(numCtx int) float64 {
	if numCtx <= 0 {
		numCtx = p.ContextLength
	}
	return float64(numCtx) * p.KVBytesPerToken() / (1 << 20)
}

// RunnerMiB is the memory a runner for this model takes with numParallel slots of numCtx
// tokens: weights + overhead + numParallel × MiBPerSlot(numCtx).
func (p Profile) RunnerMiB(numParallel, numCtx int) float64 {
	return p.WeightsMiB + p.OverheadMiB + float64(numParallel)*p.MiBPerSlot(numCtx)
}

// Validate checks a profile; errors name the offending YAML field.
func (p Profile) Validate() error {
	bad := func(field, why string, v any) error {
		return fmt.Errorf("profile %q: %s: %s (got %v)", p.Name, field, why, v)
	}
	switch {
	case strings.TrimSpace(p.Name) == "":
		return errors.New("profile: name: must not be empty")
	case p.Layers < 1:
		return bad("layers", "must be at least 1", p.Layers)
	case p.Heads < 1:
		return bad("heads", "must be at least 1", p.Heads)
	case p.KVHeads < 1 || p.KVHeads > p.Heads:
		return bad("kv_heads", "must be between 1 and heads", p.KVHeads)
	case p.EmbeddingLength < p.Heads:
		return bad("embedding_length", "must be at least heads", p.EmbeddingLength)
	case p.VocabSize < 2:
		return bad("vocab_size", "must be at least 2", p.VocabSize)
	case p.ContextLength < 1:
		return bad("context_length", "must be at least 1", p.ContextLength)
	case !finiteNonNeg(p.WeightsMiB):
		return bad("weights_mib", "must be a finite number ≥ 0", p.WeightsMiB)
	case !finiteNonNeg(p.OverheadMiB):
		return bad("overhead_mib", "must be a finite number ≥ 0", p.OverheadMiB)
	case !finiteNonNeg(p.KVBytesPerElement) || p.KVBytesPerElement == 0:
		return bad("kv_bytes_per_element", "must be > 0", p.KVBytesPerElement)
	case p.LoadTime < 0:
		return bad("load_time", "must be ≥ 0", p.LoadTime)
	case !finiteNonNeg(p.PrefillRate):
		return bad("prefill_rate", "must be ≥ 0 (0 = free)", p.PrefillRate)
	case p.DecodeStep < 0:
		return bad("decode_step", "must be ≥ 0", p.DecodeStep)
	case !(p.BatchAlpha >= 0 && p.BatchAlpha < 1):
		return bad("batch_alpha", "must be in [0, 1)", p.BatchAlpha)
	case p.Overhead < 0:
		return bad("overhead", "must be ≥ 0", p.Overhead)
	case !(p.EOSProbability >= 0 && p.EOSProbability < 1):
		return bad("eos_probability", "must be in [0, 1)", p.EOSProbability)
	case p.DefaultTokens < 1:
		return bad("default_tokens", "must be at least 1", p.DefaultTokens)
	case !(p.BusyUtilPct >= 0 && p.BusyUtilPct <= 100):
		return bad("busy_util_pct", "must be in [0, 100]", p.BusyUtilPct)
	case !finiteNonNeg(p.OffloadSlowdown) || (p.OffloadSlowdown != 0 && p.OffloadSlowdown < 1):
		return bad("offload_slowdown", "must be 0 or ≥ 1", p.OffloadSlowdown)
	}
	return nil
}

func finiteNonNeg(f float64) bool { return f >= 0 && !math.IsInf(f, 0) }

// profileFile is the YAML document: a list of models, each optionally starting from a preset.
type profileFile struct {
	Models []profileEntry `yaml:"models"`
}

type profileEntry struct {
	// From names a preset (or an earlier entry of the same file) whose values the entry
	// starts from; the entry's own fields override them.
	From    string `yaml:"from"`
	Profile `yaml:",inline"`
}

// LoadProfiles reads profiles from YAML:
//
//	models:
//	  - name: tiny:latest
//	    from: llama3.2:1b      # optional: start from a preset, override below
//	    decode_step: 10ms
//	    batch_alpha: 0.2
//
// An entry without a name tunes the preset it starts from, under the preset's name. An entry
// without `from` must give the model's shape (layers, heads, kv_heads, embedding_length); the
// rest defaults to f16 KV, num_ctx 4096, 128 output tokens, 90 % busy utilization and no delays.
// Durations are strings ("1.5s", "0s"). Unknown fields are errors, so a typo does not silently
// keep a default. testdata/profiles.yaml is an example.
func LoadProfiles(r io.Reader) ([]Profile, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	// First pass: strict, so unknown keys are reported.
	var strict profileFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&strict); err != nil {
		return nil, fmt.Errorf("parse profiles: %w", err)
	}
	// Second pass: decode each entry over the profile it starts from, so unset fields keep
	// the base values.
	var doc struct {
		Models []yaml.Node `yaml:"models"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse profiles: %w", err)
	}
	for i, n := range doc.Models {
		if n.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("profile %d: want a mapping of fields (name, from …), got %q", i+1, n.Value)
		}
	}
	if len(strict.Models) != len(doc.Models) {
		return nil, fmt.Errorf("parse profiles: %d models read of %d", len(strict.Models), len(doc.Models))
	}
	known := map[string]Profile{}
	for _, p := range Presets() {
		known[p.Name] = p
	}
	out := make([]Profile, 0, len(doc.Models))
	seen := map[string]bool{}
	for i := range doc.Models {
		from := normalizeModelName(strict.Models[i].From)
		e := profileEntry{Profile: scratchProfile()}
		if strict.Models[i].From != "" {
			base, ok := known[from]
			if !ok {
				return nil, fmt.Errorf("profile %d: from: unknown profile %q", i+1, strict.Models[i].From)
			}
			e.Profile = base
		}
		if err := doc.Models[i].Decode(&e); err != nil {
			return nil, fmt.Errorf("profile %d: %w", i+1, err)
		}
		p := e.Profile
		p.Name = normalizeModelName(p.Name)
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("profile %d: %w", i+1, err)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("profile %d: name: %q given twice", i+1, p.Name)
		}
		seen[p.Name] = true
		known[p.Name] = p
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("parse profiles: no models")
	}
	return out, nil
}

// scratchProfile holds the values an entry without `from` starts with: everything a model
// needs except its shape (layers, heads, kv_heads, embedding_length), which has no sensible
// default, and no delays.
func scratchProfile() Profile {
	return Profile{
		Family: "llama", ParameterSize: "unknown", Quantization: "F16", VocabSize: 32000,
		KVBytesPerElement: 2, ContextLength: 4096, DefaultTokens: 128, BusyUtilPct: 90,
		OffloadSlowdown: 8,
	}
}

// LoadProfileFile reads profiles from a YAML file (see LoadProfiles).
func LoadProfileFile(path string) ([]Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open profiles: %w", err)
	}
	defer f.Close()
	ps, err := LoadProfiles(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ps, nil
}

// normalizeModelName adds Ollama's default tag, so "instant" and "instant:latest" are one model.
func normalizeModelName(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return ""
	}
	// A tag follows the last colon, unless that colon belongs to a registry host:port
	// (then a slash comes after it).
	if i := strings.LastIndexByte(name, ':'); i < 0 || strings.Contains(name[i:], "/") {
		return name + ":latest"
	}
	return name
}

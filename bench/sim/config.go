package sim

import (
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Version is what /api/version reports: the Ollama version whose behaviour the simulator
// imitates, labelled so that no result is ever mistaken for a real server's.
const Version = "0.17.4-llmload-sim"

// Defaults, as Ollama 0.17 has them.
const (
	DefaultAddr        = "127.0.0.1:11434"
	DefaultNumParallel = 1
	DefaultMaxQueue    = 512
	DefaultMaxLoaded   = 3 // Ollama: 3 × GPUs; the simulator has one GPU
	DefaultKeepAlive   = 5 * time.Minute
)

// Config is everything the simulated server can be told. The zero value is usable: zero
// fields take Ollama's defaults (noted per field). DefaultConfig spells them out.
type Config struct {
	// Addr is where ListenAndServe listens when given no address (OLLAMA_HOST).
	// "" = 127.0.0.1:11434.
	Addr string

	// NumParallel is the number of slots per loaded model (OLLAMA_NUM_PARALLEL). 0 = 1.
	NumParallel int
	// MaxQueue is the capacity of the scheduler's pending queue, which only requests that need
	// a model load enter (OLLAMA_MAX_QUEUE). Full → 503. 0 = 512.
	MaxQueue int
	// MaxLoadedModels is how many models may be resident at once (OLLAMA_MAX_LOADED_MODELS).
	// 0 = 3.
	MaxLoadedModels int
	// KeepAlive is how long an idle model stays loaded (OLLAMA_KEEP_ALIVE), in Ollama's syntax:
	// a Go duration ("5m", "30s") or integer seconds ("300"); negative = forever; "0" = unload
	// as soon as idle. "" = 5m. It is wall time, not divided by Speed. A request's own
	// keep_alive replaces it for that model (it sticks until the next request sets one).
	KeepAlive string
	// ContextLength is the default num_ctx per slot (OLLAMA_CONTEXT_LENGTH). 0 = each
	// profile's own context_length.
	ContextLength int
	// KVCacheType is the KV cache's element type (OLLAMA_KV_CACHE_TYPE): f16, q8_0 or q4_0,
	// two, one and half a byte per element; it sets every model's kv_bytes_per_element. As in
	// Ollama it needs FlashAttention: without it the cache stays f16 (and the log says so).
	// "" = each profile's own.
	KVCacheType string
	// FlashAttention is OLLAMA_FLASH_ATTENTION. The simulator models what it does to memory
	// (it lets KVCacheType apply), not its speed, which depends on the card.
	FlashAttention bool

	// Speed divides every simulated duration (load, prefill, decode, overhead); the reported
	// *_duration fields are measured on the wall clock, so they shrink with it and the server
	// stays consistent with what a client measures. 0 = 1 (real time).
	Speed float64

	// Models are the models the server has "pulled". nil = Presets().
	Models []Profile

	// GPU is the simulated GPU. A zero value = DefaultGPU().
	GPU GPUSpec

	// Faults are injected at random, each with its rate, on generation requests (see
	// FaultRule and ParseFaultRule); the per-request X-Llmload-Fault header adds to them.
	Faults []FaultRule
	// Seed seeds fault draws, output lengths under an EOS probability, and generated text when
	// a request gives no seed.
	Seed int64

	// Log receives the server log (Ollama-like key=value lines). nil = discard.
	Log io.Writer
	// Debug also logs every request (OLLAMA_DEBUG).
	Debug bool
}

// DefaultConfig returns Ollama's defaults, written out.
func DefaultConfig() Config {
	return Config{
		Addr:        DefaultAddr,
		NumParallel: DefaultNumParallel,
		MaxQueue:    DefaultMaxQueue,
		KeepAlive:   DefaultKeepAlive.String(),
		Speed:       1,
		GPU:         DefaultGPU(),
	}
}

// ConfigFromEnv reads the OLLAMA_* variables `ollama serve` reads, over DefaultConfig:
// OLLAMA_NUM_PARALLEL, OLLAMA_MAX_QUEUE, OLLAMA_MAX_LOADED_MODELS, OLLAMA_KEEP_ALIVE,
// OLLAMA_CONTEXT_LENGTH, OLLAMA_KV_CACHE_TYPE, OLLAMA_FLASH_ATTENTION, OLLAMA_HOST and
// OLLAMA_DEBUG. Unset or empty variables keep the
// default; errors name the variable. Pass os.Getenv.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	return DefaultConfig().WithEnv(getenv)
}

// ModelsSetting reports whether the simulator models a server setting of `ollama serve`, by
// its variable: what it does to slots, queues, loaded models, context and KV cache memory.
// OLLAMA_HOST and OLLAMA_DEBUG are read too, but change no figure.
func ModelsSetting(name string) bool {
	switch name {
	case "OLLAMA_NUM_PARALLEL", "OLLAMA_MAX_QUEUE", "OLLAMA_MAX_LOADED_MODELS", "OLLAMA_CONTEXT_LENGTH",
		"OLLAMA_KV_CACHE_TYPE", "OLLAMA_FLASH_ATTENTION", "OLLAMA_KEEP_ALIVE":
		return true
	}
	return false
}

// WithEnv lays the OLLAMA_* variables ModelsSetting names (and OLLAMA_HOST, OLLAMA_DEBUG) over c, as `ollama serve` reads them:
// unset or empty ones leave c as it is; errors name the variable.
func (c Config) WithEnv(getenv func(string) string) (Config, error) {
	cfg := c
	ints := []struct {
		name string
		dst  *int
	}{
		{"OLLAMA_NUM_PARALLEL", &cfg.NumParallel},
		{"OLLAMA_MAX_QUEUE", &cfg.MaxQueue},
		{"OLLAMA_MAX_LOADED_MODELS", &cfg.MaxLoadedModels},
		{"OLLAMA_CONTEXT_LENGTH", &cfg.ContextLength},
	}
	for _, v := range ints {
		s := strings.TrimSpace(getenv(v.name))
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return Config{}, fmt.Errorf("%s: invalid value %q: want an integer ≥ 0", v.name, s)
		}
		if n > 0 || v.name == "OLLAMA_MAX_LOADED_MODELS" {
			*v.dst = n
		}
	}
	if s := strings.TrimSpace(getenv("OLLAMA_KV_CACHE_TYPE")); s != "" {
		if _, ok := KVCacheBytes(s); !ok {
			return Config{}, fmt.Errorf("OLLAMA_KV_CACHE_TYPE: invalid value %q: want f16, q8_0 or q4_0", s)
		}
		cfg.KVCacheType = s
	}
	if s := strings.TrimSpace(getenv("OLLAMA_FLASH_ATTENTION")); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return Config{}, fmt.Errorf("OLLAMA_FLASH_ATTENTION: invalid value %q: want a boolean", s)
		}
		cfg.FlashAttention = b
	}
	if s := strings.TrimSpace(getenv("OLLAMA_KEEP_ALIVE")); s != "" {
		if _, err := ParseKeepAlive(s); err != nil {
			return Config{}, fmt.Errorf("OLLAMA_KEEP_ALIVE: %w", err)
		}
		cfg.KeepAlive = s
	}
	if s := strings.TrimSpace(getenv("OLLAMA_HOST")); s != "" {
		addr, err := ParseHost(s)
		if err != nil {
			return Config{}, fmt.Errorf("OLLAMA_HOST: %w", err)
		}
		cfg.Addr = addr
	}
	if s := strings.TrimSpace(getenv("OLLAMA_DEBUG")); s != "" {
		// Ollama takes any true-ish value and also levels ("1", "2").
		b, err := strconv.ParseBool(s)
		if err != nil {
			n, nerr := strconv.Atoi(s)
			if nerr != nil {
				return Config{}, fmt.Errorf("OLLAMA_DEBUG: invalid value %q: want a boolean or a level", s)
			}
			b = n > 0
		}
		cfg.Debug = b
	}
	return cfg, nil
}

// KVCacheBytes is the size of one KV cache element of a cache type (OLLAMA_KV_CACHE_TYPE):
// f16 2 bytes, q8_0 1, q4_0 0.5; false for a type Ollama does not know.
func KVCacheBytes(cacheType string) (float64, bool) {
	switch strings.ToLower(strings.TrimSpace(cacheType)) {
	case "f16":
		return 2, true
	case "q8_0":
		return 1, true
	case "q4_0":
		return 0.5, true
	}
	return 0, false
}

// ParseKeepAlive reads a keep-alive in Ollama's syntax: a Go duration, or a number of seconds.
// Any negative value means forever and is returned as a negative duration.
func ParseKeepAlive(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		return normalizeKeepAlive(d), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid keep-alive %q: want a duration (\"5m\") or seconds (\"300\")", s)
	}
	return secondsKeepAlive(f), nil
}

func secondsKeepAlive(f float64) time.Duration {
	if f < 0 {
		return -1
	}
	if f > float64(math.MaxInt64/int64(time.Second)) {
		return -1 // beyond any run: forever
	}
	return time.Duration(f * float64(time.Second))
}

func normalizeKeepAlive(d time.Duration) time.Duration {
	if d < 0 {
		return -1
	}
	return d
}

// ParseHost turns an OLLAMA_HOST value ("127.0.0.1:11434", "0.0.0.0", ":8080",
// "http://localhost:11434") into a listen address, filling Ollama's defaults: host 127.0.0.1,
// port 11434.
func ParseHost(s string) (string, error) {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "://"); i >= 0 {
		u, err := url.Parse(s)
		if err != nil {
			return "", fmt.Errorf("invalid host %q: %w", s, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return "", fmt.Errorf("invalid host %q: scheme must be http or https", s)
		}
		s = u.Host
	}
	s = strings.TrimSuffix(s, "/")
	host, port := s, "11434"
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	} else if strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
		host = s // a bare IPv6 address
	}
	if host == "" {
		host = "127.0.0.1"
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("invalid host %q: bad port %q", s, port)
	}
	return net.JoinHostPort(host, port), nil
}

// settings is a validated Config with every default filled in.
type settings struct {
	Config
	keepAlive time.Duration
	profiles  map[string]Profile
	names     []string // sorted, for listings
	faults    []parsedRule
}

func (c Config) settle() (settings, error) {
	s := settings{Config: c}
	fail := func(field string, why string, v any) (settings, error) {
		return settings{}, fmt.Errorf("sim: Config.%s: %s (got %v)", field, why, v)
	}
	if s.Addr == "" {
		s.Addr = DefaultAddr
	}
	if s.NumParallel < 0 {
		return fail("NumParallel", "must be ≥ 0", s.NumParallel)
	}
	if s.NumParallel == 0 {
		s.NumParallel = DefaultNumParallel
	}
	if s.MaxQueue < 0 {
		return fail("MaxQueue", "must be ≥ 0", s.MaxQueue)
	}
	if s.MaxQueue == 0 {
		s.MaxQueue = DefaultMaxQueue
	}
	if s.MaxLoadedModels < 0 {
		return fail("MaxLoadedModels", "must be ≥ 0", s.MaxLoadedModels)
	}
	if s.MaxLoadedModels == 0 {
		s.MaxLoadedModels = DefaultMaxLoaded
	}
	if s.KeepAlive == "" {
		s.keepAlive = DefaultKeepAlive
	} else {
		d, err := ParseKeepAlive(s.KeepAlive)
		if err != nil {
			return settings{}, fmt.Errorf("sim: Config.KeepAlive: %w", err)
		}
		s.keepAlive = d
	}
	if s.ContextLength < 0 {
		return fail("ContextLength", "must be ≥ 0", s.ContextLength)
	}
	if math.IsNaN(s.Speed) || math.IsInf(s.Speed, 0) || s.Speed < 0 {
		return fail("Speed", "must be a finite number > 0", s.Speed)
	}
	if s.Speed == 0 {
		s.Speed = 1
	}
	if s.GPU == (GPUSpec{}) {
		s.GPU = DefaultGPU()
	}
	if err := s.GPU.validate(); err != nil {
		return settings{}, fmt.Errorf("sim: Config.GPU: %w", err)
	}
	// A reading must never pass for a real card's.
	if s.GPU.Name == "" {
		s.GPU.Name = "GPU"
	}
	if !strings.Contains(strings.ToLower(s.GPU.Name), "simulated") {
		s.GPU.Name += " (simulated)"
	}
	models := s.Models
	if models == nil {
		models = Presets()
	}
	if len(models) == 0 {
		return fail("Models", "must not be empty (nil means the presets)", "[]")
	}
	kvBytes := 0.0
	if s.KVCacheType != "" {
		b, ok := KVCacheBytes(s.KVCacheType)
		if !ok {
			return fail("KVCacheType", "want f16, q8_0 or q4_0", s.KVCacheType)
		}
		if s.FlashAttention {
			kvBytes = b
		} else {
			kvBytes = 2 // Ollama: a quantized KV cache needs flash attention
		}
	}
	s.profiles = make(map[string]Profile, len(models))
	for i, p := range models {
		p.Name = normalizeModelName(p.Name)
		if kvBytes > 0 {
			p.KVBytesPerElement = kvBytes
		}
		if err := p.Validate(); err != nil {
			return settings{}, fmt.Errorf("sim: Config.Models[%d]: %w", i, err)
		}
		if _, dup := s.profiles[p.Name]; dup {
			return fail(fmt.Sprintf("Models[%d]", i), "duplicate model name", p.Name)
		}
		s.profiles[p.Name] = p
		s.names = append(s.names, p.Name)
	}
	sort.Strings(s.names)
	for i, r := range s.Faults {
		pr, err := r.parse()
		if err != nil {
			return settings{}, fmt.Errorf("sim: Config.Faults[%d]: %w", i, err)
		}
		s.faults = append(s.faults, pr)
	}
	return s, nil
}

// scale turns a simulated duration into wall time.
func (s *settings) scale(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(float64(d) / s.Speed)
}

// numCtx is the default context length per slot for a profile.
func (s *settings) numCtx(p Profile) int {
	if s.ContextLength > 0 {
		return s.ContextLength
	}
	return p.ContextLength
}

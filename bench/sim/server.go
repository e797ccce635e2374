// Package sim is a simulated LLM server speaking Ollama's native API and the OpenAI-compatible
// one, with Ollama's queueing, a GPU-like batching cost model, time scaling and faults on demand.
package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SimulatedHeader is set on every response, so a client that speaks only the OpenAI API can
// still tell it measured a simulator.
const SimulatedHeader = "X-Llmload-Simulated"

// Server is the simulated LLM server. Create it with New, serve Handler() (or call
// ListenAndServe), and Close it to stop its goroutines.
//
// A generation request goes through Ollama's waits, and its reported durations are measured on
// the wall clock at the same points Ollama measures them:
//
//  1. Handler entry starts total_duration and load_duration.
//  2. Scheduler. A loaded model whose runner options (num_ctx, num_batch, num_gpu, main_gpu,
//     num_thread, use_mmap) match is taken at once. Otherwise the request enters the pending
//     queue (Config.MaxQueue; full → 503), served one request at a time: reload when options
//     changed, evict the idle model unused longest (or wait for a busy one to finish) at
//     MaxLoadedModels or when GPU memory is short, then load (Profile.LoadTime).
//     load_duration ends when the request holds the runner.
//  3. Slot: a FIFO semaphore of NumParallel per runner, unbounded, then Profile.Overhead with
//     the slot held. This wait shows only in total_duration.
//  4. Batch: one goroutine per runner steps all its sequences together. A step with b
//     sequences, k prompt tokens of which are being read, takes
//     decode_step × (1 + α(b−1)) + k / prefill_rate (× the partial-offload slowdown), ÷ Speed,
//     and gives every sequence one token. prompt_eval_duration runs from joining the batch to
//     the end of the step that read the prompt, which also gives the first token (Ollama's
//     runner starts its generation clock once the prompt's batch is decoded); eval_duration
//     from there to the last token.
//  5. The final chunk is built: total_duration ends and the slot is freed. An idle runner
//     unloads when its keep-alive runs out.
type Server struct {
	set     settings
	log     *slog.Logger
	sched   *scheduler
	util    *utilTracker
	text    *textTable
	handler http.Handler
	started time.Time

	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup // scheduler and batch loops

	requests atomic.Int64 // generation requests, also the per-request seed sequence

	rngMu sync.Mutex
	rng   *rand.Rand // fault draws
}

// New validates cfg and starts the server's scheduler. Errors name the offending field.
func New(cfg Config) (*Server, error) {
	set, err := cfg.settle()
	if err != nil {
		return nil, err
	}
	w := cfg.Log
	if w == nil {
		w = io.Discard
	}
	level := slog.LevelInfo
	if cfg.Debug {
		level = slog.LevelDebug
	}
	s := &Server{
		set:     set,
		log:     slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})),
		util:    newUtilTracker(set.GPU, set.Speed),
		text:    newTextTable(),
		started: time.Now(),
		stop:    make(chan struct{}),
		rng:     rand.New(rand.NewPCG(uint64(set.Seed), 0x9e3779b97f4a7c15)),
	}
	s.sched = newScheduler(s)
	s.handler = s.routes()
	s.wg.Add(1)
	go s.sched.run()
	// Like `ollama serve`, say what it runs with: a sweep checks NUM_PARALLEL here and in the
	// load lines.
	s.log.Info("server config (simulated)", "version", Version,
		"OLLAMA_NUM_PARALLEL", set.NumParallel, "OLLAMA_MAX_QUEUE", set.MaxQueue,
		"OLLAMA_MAX_LOADED_MODELS", set.MaxLoadedModels, "OLLAMA_KEEP_ALIVE", set.keepAlive.String(),
		"OLLAMA_CONTEXT_LENGTH", set.ContextLength, "OLLAMA_KV_CACHE_TYPE", set.KVCacheType,
		"OLLAMA_FLASH_ATTENTION", set.FlashAttention, "speed", set.Speed, "models", set.names)
	if set.KVCacheType != "" && !strings.EqualFold(set.KVCacheType, "f16") && !set.FlashAttention {
		s.log.Warn("quantized kv cache requested but flash attention disabled (simulated)", "type", set.KVCacheType)
	}
	return s, nil
}

// Handler serves both APIs.
func (s *Server) Handler() http.Handler { return s.handler }

// Close unloads every model and stops the scheduler and batch loops, waiting for them.
// Requests still in flight end with an error. Close is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.sched.close()
		close(s.stop)
	})
	s.wg.Wait()
}

// Serve serves on ln until ctx ends, then shuts down gracefully: streams in flight get a few
// seconds to finish before connections are closed. It does not Close the Server.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.handler, ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info(fmt.Sprintf("Listening on %s (version %s)", ln.Addr(), Version))
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// ListenAndServe listens on addr ("" = Config.Addr, default 127.0.0.1:11434) and serves until
// ctx ends (see Serve).
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	if addr == "" {
		addr = s.set.Addr
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Preload loads a model with default options, as an empty-prompt request would, and returns
// when it is ready.
func (s *Server) Preload(ctx context.Context, model string) error {
	name := normalizeModelName(model)
	p, ok := s.set.profiles[name]
	if !ok {
		return fmt.Errorf("preload: model '%s' not found", model)
	}
	r, err := s.sched.acquire(ctx, name, p, s.defaultOpts(p), s.set.keepAlive)
	if err != nil {
		return fmt.Errorf("preload %s: %w", model, err)
	}
	s.sched.release(r)
	return nil
}

// Models returns the profiles the server serves, sorted by name.
func (s *Server) Models() []Profile {
	out := make([]Profile, 0, len(s.set.names))
	for _, n := range s.set.names {
		out = append(out, s.set.profiles[n])
	}
	return out
}

// MiBPerSlot is the GPU memory one more parallel slot of model costs at the server's default
// context length (Profile.MiBPerSlot): what a NUM_PARALLEL sweep should recover.
func (s *Server) MiBPerSlot(model string) (float64, error) {
	p, ok := s.set.profiles[normalizeModelName(model)]
	if !ok {
		return 0, fmt.Errorf("model '%s' not found", model)
	}
	return p.MiBPerSlot(s.set.numCtx(p)), nil
}

// GPU reads the simulated GPU: memory is every loaded (or loading) runner's weights, overhead
// and KV cache for NumParallel slots; utilization follows the time the batch loops spend
// stepping, smoothed; power moves between idle and max with it; energy is its integral.
func (s *Server) GPU() GPUState {
	s.sched.mu.Lock()
	used := s.set.GPU.BaseMiB
	for _, r := range s.sched.runners {
		used += r.vramMiB
	}
	s.sched.mu.Unlock()
	u, p, e := s.util.read()
	return GPUState{
		Name:           s.set.GPU.Name,
		MemoryUsedMiB:  used,
		MemoryTotalMiB: s.set.GPU.MemoryTotalMiB,
		UtilizationPct: u,
		PowerW:         p,
		EnergyJ:        e,
	}
}

// Stats is a snapshot of the server's queues and runners, which no real Ollama exposes; it is
// for tests and for the sim command's status output.
type Stats struct {
	Requests int64 // generation requests received
	Pending  int   // requests in the scheduler queue, waiting for a model load
	Loads    int64 // model loads since New (reloads included)
	Unloads  int64
	Models   []ModelStats // loaded and loading models, by name
}

// ModelStats describes one runner.
type ModelStats struct {
	Name        string
	State       string // "loading", "ready" or "draining"
	NumParallel int
	NumCtx      int
	InUse       int // requests holding the runner: waiting for a slot, generating or writing
	SlotWaiting int // requests queued for a slot
	Active      int // sequences in the batch
	SizeMiB     float64
	VRAMMiB     float64
	ExpiresAt   time.Time // zero while in use or kept forever
}

// Stats takes a snapshot.
func (s *Server) Stats() Stats {
	s.sched.mu.Lock()
	st := Stats{
		Requests: s.requests.Load(),
		Pending:  len(s.sched.pending),
		Loads:    s.sched.loads,
		Unloads:  s.sched.unloads,
	}
	for _, r := range s.sched.runners {
		st.Models = append(st.Models, ModelStats{
			Name: r.name, State: r.state.String(), NumParallel: r.numParallel, NumCtx: r.opts.numCtx,
			InUse: r.refs, SlotWaiting: r.slots.waiting(), Active: int(r.active.Load()),
			SizeMiB: r.sizeMiB, VRAMMiB: r.vramMiB, ExpiresAt: r.expiresAt,
		})
	}
	s.sched.mu.Unlock()
	sort.Slice(st.Models, func(i, j int) bool { return st.Models[i].Name < st.Models[j].Name })
	return st
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	root := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", "17")
		if r.Method != http.MethodHead {
			io.WriteString(w, "Ollama is running")
		}
	}
	mux.HandleFunc("GET /{$}", root) // GET patterns also match HEAD
	mux.HandleFunc("GET /api/version", s.handleVersion)
	mux.HandleFunc("GET /api/tags", s.handleTags)
	mux.HandleFunc("GET /api/ps", s.handlePs)
	mux.HandleFunc("POST /api/show", s.handleShow)
	mux.HandleFunc("POST /api/generate", s.handleGenerate)
	mux.HandleFunc("POST /api/chat", s.handleChat)
	mux.HandleFunc("POST /v1/chat/completions", s.handleOpenAIChat)
	mux.HandleFunc("POST /v1/completions", s.handleOpenAICompletions)
	mux.HandleFunc("GET /v1/models", s.handleOpenAIModels)
	mux.HandleFunc("GET /v1/models/{model...}", s.handleOpenAIModel)
	mux.HandleFunc("GET "+GPUPath, s.handleGPU)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(SimulatedHeader, "true")
		if !s.log.Enabled(r.Context(), slog.LevelDebug) {
			mux.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		mux.ServeHTTP(sw, r)
		var status any = sw.status
		switch {
		case sw.hijacked:
			status = "reset"
		case sw.status == 0 && r.Context().Err() != nil:
			status = 499 // the client left before any byte: what Ollama logs
		case sw.status == 0:
			status = http.StatusOK
		}
		s.log.Debug("request", "status", status, "method", r.Method, "path", r.URL.Path,
			"duration", time.Since(start).String(), "remote", r.RemoteAddr)
	})
}

// GPUPath serves the simulated GPU's state as JSON (GPUState), so that a client can sample the
// GPU of a simulator running in another process, as NVML would a real one.
const GPUPath = "/llmload/gpu"

func (s *Server) handleGPU(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(s.GPU())
}

// statusWriter records the status for the debug log. Unwrap keeps http.ResponseController's
// Flush and Hijack working through it.
type statusWriter struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hijacked = true
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijack: %w", err)
	}
	return conn, rw, nil
}

// drawFaults draws the configured random faults for one request.
func (s *Server) drawFaults() faultSet {
	var fs faultSet
	if len(s.set.faults) == 0 {
		return fs
	}
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	for _, r := range s.set.faults {
		if s.rng.Float64() < r.rate {
			fs = fs.merge(r.faults)
		}
	}
	return fs
}

// sleep waits d of wall time unless the request or the server ends first.
func (s *Server) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return errClosed
	}
}

// Package perf measures llmload itself, for `make bench`: how true its timestamps are against a
// server's own, and the helpers the benchmark driver needs (process memory, results files).
package perf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/llmload/llmload/bench"
	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/bench/sim"
)

// TraceHeader carries a request's id from the client to the server's chunk clock.
const TraceHeader = "X-Llmload-Trace"

// ServerTrace is what the server saw of one request: when its handler began, and when each
// chunk that carried text started on its way to the connection.
type ServerTrace struct {
	Start  time.Time   `json:"start"`
	Chunks []time.Time `json:"chunks"`
}

// ChunkClock wraps a streaming handler (the simulator's) and keeps a ServerTrace for every
// request that carries TraceHeader. A chunk's time is taken just before the flush that writes
// it to the connection: the moment the server let it go, which is the server-side truth a
// client's arrival time is compared with.
type ChunkClock struct {
	next http.Handler
	// isText tells a written chunk that carries text from the others (the final one).
	isText func([]byte) bool

	mu     sync.Mutex
	traces map[string]*ServerTrace
}

// NewChunkClock wraps next.
func NewChunkClock(next http.Handler, isText func([]byte) bool) *ChunkClock {
	return &ChunkClock{next: next, isText: isText, traces: map[string]*ServerTrace{}}
}

// Trace returns the trace of request id, or nil.
func (c *ChunkClock) Trace(id string) *ServerTrace {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.traces[id]
}

func (c *ChunkClock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(TraceHeader)
	if id == "" {
		c.next.ServeHTTP(w, r)
		return
	}
	tr := &ServerTrace{Start: time.Now()}
	c.mu.Lock()
	c.traces[id] = tr
	c.mu.Unlock()
	c.next.ServeHTTP(&clockWriter{ResponseWriter: w, trace: tr, isText: c.isText}, r)
}

// clockWriter counts the text chunks written since the last flush and stamps them at the next.
type clockWriter struct {
	http.ResponseWriter
	trace   *ServerTrace
	isText  func([]byte) bool
	pending int
}

func (w *clockWriter) Write(b []byte) (int, error) {
	if w.isText(b) {
		w.pending++
	}
	return w.ResponseWriter.Write(b)
}

// FlushError is what http.ResponseController calls.
func (w *clockWriter) FlushError() error {
	now := time.Now()
	for ; w.pending > 0; w.pending-- {
		w.trace.Chunks = append(w.trace.Chunks, now)
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *clockWriter) Flush() { _ = w.FlushError() }

func (w *clockWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TimingConfig is one timing-accuracy measurement.
type TimingConfig struct {
	Streams   int           // concurrent streams (closed loop)
	Rounds    int           // requests per stream; the first round is warm-up (new connections)
	Tokens    int           // tokens per reply
	TokenTime time.Duration // the simulator's decode step: the known per-token delay
}

// TimingResult compares the client's TTFT and ITL with the server's. Errors are client minus
// server, in milliseconds, over every measured request (TTFT) and every gap (ITL).
type TimingResult struct {
	Requests, Gaps int
	TTFTErr        ErrorSummary
	ITLErr         ErrorSummary
	// ClientITLP50Ms is the client's median ITL, to show the known delay came through.
	ClientITLP50Ms float64
	// Send is the client's delay from its send time to the request's write; Recv from the
	// server's flush of a chunk to the client's stamp of its arrival.
	Send, Recv ErrorSummary
}

// ErrorSummary describes a distribution of timing errors (client − server), in milliseconds.
type ErrorSummary struct {
	Mean, P50, P99, AbsP99, Max float64
}

func summarizeErrors(d []time.Duration) ErrorSummary {
	if len(d) == 0 {
		return ErrorSummary{}
	}
	ms := func(x time.Duration) float64 { return float64(x) / 1e6 }
	var sum time.Duration
	abs := make([]time.Duration, len(d))
	for i, x := range d {
		sum += x
		abs[i] = max(x, -x)
	}
	slices.Sort(d)
	slices.Sort(abs)
	q := func(s []time.Duration, p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return ErrorSummary{
		Mean: ms(sum / time.Duration(len(d))), P50: ms(q(d, 0.5)), P99: ms(q(d, 0.99)),
		AbsP99: ms(q(abs, 0.99)), Max: ms(abs[len(abs)-1]),
	}
}

// TracesPath is where a timing server serves its ChunkClock's traces, as JSON by request id.
const TracesPath = "/llmload/traces"

// timingProfile is the simulated model of a timing run: no cost but a fixed decode step.
func timingProfile(cfg TimingConfig) sim.Profile {
	return sim.Profile{
		Name: "timing:latest", Family: "llama", ParameterSize: "1M", ParameterCount: 1 << 20,
		Quantization: "F16", Layers: 1, Heads: 1, KVHeads: 1, EmbeddingLength: 64, FeedForward: 128,
		VocabSize: 4096, MaxContextLength: 4096, WeightsMiB: 2, KVBytesPerElement: 2, ContextLength: 2048,
		DecodeStep: cfg.TokenTime, DefaultTokens: cfg.Tokens, BusyUtilPct: 50, OffloadSlowdown: 1,
	}
}

// ServeTiming serves the simulator of a timing run behind a ChunkClock on ln until ctx ends.
// It runs every stream in one batch (NUM_PARALLEL = Streams) with a fixed decode step, so that
// every stream gets a token every TokenTime, all at once: the hardest case for a client, which
// must read Streams chunks in a burst and stamp each as it comes.
func ServeTiming(ctx context.Context, ln net.Listener, cfg TimingConfig) error {
	profile := timingProfile(cfg)
	srv, err := sim.New(sim.Config{NumParallel: cfg.Streams, Models: []sim.Profile{profile}, KeepAlive: "-1"})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Preload(ctx, profile.Name); err != nil {
		return err
	}
	clock := NewChunkClock(srv.Handler(), func(b []byte) bool {
		return !bytes.Contains(b, []byte(`"done":true`))
	})
	mux := http.NewServeMux()
	mux.Handle("/", clock)
	mux.HandleFunc("GET "+TracesPath, func(w http.ResponseWriter, r *http.Request) {
		clock.mu.Lock()
		defer clock.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(clock.traces)
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: time.Minute}
	stop := context.AfterFunc(ctx, func() { hs.Close() })
	defer stop()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// MeasureTiming runs cfg.Streams concurrent Ollama streams through llmload's runner and client
// against a timing server (ServeTiming) at baseURL, then compares what the client measured
// with what the server's ChunkClock saw. The server should run in another process, as a real
// one does: in this one, Go's scheduler would run the server's goroutines woken by a batch
// step before it polls for the client's readable connections, and the client's stamps would
// measure that queue. Both processes read the same system clock.
//
//   - TTFT: the client's (send → first text chunk arrived) against what a wire observer would
//     see (the request handed to the kernel → the first text chunk flushed by the server). The
//     difference is what the client adds on both ends: its work before the write, and the
//     delay before it reads and stamps the chunk.
//   - ITL: each gap between the client's arrivals against the gap between the server's flushes.
func MeasureTiming(ctx context.Context, cfg TimingConfig, baseURL string) (*TimingResult, error) {
	doer := &tracingDoer{
		base:    baseURL,
		recs:    map[string]*api.Record{},
		written: map[string]time.Time{},
	}
	tr := api.NewTransport(cfg.Streams)
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &writeClock{Conn: c, doer: doer}, nil
	}
	doer.transport = tr
	plan := &results.Plan{
		Stages: []results.Stage{{Concurrency: cfg.Streams, Requests: cfg.Streams * cfg.Rounds}},
		Mix:    []*results.Template{{Model: timingProfile(cfg).Name, Prompt: "tell me a story", MaxTokens: cfg.Tokens, Stream: true}},
	}
	work, err := bench.Prepare(plan, "")
	if err != nil {
		return nil, err
	}
	run, err := bench.RunPlan(ctx, work, doer, bench.Options{})
	if err != nil {
		return nil, err
	}
	if st := run.Stages[0]; st.Requests.OK != st.Requests.Total {
		return nil, fmt.Errorf("timing run: %d of %d requests failed: %v", st.Requests.Total-st.Requests.OK, st.Requests.Total, st.Requests.ErrorSamples)
	}
	traces, err := fetchTraces(ctx, baseURL)
	if err != nil {
		return nil, err
	}

	res := &TimingResult{}
	var ttft, itl, clientITL, recv, send []time.Duration
	for id, rec := range doer.recs {
		if rec.Seq < cfg.Streams {
			continue // the first round dials its connections
		}
		tr := traces[id]
		if tr == nil || len(tr.Chunks) != len(rec.TokenTimes) || len(tr.Chunks) == 0 {
			return nil, fmt.Errorf("request %s: server saw %v, client %d chunks", id, tr, len(rec.TokenTimes))
		}
		written, ok := doer.written[id]
		if !ok {
			return nil, fmt.Errorf("request %s: no write seen", id)
		}
		res.Requests++
		// Client: send → first text arrived. Truth: request on the wire → first text chunk
		// let go by the server. The difference is the client's own delay on both ends.
		ttft = append(ttft, rec.FirstToken-tr.Chunks[0].Sub(written))
		send = append(send, written.Sub(rec.Sent))
		for i := range tr.Chunks {
			recv = append(recv, rec.Sent.Add(rec.TokenTimes[i]).Sub(tr.Chunks[i]))
			if i > 0 {
				c := rec.TokenTimes[i] - rec.TokenTimes[i-1]
				itl = append(itl, c-tr.Chunks[i].Sub(tr.Chunks[i-1]))
				clientITL = append(clientITL, c)
			}
		}
	}
	res.Gaps = len(itl)
	res.TTFTErr, res.ITLErr = summarizeErrors(ttft), summarizeErrors(itl)
	res.Send, res.Recv = summarizeErrors(send), summarizeErrors(recv)
	if len(clientITL) > 0 {
		slices.Sort(clientITL)
		res.ClientITLP50Ms = float64(clientITL[len(clientITL)/2]) / 1e6
	}
	return res, nil
}

func fetchTraces(ctx context.Context, baseURL string) (map[string]*ServerTrace, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+TracesPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("traces: %w", err)
	}
	defer resp.Body.Close()
	var traces map[string]*ServerTrace
	if err := json.NewDecoder(resp.Body).Decode(&traces); err != nil {
		return nil, fmt.Errorf("traces: %w", err)
	}
	return traces, nil
}

// tracingDoer gives every request an id in TraceHeader, so that its record and the server's
// trace can be paired. It shares one transport, as the real client does.
type tracingDoer struct {
	base      string
	transport *api.Transport

	mu      sync.Mutex
	n       int
	recs    map[string]*api.Record
	written map[string]time.Time // when each request's write to the connection returned
}

// writeClock is a client connection that notes when each request (found by its trace header)
// was handed to the kernel: on loopback, the moment the server could have it.
type writeClock struct {
	net.Conn
	doer *tracingDoer
}

// SyscallConn lets the client reach the socket beneath, as it would without the wrapper (for
// its kernel receive timestamps).
func (c *writeClock) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("not a socket")
	}
	return sc.SyscallConn()
}

func (c *writeClock) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	now := time.Now()
	if _, rest, ok := bytes.Cut(b, []byte(TraceHeader+": ")); ok {
		if id, _, ok := bytes.Cut(rest, []byte("\r\n")); ok {
			c.doer.mu.Lock()
			c.doer.written[string(id)] = now
			c.doer.mu.Unlock()
		}
	}
	return n, err
}

func (d *tracingDoer) Do(ctx context.Context, req *api.Request) *api.Record {
	d.mu.Lock()
	d.n++
	id := strconv.Itoa(d.n)
	d.mu.Unlock()
	c := api.New(api.Config{BaseURL: d.base, Transport: d.transport, Header: http.Header{TraceHeader: {id}}, TotalTimeout: time.Minute})
	rec := c.Do(ctx, req)
	d.mu.Lock()
	d.recs[id] = rec
	d.mu.Unlock()
	return rec
}

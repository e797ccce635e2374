package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/hostload"
	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/gpu"
)

// ErrInterrupted ends a session (or a sweep) whose context ended: the results hold what was
// measured until then.
var ErrInterrupted = errors.New("interrupted: results hold what was measured")

// ErrorRateError is the verdict on a session whose requests failed more often than allowed,
// or that measured none.
type ErrorRateError struct {
	Failed, Total int
	Max           float64 // the fraction allowed
}

func (e *ErrorRateError) Error() string {
	if e.Total == 0 {
		return "no request completed"
	}
	return fmt.Sprintf("%d of %d requests failed (%.1f%% > the %.1f%% allowed)", e.Failed, e.Total, 100*e.Rate(), 100*e.Max)
}

// Rate is the fraction of requests that failed.
func (e *ErrorRateError) Rate() float64 {
	if e.Total == 0 {
		return 1
	}
	return float64(e.Failed) / float64(e.Total)
}

// JudgeErrorRate is the one verdict on failed requests: it returns an *ErrorRateError when the
// runs measured no request, or when more than max (a fraction) of their requests failed.
// Warm-up requests do not count.
func JudgeErrorRate(runs []*results.Run, max float64) error {
	e := &ErrorRateError{Max: max}
	for _, run := range runs {
		for _, st := range run.Stages {
			e.Total += st.Requests.Total
			e.Failed += st.Requests.Total - st.Requests.OK
		}
	}
	if e.Total == 0 || e.Rate() > max {
		return e
	}
	return nil
}

// ConfigError is a setting of a session that cannot work, named as SessionConfig names it
// (Records, GPU, URL …), so that the caller can say it in its own terms.
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// ResultsFile is a results file that grows by one run at a time and is written whole,
// atomically, after each: an interrupt or a crash later loses nothing already measured.
type ResultsFile struct {
	// Path is where the file is written: the path it was made with, or the temporary file
	// that took the results when that path could not (see WriteError).
	Path  string
	file  results.File
	saved bool
}

// NewResultsFile starts a results file at path, written by tool.
func NewResultsFile(path string, tool results.Tool) *ResultsFile {
	return &ResultsFile{Path: path, file: results.File{Schema: results.Schema, Tool: tool}}
}

// WriteError is a results file that could not be written where it was asked (a full disk, a
// folder gone or made read-only during the run). Saved is the temporary file that took the
// results instead; empty when that failed too.
type WriteError struct {
	Path, Saved string
	Err         error
}

func (e *WriteError) Error() string {
	if e.Saved == "" {
		return fmt.Sprintf("cannot write the results to %s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("cannot write the results to %s (%v): saved them to %s instead", e.Path, e.Err, e.Saved)
}

func (e *WriteError) Unwrap() error { return e.Err }

// Add appends a run and writes the file. When its path cannot take it, the file goes to a
// temporary file (which later runs are added to) and Add returns a *WriteError that names
// both: a measured run is never lost to a bad output path.
func (f *ResultsFile) Add(run *results.Run) error {
	f.file.Runs = append(f.file.Runs, run)
	err := f.file.Write(f.Path)
	if err == nil {
		f.saved = true
		return nil
	}
	if inner := errors.Unwrap(err); inner != nil {
		err = inner // "write results: " says nothing the error's own words do not
	}
	werr := &WriteError{Path: f.Path, Err: err}
	tmp, terr := os.CreateTemp("", "llmload-results-*.json")
	if terr != nil {
		f.saved = false
		return werr
	}
	tmp.Close()
	if f.file.Write(tmp.Name()) != nil {
		os.Remove(tmp.Name())
		f.saved = false
		return werr
	}
	werr.Saved, f.Path, f.saved = tmp.Name(), tmp.Name(), true
	return werr
}

// Saved says whether the runs added so far are all in the file at Path.
func (f *ResultsFile) Saved() bool { return f.saved }

// Write writes the file again, with the runs as they are now (a sweep adds to their noise
// once it has seen them all).
func (f *ResultsFile) Write() error {
	err := f.file.Write(f.Path)
	f.saved = err == nil
	return err
}

// Runs are the runs written so far.
func (f *ResultsFile) Runs() []*results.Run { return f.file.Runs }

// SetCapacity puts a capacity search's answer in the file and writes it.
func (f *ResultsFile) SetCapacity(c *results.Capacity) error {
	f.file.Capacity = c
	return f.file.Write(f.Path)
}

// File is the results file as written so far.
func (f *ResultsFile) File() *results.File { return &f.file }

// GPUConfig is how a session samples the GPU while each run goes.
type GPUConfig struct {
	// Mode is auto, off, nvml or sim; empty means off. Auto samples the simulator's GPU when
	// Sim is set (or the target turns out to be `llmload sim`), else NVML when a driver is
	// present.
	Mode     string
	Interval time.Duration // default 250 ms
	Indices  []int         // the devices to sample; all when empty
	// PID is the server's process: its GPU memory is told apart, and so is the other
	// processes' use of the GPU. When zero, the session uses the process it finds listening
	// on a loopback target's port.
	PID int
	// Sim reads the simulator's GPU when the target is one.
	Sim func() gpu.SimReading
}

// SessionHooks tell a display what a session is doing; any may be nil. They are called from
// the goroutine that runs the session.
type SessionHooks struct {
	// Notice is something the user should know (why GPU sampling is off …), said once.
	Notice func(string)
	// RunStarting is called as each run starts, with its number (1…Repeat) and the counters a
	// progress display reads.
	RunStarting func(repeat int, live *Live)
	// Stage is called as each stage of a run starts.
	Stage func(index int, st results.Stage)
	// RunEnded is called after each run, once it is written; run is nil when the run could
	// not start. An error ends the session.
	RunEnded func(run *results.Run) error
}

// SessionConfig is one load test of one server: what to send and where, how often, and where
// the results go.
type SessionConfig struct {
	// URL is the server's base URL. Credentials in it are used but never written anywhere.
	URL string
	// Header is sent with every request (API keys); it is never written to results or records.
	// Its values and the URL's credentials are redacted from whatever the server sends back
	// before a run is written or handed to a hook.
	Header http.Header
	// Workload is the prepared plan each run sends. Its timeouts are the client's.
	Workload *Workload
	// Repeat runs the whole plan this many times, each a run of its own, numbered in
	// Run.Repeat when more than one (default 1).
	Repeat int
	// Labels are put on every run (num_parallel=4 …).
	Labels map[string]string
	// Output, when set, is the results file every run is added to as soon as it ends.
	Output *ResultsFile
	// Records, when set, is the file that gets one JSON line per measured request.
	Records string
	// MaxErrorRate is the fraction of failed requests above which Run fails (see
	// JudgeErrorRate).
	MaxErrorRate float64
	GPU          GPUConfig
	// Simulated says the server is llmload's simulator (also found out by asking it);
	// InProcess that it runs in this process, so this process's CPU is not the client's alone.
	Simulated, InProcess bool
	// Notes are caveats every run carries (the simulator's about this machine's timers …).
	Notes []string
	// Grace and HardStop are as in Options: what requests in flight may do after an interrupt.
	Grace    time.Duration
	HardStop context.Context
	// Host is the machine that measures; ThisHost when empty.
	Host results.Host
	// Describe, when set, adds to each run what only the caller knows (the server it started)
	// before the run is written.
	Describe func(run *results.Run)
	Hooks    SessionHooks
	// DiscoveryTimeout bounds each question to the server about itself (default 3 s).
	DiscoveryTimeout time.Duration
	// Goodput, when set, is the per-request objective each stage counts good requests by.
	Goodput *GoodputSLO
	// MaxLine bounds a reply's line, SSE event or document (api.Config.MaxLine).
	MaxLine int
	// Proc is the /proc file system the machine's other work is read from (see hostload);
	// nil reads this machine's. Tests give a fake one to make a machine busy or quiet.
	Proc fs.FS
	// ControlProbe is how many requests each run sends one at a time before its stages to
	// measure its control, when the plan has no closed-loop stage at concurrency 1 (see
	// Options.ControlProbe); 0 sends none.
	ControlProbe int
	// ServerPID is the server's process, when the caller started it: its CPU time (and its
	// children's) is not counted as the machine's other work. When zero, the session looks for
	// the process listening on a loopback URL's port.
	ServerPID int
	// NoMachine measures none of the machine's other work (a test whose neighbours on the
	// machine are other tests).
	NoMachine bool
}

// Session is one load test of one server: one client, built once, and what the server said
// about itself. NewSession makes it; Run measures.
type Session struct {
	cfg       SessionConfig
	client    *api.Client
	id        api.Identity
	simulated bool
	machine   *hostload.Meter // nil where there is no /proc
	// writeErr is the *WriteError of a results file saved elsewhere than asked.
	writeErr error
}

// RunSession runs a whole session: NewSession, then Run.
func RunSession(ctx context.Context, cfg SessionConfig) ([]*results.Run, error) {
	s, err := NewSession(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Run(ctx)
}

// NewSession checks the config, builds the client (sized for the plan's concurrency and
// timed by its timeouts) and asks the server what it is. A server that answers nothing is
// not an error: requests to it will say what is wrong.
func NewSession(ctx context.Context, cfg SessionConfig) (*Session, error) {
	w := cfg.Workload
	if w == nil || w.Plan == nil || len(w.sources) != len(w.Plan.Mix) || len(w.Plan.Mix) == 0 {
		return nil, &ConfigError{Field: "Workload", Err: errors.New("not prepared: call Prepare first")}
	}
	if err := checkURL(cfg.URL); err != nil {
		return nil, &ConfigError{Field: "URL", Err: err}
	}
	if cfg.ControlProbe < 0 {
		return nil, &ConfigError{Field: "ControlProbe", Err: fmt.Errorf("must not be negative, got %d", cfg.ControlProbe)}
	}
	switch {
	case cfg.Repeat < 0:
		return nil, &ConfigError{Field: "Repeat", Err: fmt.Errorf("must be at least 1, got %d", cfg.Repeat)}
	case cfg.Repeat == 0:
		cfg.Repeat = 1
	}
	if cfg.MaxErrorRate < 0 || cfg.MaxErrorRate > 1 {
		return nil, &ConfigError{Field: "MaxErrorRate", Err: fmt.Errorf("must be between 0 and 1, got %v", cfg.MaxErrorRate)}
	}
	if cfg.GPU.Mode == "" {
		cfg.GPU.Mode = gpu.ModeOff
	}
	if cfg.GPU.Interval <= 0 {
		cfg.GPU.Interval = 250 * time.Millisecond
	}
	if cfg.DiscoveryTimeout <= 0 {
		cfg.DiscoveryTimeout = 3 * time.Second
	}
	if cfg.Host == (results.Host{}) {
		cfg.Host = ThisHost()
	}
	plan := w.Plan
	s := &Session{cfg: cfg, simulated: cfg.Simulated}
	s.client = api.New(api.Config{
		BaseURL:          cfg.URL,
		Header:           cfg.Header,
		MaxConns:         maxConns(plan),
		TotalTimeout:     time.Duration(plan.Timeout),
		FirstByteTimeout: time.Duration(plan.FirstByteTimeout),
		StallTimeout:     time.Duration(plan.StallTimeout),
		MaxLine:          cfg.MaxLine,
	})
	var server int
	if !cfg.NoMachine {
		s.machine, server = machineMeter(cfg.Proc, cfg.URL, cfg.ServerPID)
	}
	if s.cfg.GPU.PID == 0 && cfg.Proc == nil {
		// The server found listening on this machine: its GPU memory, and the others' use of
		// the GPU, are told apart as for a server llmload started.
		s.cfg.GPU.PID = server
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.DiscoveryTimeout)
	s.id = s.client.Identify(dctx)
	cancel()
	if s.id.Kind == api.ServerSimulator {
		// `llmload sim` in another process: its results are simulated, and so is its GPU.
		s.simulated = true
		if s.cfg.GPU.Sim == nil {
			s.cfg.GPU.Sim = RemoteSimGPU(cfg.URL)
		}
	}
	return s, nil
}

// machineMeter measures how busy the machine is with work other than this session: everything
// but llmload (with a simulator in it) and the server — serverPID, or else the process
// listening on the target's port when the target is on this machine, which it returns. Nil
// where there is no /proc.
func machineMeter(proc fs.FS, target string, serverPID int) (*hostload.Meter, int) {
	var m *hostload.Meter
	if proc != nil {
		m = &hostload.Meter{FS: proc, Exclude: []int{os.Getpid()}}
	} else if m = hostload.New(); m == nil {
		return nil, 0
	}
	if serverPID > 0 {
		m.Exclude = append(m.Exclude, serverPID)
		return m, serverPID
	}
	if u, err := url.Parse(target); err == nil {
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			if port, err := strconv.Atoi(u.Port()); err == nil {
				if pid, ok := m.ListenerPID(port); ok {
					m.Exclude = append(m.Exclude, pid)
					return m, pid
				}
			}
		}
	}
	return m, 0
}

// maxConns is how many connections a plan's client keeps: one per request it may have in
// flight, and never fewer than 64.
func maxConns(p *results.Plan) int {
	n := 64
	for _, st := range p.Stages {
		n = max(n, st.Concurrency, st.MaxConcurrency)
	}
	return max(n, p.Warmup*len(p.Models()))
}

// Client is the session's client, for what the caller sends besides the plan (a sweep's
// preload).
func (s *Session) Client() *api.Client { return s.client }

// Identity is what the server said it is.
func (s *Session) Identity() api.Identity { return s.id }

// Close lets go of the connections the client keeps.
func (s *Session) Close() { s.client.CloseIdleConnections() }

// Run sends the plan Repeat times. Each run is described (target, host, labels, notes, GPU),
// added to Output and handed to Hooks.RunEnded before the next starts. It returns the runs made
// with ErrInterrupted when ctx ended first, with an error when a run could not start or its
// results could not be written, and otherwise with the verdict of JudgeErrorRate.
func (s *Session) Run(ctx context.Context) ([]*results.Run, error) {
	cfg := &s.cfg
	var records io.Writer
	if cfg.Records != "" {
		f, err := os.Create(cfg.Records)
		if err != nil {
			return nil, &ConfigError{Field: "Records", Err: err}
		}
		defer f.Close()
		records = f
	}
	live := &Live{}
	var runs []*results.Run
	for rep := 1; rep <= cfg.Repeat; rep++ {
		if rep > 1 && ctx.Err() != nil {
			break
		}
		run, err := s.runOnce(ctx, rep, live, records)
		if run != nil {
			runs = append(runs, run)
		}
		if err != nil {
			return runs, err
		}
		if run.Interrupted {
			break
		}
	}
	if n := len(runs); (n > 0 && runs[n-1].Interrupted) || (n < cfg.Repeat && ctx.Err() != nil) {
		if s.writeErr != nil {
			return runs, errors.Join(ErrInterrupted, s.writeErr)
		}
		return runs, ErrInterrupted
	}
	if s.writeErr != nil {
		return runs, s.writeErr
	}
	return runs, JudgeErrorRate(runs, cfg.MaxErrorRate)
}

// runOnce makes one run: GPU sampling around the plan, the run described and written.
func (s *Session) runOnce(ctx context.Context, rep int, live *Live, records io.Writer) (*results.Run, error) {
	cfg := &s.cfg
	h := cfg.Hooks
	start := time.Now()
	sampling, err := StartGPU(ctx, cfg.GPU.Mode, gpu.Options{Indices: cfg.GPU.Indices, PID: cfg.GPU.PID, Sim: cfg.GPU.Sim}, cfg.GPU.Interval, start)
	if err != nil {
		return nil, &ConfigError{Field: "GPU", Err: fmt.Errorf("%s: %w", cfg.GPU.Mode, err)}
	}
	if h.RunStarting != nil {
		h.RunStarting(rep, live)
	}
	if rep == 1 && h.Notice != nil {
		for _, n := range sampling.Notices() {
			h.Notice(n)
		}
	}
	gauges := StartGauges(ctx, s.client, s.id.Kind, cfg.GPU.Interval, start)
	run, err := RunPlan(ctx, cfg.Workload, s.client, Options{
		Records:         records,
		Live:            live,
		Grace:           cfg.Grace,
		HardStop:        cfg.HardStop,
		OnStage:         h.Stage,
		Start:           start,
		ServerInProcess: cfg.InProcess,
		Machine:         s.machine,
		Goodput:         cfg.Goodput,
		ControlProbe:    cfg.ControlProbe,
	})
	if err != nil {
		sampling.Finish(&results.Run{})
		gauges.Finish(&results.Run{})
		if h.RunEnded != nil {
			_ = h.RunEnded(nil)
		}
		return nil, err
	}
	sampling.Finish(run)
	gauges.Finish(run)
	if clientLimited(run) {
		// A run that ran out of file descriptors gives back the connections it keeps, so that
		// its results can be written.
		s.client.CloseIdleConnections()
	}
	s.describe(ctx, run, rep)
	if cfg.Describe != nil {
		cfg.Describe(run)
	}
	run = redacted(run, s.client.Redactor())
	if cfg.Output != nil {
		if err := cfg.Output.Add(run); err != nil {
			var we *WriteError
			if !errors.As(err, &we) || we.Saved == "" {
				if h.RunEnded != nil {
					_ = h.RunEnded(run)
				}
				return run, err
			}
			// Saved elsewhere: the session goes on, and ends with the error that says where.
			s.writeErr = err
		}
	}
	if h.RunEnded != nil {
		if err := h.RunEnded(run); err != nil {
			return run, err
		}
	}
	return run, nil
}

// describe fills in who measured what: labels, the target as the server described itself
// (and the models it holds after the run), the sender, the host and the session's notes.
func (s *Session) describe(ctx context.Context, run *results.Run, rep int) {
	cfg := &s.cfg
	if len(cfg.Labels) > 0 {
		run.Labels = maps.Clone(cfg.Labels)
	}
	if cfg.Repeat > 1 {
		run.Repeat = rep
	}
	sender := s.client.Sender()
	run.Target = results.Target{
		URL: api.RedactURL(cfg.URL), API: planAPIs(cfg.Workload.Plan), Simulated: s.simulated,
		ServerVersion: s.id.Version, Server: s.id.Kind, Engine: s.id.Engine,
		Sender: sender.Name, SenderReason: sender.Reason,
	}
	// The server is asked even after an interrupt: what it holds is part of what was measured.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.DiscoveryTimeout)
	defer cancel()
	if ms, err := s.client.Loaded(dctx); err == nil {
		for _, m := range ms {
			run.Target.Models = append(run.Target.Models, results.LoadedModel{Name: m.Name, SizeBytes: m.Size, SizeVRAMBytes: m.SizeVRAM, ContextLength: m.ContextLength})
		}
	}
	run.Host = cfg.Host
	run.Notes = append(run.Notes, cfg.Notes...)
}

// clientLimited says whether requests of the run failed for want of the client's own
// resources (file descriptors, local ports).
func clientLimited(run *results.Run) bool {
	for _, st := range run.Stages {
		if st.Requests.Errors[results.ClassClientLimit] > 0 {
			return true
		}
	}
	return run.Warmup != nil && run.Warmup.Errors[results.ClassClientLimit] > 0
}

// planAPIs names the plan's protocols, in the order of its mix.
func planAPIs(p *results.Plan) string {
	var names []string
	seen := map[string]bool{}
	for _, t := range p.Mix {
		if !seen[t.API] {
			seen[t.API] = true
			names = append(names, t.API)
		}
	}
	return strings.Join(names, ",")
}

// ThisHost describes the machine llmload runs on.
func ThisHost() results.Host {
	h, _ := os.Hostname()
	return results.Host{Hostname: h, OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU()}
}

// checkURL accepts an http or https URL with a host.
func checkURL(s string) error {
	u, err := url.Parse(s)
	var ue *url.Error
	switch {
	case errors.As(err, &ue):
		return ue.Err // the whole URL, credentials and all, stays out of the message
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme %q is not http or https", u.Scheme)
	case u.Host == "":
		return fmt.Errorf("%q has no host", api.RedactURL(s))
	}
	return nil
}

// Package serve starts and stops a real LLM server for one setting of a sweep (`ollama serve`
// with OLLAMA_NUM_PARALLEL=k, or llama.cpp's `llama-server -np k`) on a free loopback port: its
// readiness, its log, the check that it really got k slots, and its end; Sweep runs a
// bench.Session against one such server per setting.
package serve

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/llmload/llmload/bench/results"
)

// Kind is the kind of server a Config starts.
type Kind string

// The servers llmload can start.
const (
	// KindOllama is `ollama serve`, configured by OLLAMA_* variables.
	KindOllama Kind = "ollama"
	// KindLlamaServer is llama.cpp's `llama-server`, configured by its flags.
	KindLlamaServer Kind = "llama-server"
)

func (k Kind) String() string { return string(k) }

// Config says how to start a server.
type Config struct {
	// Kind is the server's kind; empty means KindOllama.
	Kind Kind
	// Binary is the server program: the `ollama` binary (run as `Binary serve`), or
	// `llama-server`.
	Binary string
	// Args are more arguments for the server, after llmload's own (llama-server: -m MODEL and
	// any flag of the user's; a flag given twice takes its last value, so the user's win).
	Args []string
	// Env is the environment the server starts with, before llmload's own settings
	// (OLLAMA_HOST, OLLAMA_NUM_PARALLEL, OLLAMA_KEEP_ALIVE) and Extra are laid over it.
	Env []string
	// Extra are KEY=VALUE settings from the user (--server-env); they win over everything.
	Extra []string
	// NumParallel is the setting under test: OLLAMA_NUM_PARALLEL, or llama-server's -np. 0
	// leaves Ollama its own default; llama-server then gets -np 1.
	NumParallel int
	// Settings are the other settings of a sweep's point: OLLAMA_* variables laid over the
	// environment after llmload's own, or llama-server flags after llmload's own (and before
	// Args).
	Settings []results.ServerSetting
	// SlotContext is llama-server's context per slot: it starts with -c SlotContext×NumParallel
	// (llama-server splits -c among its slots). 0 leaves -c to the server.
	SlotContext int
	// LogPath receives the server's stdout and stderr. Empty: kept in memory only.
	LogPath string
	// ReadyTimeout bounds the wait for `GET /` to answer. 0 = 60 s.
	ReadyTimeout time.Duration
	// StopGrace is how long the server has to exit after SIGTERM before SIGKILL. 0 = 10 s.
	StopGrace time.Duration
	// Port, when not 0, is used instead of a free one (tests use it to provoke port clashes).
	Port int
}

// Server is a running server process.
type Server struct {
	URL string
	PID int

	cmd     *exec.Cmd
	log     *logBuffer
	logFile *os.File
	exited  chan struct{}
	waitErr error
	grace   time.Duration
	stopped sync.Once
}

// Start launches the server and waits until it answers. On any failure the process is gone
// when Start returns, and the error carries the end of its log.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Binary == "" {
		return nil, errors.New("no server binary")
	}
	path, err := exec.LookPath(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("server binary: %w", err)
	}
	// A port that was free a moment ago can be taken before the server binds it; a clash is
	// told apart from other failures by the server's own message and retried on a new port.
	const attempts = 3
	for try := 1; ; try++ {
		s, err := start(ctx, path, cfg)
		if err == nil {
			return s, nil
		}
		var pe *portInUseError
		if !errors.As(err, &pe) || try == attempts || cfg.Port != 0 {
			return nil, err
		}
	}
}

type portInUseError struct{ err error }

func (e *portInUseError) Error() string { return e.err.Error() }
func (e *portInUseError) Unwrap() error { return e.err }

func start(ctx context.Context, path string, cfg Config) (*Server, error) {
	port := cfg.Port
	if port == 0 {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	host := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args, env, readyPath := cfg.command(port)

	s := &Server{URL: "http://" + host, log: &logBuffer{limit: 1 << 20}, exited: make(chan struct{}), grace: cfg.StopGrace}
	if s.grace <= 0 {
		s.grace = 10 * time.Second
	}
	var out io.Writer = s.log
	if cfg.LogPath != "" {
		f, err := os.Create(cfg.LogPath)
		if err != nil {
			return nil, fmt.Errorf("server log: %w", err)
		}
		s.logFile = f
		out = io.MultiWriter(f, s.log)
	}
	// Not exec.CommandContext: the server must get SIGTERM and a grace period, not SIGKILL,
	// when the sweep is interrupted.
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that a Ctrl-C in the terminal reaches llmload only and
	// llmload decides how the server ends, and so that runner children die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.closeLog()
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	s.cmd, s.PID = cmd, cmd.Process.Pid
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	timeout := cfg.ReadyTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	if err := s.waitReady(ctx, readyPath, timeout); err != nil {
		s.Stop()
		tail := s.LogTail(15)
		if lower := strings.ToLower(tail); strings.Contains(lower, "address already in use") || strings.Contains(lower, "couldn't bind") {
			return nil, &portInUseError{fmt.Errorf("port %d already in use:\n%s", port, indent(tail))}
		}
		return nil, fmt.Errorf("%w; server log ends:\n%s", err, indent(tail))
	}
	return s, nil
}

// command is the server's command line and environment for a server on port, and the path
// that answers 200 once it is ready.
func (cfg *Config) command(port int) (args, env []string, readyPath string) {
	np := strconv.Itoa(max(cfg.NumParallel, 1))
	if cfg.Kind == KindLlamaServer {
		// --metrics: the queue gauges llmload samples during the run. /health answers 503
		// while the model loads and 200 once it serves.
		args = []string{"--host", "127.0.0.1", "--port", strconv.Itoa(port), "-np", np, "--metrics"}
		if cfg.SlotContext > 0 {
			args = append(args, "-c", strconv.Itoa(cfg.SlotContext*max(cfg.NumParallel, 1)))
		}
		for _, st := range cfg.Settings {
			args = append(args, st.Name, st.Value)
		}
		return append(args, cfg.Args...), mergeEnv(cfg.Env, cfg.Extra), "/health"
	}
	own := []string{"OLLAMA_HOST=" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "OLLAMA_KEEP_ALIVE=-1"}
	if cfg.NumParallel > 0 {
		own = append(own, "OLLAMA_NUM_PARALLEL="+np)
	}
	for _, st := range cfg.Settings {
		own = append(own, st.Name+"="+st.Value)
	}
	env = mergeEnv(cfg.Env, own, cfg.Extra)
	return append([]string{"serve"}, cfg.Args...), env, "/"
}

// waitReady polls GET readyPath until the server answers 200, the process dies, or time runs
// out.
func (s *Server) waitReady(ctx context.Context, readyPath string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	for delay := 20 * time.Millisecond; ; delay = min(delay*2, 500*time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+readyPath, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("server exited before it was ready (%v)", s.exitStatus())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server did not answer GET %s within %s", readyPath, timeout)
		}
	}
}

func (s *Server) exitStatus() string {
	if s.waitErr == nil {
		return "exit status 0"
	}
	return s.waitErr.Error()
}

// Stop ends the server: SIGTERM to its process group, then SIGKILL after the grace period.
// It waits for the process and is safe to call more than once.
func (s *Server) Stop() {
	s.stopped.Do(func() {
		if s.cmd == nil || s.cmd.Process == nil {
			s.closeLog()
			return
		}
		pgid := -s.PID
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(s.grace):
			_ = syscall.Kill(pgid, syscall.SIGKILL)
			<-s.exited
		}
		// Children (model runners) that outlived the server go too.
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		s.closeLog()
	})
}

func (s *Server) closeLog() {
	if s.logFile != nil {
		_ = s.logFile.Close()
	}
}

// Log returns everything the server has written so far (up to the last MiB).
func (s *Server) Log() string { return s.log.String() }

// LogTail returns the last n lines of the log.
func (s *Server) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(s.log.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// The settings a model runner was started with, as server logs show them. Ollama up to 0.2x
// logs its runner's command line (`msg="starting llama server" cmd="… runner … --ctx-size 8192
// --parallel 2 …"`); from 0.30 it runs llama.cpp's llama-server and logs that command line
// (`msg="starting llama-server" cmd="…/llama-server --model … -c 8192 -np 2 …"`); key=value
// logs (the simulator's) say `parallel=N num_ctx=N`. A flag counts only as a whole word.
var (
	parallelRe = regexp.MustCompile(`(?:(?:^|[\s"])(?:--parallel|-np)[ =]|\bparallel=)(\d+)`)
	contextRe  = regexp.MustCompile(`(?:^|[\s"])(?:--ctx-size|-c)[ =](\d+)`)
)

// RunnerSettings is what a server's log says its latest model runner was started with.
type RunnerSettings struct {
	// Parallel is the runner's slot count.
	Parallel int
	// Context is the runner's whole context (llama-server's -c, the old runner's --ctx-size),
	// shared by its slots; 0 when the line does not say.
	Context int
}

// SlotContext is the context each slot gets, 0 when unknown.
func (r RunnerSettings) SlotContext() int {
	if r.Context <= 0 || r.Parallel <= 0 {
		return 0
	}
	return r.Context / r.Parallel
}

// RunnerFromLog returns the settings of the last model runner the log reports, and whether any
// runner reported its slot count.
func RunnerFromLog(log string) (RunnerSettings, bool) {
	var r RunnerSettings
	found := false
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "OLLAMA_NUM_PARALLEL") {
			continue // the server's config line echoes the request, not the runner's setting
		}
		m := parallelRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, err := strconv.Atoi(m[1])
		if err != nil {
			continue
		}
		r, found = RunnerSettings{Parallel: v}, true
		if c := contextRe.FindStringSubmatch(line); c != nil {
			r.Context, _ = strconv.Atoi(c[1])
		}
	}
	return r, found
}

// FreePort asks the kernel for a free loopback port.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// mergeEnv lays later KEY=VALUE lists over earlier ones.
func mergeEnv(layers ...[]string) []string {
	idx := map[string]int{}
	var out []string
	for _, layer := range layers {
		for _, kv := range layer {
			k, _, _ := strings.Cut(kv, "=")
			if i, ok := idx[k]; ok {
				out[i] = kv
				continue
			}
			idx[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// logBuffer keeps the last limit bytes written, safe for the process's two output pipes.
type logBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	limit int
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.limit; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

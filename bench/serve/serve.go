// Package serve starts and stops a real LLM server for one setting of a sweep: `ollama serve`
// with OLLAMA_NUM_PARALLEL=k on a free loopback port, its readiness, its log, and its end.
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
)

// Config says how to start a server.
type Config struct {
	// Binary is the server program (the `ollama` binary); it is run as `Binary serve`.
	Binary string
	// Env is the environment the server starts with, before llmload's own settings
	// (OLLAMA_HOST, OLLAMA_NUM_PARALLEL, OLLAMA_KEEP_ALIVE) and Extra are laid over it.
	Env []string
	// Extra are KEY=VALUE settings from the user (--server-env); they win over everything.
	Extra []string
	// NumParallel is the setting under test.
	NumParallel int
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
	env := mergeEnv(cfg.Env, []string{
		"OLLAMA_HOST=" + host,
		"OLLAMA_NUM_PARALLEL=" + strconv.Itoa(cfg.NumParallel),
		"OLLAMA_KEEP_ALIVE=-1",
	}, cfg.Extra)

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
	cmd := exec.Command(path, "serve")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that a Ctrl-C in the terminal reaches llmload only and
	// llmload decides how the server ends, and so that runner children die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.closeLog()
		return nil, fmt.Errorf("start %s serve: %w", path, err)
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
	if err := s.waitReady(ctx, timeout); err != nil {
		s.Stop()
		tail := s.LogTail(15)
		if strings.Contains(strings.ToLower(tail), "address already in use") {
			return nil, &portInUseError{fmt.Errorf("port %d already in use:\n%s", port, indent(tail))}
		}
		return nil, fmt.Errorf("%w; server log ends:\n%s", err, indent(tail))
	}
	return s, nil
}

// waitReady polls GET / until the server answers 200, the process dies, or time runs out.
func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	for delay := 20 * time.Millisecond; ; delay = min(delay*2, 500*time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/", nil)
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
			return fmt.Errorf("server did not answer GET / within %s", timeout)
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

// parallelRe finds the slot count a runner was started with: Ollama's runner command line
// carries `--parallel N`; key=value logs (the simulator's, newer Ollama) say `parallel=N`.
var parallelRe = regexp.MustCompile(`(?:--parallel[ =]|\bparallel=)(\d+)`)

// ParallelFromLog returns the last NUM_PARALLEL a model runner reported in the log, and
// whether any runner reported one.
func ParallelFromLog(log string) (int, bool) {
	n, found := 0, false
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "OLLAMA_NUM_PARALLEL") {
			continue // the server's config line echoes the request, not the runner's setting
		}
		if m := parallelRe.FindStringSubmatch(line); m != nil {
			if v, err := strconv.Atoi(m[1]); err == nil {
				n, found = v, true
			}
		}
	}
	return n, found
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

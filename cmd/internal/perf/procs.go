package perf

import (
	"bufio"
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

// Process is a child process started for a measurement: a server, or a client under test.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	out  *lockedWriter // stdout and stderr, for error messages and parsing
}

// Start starts a process; its output is kept (see Output).
func Start(ctx context.Context, name string, args ...string) (*Process, error) {
	p := &Process{cmd: exec.CommandContext(ctx, name, args...), done: make(chan struct{}), out: &lockedWriter{}}
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// StartServer starts a server that prints its URL as the first line of its standard output (as
// instantserver does) and returns it with the URL.
func StartServer(ctx context.Context, name string, args ...string) (*Process, string, error) {
	p := &Process{cmd: exec.CommandContext(ctx, name, args...), done: make(chan struct{}), out: &lockedWriter{}}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	p.cmd.Stderr = p.out
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		p.Stop()
		return nil, "", fmt.Errorf("%s: no address: %v (%s)", name, err, p.Output())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return p, strings.TrimSpace(line), nil
}

// StartSim starts `llmload sim` on a free loopback port, behind prefix (taskset; nil for
// none), and waits until it answers.
func StartSim(ctx context.Context, prefix []string, llmload string, args ...string) (*Process, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	name, full := prefixed(prefix, llmload, append([]string{"sim", "--listen", addr}, args...))
	p, err := Start(ctx, name, full...)
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr
	if err := waitReady(ctx, url, p); err != nil {
		p.Stop()
		return nil, "", err
	}
	return p, url, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitReady(ctx context.Context, url string, p *Process) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("server exited: %v: %s", p.err, p.Output())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if resp, err := http.Get(url + "/"); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after 15 s", url)
}

// Wait waits for the process to end.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Stop asks the process to end (SIGTERM, then SIGKILL after WaitDelay) and waits.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Output is what the process wrote so far.
func (p *Process) Output() string { return p.out.String() }

// CPU is the user and system time of an ended process.
func (p *Process) CPU() time.Duration {
	if p.cmd.ProcessState == nil {
		return 0
	}
	return p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
}

// Run runs a process to its end and returns its output, CPU time and wall time.
func Run(ctx context.Context, name string, args ...string) (out string, cpu, wall time.Duration, err error) {
	start := time.Now()
	p, err := Start(ctx, name, args...)
	if err != nil {
		return "", 0, 0, err
	}
	err = p.Wait()
	wall = time.Since(start)
	if err != nil {
		return p.Output(), p.CPU(), wall, fmt.Errorf("%s: %w: %s", name, err, tail(p.Output(), 600))
	}
	return p.Output(), p.CPU(), wall, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

type lockedWriter struct {
	mu sync.Mutex
	w  strings.Builder
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

// Memory is what /proc says of a process's memory, in KiB.
type Memory struct {
	RSS, HWM int64
}

// ReadMemory reads VmRSS and VmHWM (the peak RSS) of a process.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(value)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch name {
		case "VmRSS":
			m.RSS = n
		case "VmHWM":
			m.HWM = n
		}
	}
	if m.RSS == 0 {
		return m, errors.New("no VmRSS")
	}
	return m, nil
}

// Rates parsed from the other tools' reports.
var (
	abRate      = regexp.MustCompile(`Requests per second:\s+([0-9.]+)`)
	abFailed    = regexp.MustCompile(`Failed requests:\s+([0-9]+)`)
	abNon2xx    = regexp.MustCompile(`Non-2xx responses:\s+([0-9]+)`)
	abComplete  = regexp.MustCompile(`Complete requests:\s+([0-9]+)`)
	heyRate     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	heyStatus   = regexp.MustCompile(`\[(\d+)\]\s+(\d+) responses`)
	heyErrorSec = regexp.MustCompile(`Error distribution:`)
	floorRate   = regexp.MustCompile(`(?m)^\d+ requests in [0-9.]+ s: ([0-9.]+) req/s$`)
)

// ParseFloor reads floorclient's one line: requests per second. floorclient stops at the first
// failed request, with a non-zero exit, so a line is a run without failures.
func ParseFloor(out string) (float64, error) {
	m := floorRate.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("floorclient: no rate in its output: %s", tail(out, 300))
	}
	return strconv.ParseFloat(m[1], 64)
}

// ParseAB reads `ab` output: requests per second, and an error when any request failed.
func ParseAB(out string) (float64, error) {
	m := abRate.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("ab: no rate in its output: %s", tail(out, 300))
	}
	for _, re := range []*regexp.Regexp{abFailed, abNon2xx} {
		if f := re.FindStringSubmatch(out); f != nil && f[1] != "0" {
			return 0, fmt.Errorf("ab: %s", strings.TrimSpace(f[0]))
		}
	}
	if abComplete.FindStringSubmatch(out) == nil {
		return 0, errors.New("ab: no count of complete requests")
	}
	return strconv.ParseFloat(m[1], 64)
}

// ParseHey reads `hey` output: requests per second, and an error when any request failed.
func ParseHey(out string) (float64, error) {
	m := heyRate.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("hey: no rate in its output: %s", tail(out, 300))
	}
	if heyErrorSec.MatchString(out) {
		return 0, errors.New("hey: some requests failed")
	}
	for _, s := range heyStatus.FindAllStringSubmatch(out, -1) {
		if s[1] != "200" {
			return 0, fmt.Errorf("hey: %s responses with status %s", s[2], s[1])
		}
	}
	return strconv.ParseFloat(m[1], 64)
}

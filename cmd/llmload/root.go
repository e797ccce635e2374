package main

import (
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/llmload/llmload/bench/results"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise the module
// version from the build info is used.
var version = ""

func toolVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// streams are the command's terminal: where output goes and whether it is a terminal, so
// that progress bars appear only for a person and piped output stays clean.
type streams struct {
	in          io.Reader
	out, err    io.Writer
	errTerminal bool
	// inTerminal says a person may answer on stdin (capacity asks which server or model).
	inTerminal bool
}

// system is what run and sweep take from the process they run in besides its streams: the
// environment ($OLLAMA_HOST, the environment of the servers a sweep starts), the clock that
// names default output files, and the PATH. Tests give their own.
type system struct {
	*streams
	getenv   func(string) string
	environ  func() []string
	now      func() time.Time
	lookPath func(string) (string, error)
	// proc is the /proc a session reads the machine's other work from; nil is this machine's.
	proc fs.FS
}

func newSystem(s *streams) *system {
	return &system{streams: s, getenv: os.Getenv, environ: os.Environ, now: time.Now, lookPath: exec.LookPath}
}

// tool names this build in the results files it writes.
func tool() results.Tool {
	return results.Tool{Name: "llmload", Version: toolVersion(), GoVersion: runtime.Version()}
}

func newStreams() *streams {
	return &streams{
		in:          os.Stdin,
		out:         os.Stdout,
		err:         os.Stderr,
		errTerminal: term.IsTerminal(int(os.Stderr.Fd())),
		inTerminal:  term.IsTerminal(int(os.Stdin.Fd())),
	}
}

// newRootCmd builds the command tree. runF and sweepF, when set, receive the options run and
// sweep built from their flags instead of running them (for tests).
func newRootCmd(sys *system, runF func(*runOptions) error, sweepF func(*sweepOptions) error) *cobra.Command {
	s := sys.streams
	root := &cobra.Command{
		Use:   "llmload",
		Short: "Load-test local LLM servers (Ollama, llama-server, vLLM, any OpenAI-compatible API)",
		Long: `llmload fires sequential and parallel request mixes at an LLM server and measures what
users feel: time to first token, end-to-end latency, tokens per second, and (for Ollama) how long
requests wait in the queue — the numbers you need to choose OLLAMA_NUM_PARALLEL.

Exit codes: 0 ok, 1 run errors above --max-error-rate (or a failed gate), 2 bad input,
130 interrupted (results are still written).`,
		Version:       toolVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(s.out)
	root.SetErr(s.err)
	root.SetIn(s.in)
	// Flag errors are usage errors: exit code 2, with the usage hint.
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%v (see '%s --help')", err, c.CommandPath())
	})
	root.AddCommand(newRunCmd(sys, runF), newSweepCmd(sys, sweepF), newCapacityCmd(sys), newReportCmd(s), newSimCmd(s), newGateCmd(s))
	return root
}

package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/llmload/llmload/bench"
	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/gpu"
	"github.com/llmload/llmload/report/printable"
)

// Exit codes. Scripts and CI branch on them, so their meanings are fixed.
const (
	exitOK          = 0
	exitFailed      = 1 // gate failed, or a run's errors went over the allowed rate
	exitBadInput    = 2 // flags, plan or results file
	exitInterrupted = 130
)

// exitError carries an exit code up to main. Commands return it; nothing below main exits.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf reports bad input (a flag, a plan line, a results file): exit code 2.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitBadInput, err: fmt.Errorf(format, args...)}
}

// exit is where every command's error ends: said once on stderr, in the flags' terms (with
// nothing a terminal would obey: an error may quote a server or a file), and turned into the
// process's exit code.
func exit(s *streams, err error) int {
	if err != nil {
		fmt.Fprintln(s.err, "llmload:", printable.Lines(errorText(err)))
	}
	return exitCode(err)
}

// exitCode maps an error returned by a command to the process exit code: the code an
// exitError carries; 130 for an interrupt; 2 for a setting the engine refused; 1 for the rest
// (a failed run, a failed gate, requests over the allowed error rate).
func exitCode(err error) int {
	var ee *exitError
	var ce *bench.ConfigError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, bench.ErrInterrupted):
		return exitInterrupted
	case errors.As(err, &ce):
		return exitBadInput
	case errors.As(err, new(*bench.WarmupError)):
		return exitBadInput // the wrong model, URL or key: the command line's to fix
	}
	return exitFailed
}

// errorText says an error in the command line's terms: the engine names its own fields
// (Records, MaxErrorRate …), which a user knows as flags.
func errorText(err error) string {
	text := err.Error()
	var ce *bench.ConfigError
	if errors.As(err, &ce) {
		text = strings.Replace(text, ce.Error(), configErrorText(ce), 1)
	}
	var we *bench.WarmupError
	if errors.As(err, &we) {
		hint := "; nothing was measured"
		switch {
		case we.Class == api.ClassConnRefused:
			hint = "; nothing was measured: is the server running, and is --url right? ('llmload run --sim' needs no server)"
		case we.Status == 404:
			hint = "; nothing was measured: is -m right, and is the model on the server?"
		case we.Status == 401 || we.Status == 403:
			hint = "; nothing was measured: does the server want a key (--header 'Authorization: Bearer …')?"
		}
		text = strings.Replace(text, we.Error(), we.Error()+hint, 1)
	}
	var rate *bench.ErrorRateError
	if errors.As(err, &rate) && rate.Total > 0 {
		text = strings.Replace(text, rate.Error(), fmt.Sprintf("%d of %d requests failed (%.1f%% > --max-error-rate %.1f%%)",
			rate.Failed, rate.Total, 100*rate.Rate(), 100*rate.Max), 1)
	}
	return text
}

// sessionFlags are the flags that set each field of a bench.SessionConfig.
var sessionFlags = map[string]string{
	"URL":          "--url",
	"Repeat":       "--repeat",
	"Records":      "--records",
	"MaxErrorRate": "--max-error-rate",
	"Workload":     "--plan",
}

func configErrorText(ce *bench.ConfigError) string {
	var ie *gpu.IndexError
	switch {
	case errors.As(ce.Err, &ie):
		return fmt.Sprintf("--gpu-index %d: %s", ie.Index, ie.Reason)
	case errors.Is(ce.Err, gpu.ErrNoSimulator):
		return "--gpu sim needs a simulated server (--sim)"
	case ce.Field == "GPU": // the mode, then why
		return "--gpu " + ce.Err.Error()
	}
	if flag, ok := sessionFlags[ce.Field]; ok {
		return flag + ": " + ce.Err.Error()
	}
	return ce.Error()
}

package main

import (
	"errors"
	"fmt"
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

// exitCode maps an error returned by a command to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailed
}

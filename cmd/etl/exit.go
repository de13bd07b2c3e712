package main

import (
	"context"
	"errors"
)

// Exit codes, documented in README.md and in `etl --help`.
const (
	exitOK             = 0
	exitFailed         = 1 // a run failed and can be resumed; lint found errors
	exitConfig         = 2 // bad configuration or usage
	exitReauthorize    = 3 // the source's credentials must be renewed by a person
	exitAlreadyRunning = 75
	exitInterrupted    = 130
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode attaches an exit code to err.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// errSilent ends a command with its exit code after it printed its own
// output (lint findings, for example).
var errSilent = errors.New("silent")

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, context.Canceled) {
		return exitInterrupted
	}
	// Errors from cobra itself (unknown flag or command) are usage errors.
	return exitConfig
}

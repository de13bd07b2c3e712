// Command etl runs declarative pipelines: YAML files that back-fill a
// source (QuickBooks Online) into PostgreSQL window by window.
//
// This package holds flags and sub-commands only; every verb calls into the
// engine packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	_ "github.com/etl-engine/etl/connectors/all"
	"github.com/etl-engine/etl/engine/logging"
	"github.com/etl-engine/etl/engine/secret"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{redactor: &secret.Redactor{}}
	err := newRootCmd(a).ExecuteContext(ctx)
	if perr := a.stopProfile(); err == nil {
		err = perr
	}
	code := exitCode(err)
	if err != nil && !errors.Is(err, errSilent) {
		fmt.Fprintln(os.Stderr, "etl: "+a.redactor.Redact(err.Error()))
	}
	os.Exit(code)
}

// app is what every command shares.
type app struct {
	// redactor scrubs every secret a command resolved from what it prints.
	redactor *secret.Redactor
	// logFormat and logLevel are the persistent --log-format and
	// --log-level flags.
	logFormat, logLevel string
	// cpuProfile is the hidden --cpuprofile flag; profile is the file
	// being written.
	cpuProfile string
	profile    *os.File
	// envOverlay holds variables that take precedence over the process
	// environment (etl demo points the pipelines at its own sandbox and
	// database this way, without touching the real environment).
	envOverlay map[string]string
}

// lookupEnv reads a variable from the overlay, then the environment.
func (a *app) lookupEnv(name string) (string, bool) {
	if v, ok := a.envOverlay[name]; ok {
		return v, true
	}
	return os.LookupEnv(name)
}

// secrets returns the resolver of ${secret:NAME} references.
func (a *app) secrets() *secret.Resolver {
	return &secret.Resolver{LookupEnv: a.lookupEnv}
}

// logger returns the command's structured logger on w, scrubbed of
// secrets.
func (a *app) logger(w io.Writer) (*slog.Logger, error) {
	return logging.New(w, logging.Options{Format: a.logFormat, Level: a.logLevel}, a.redactor)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/etl-engine/etl/connectors/qbo/sandbox"
)

// sandboxOptions are the data options shared by the sandbox process and the
// in-process copy the ceiling regenerates: the same options give
// byte-identical records.
type sandboxOptions struct {
	seed                       int64
	customers, items, invoices int
}

// options returns the sandbox.Options "etl sandbox" builds from the same
// flags (its flag defaults equal the package defaults for the rest).
func (o sandboxOptions) options() sandbox.Options {
	return sandbox.Options{Seed: o.seed, Customers: o.customers, Items: o.items, Invoices: o.invoices,
		RequestsPerMinute: -1, MaxInFlight: -1}
}

// sandboxProc is an "etl sandbox" child process.
type sandboxProc struct {
	cmd  *exec.Cmd
	done chan error
	addr string
	// The sandbox's fake credentials (its defaults).
	realm, clientID, clientSecret, refreshToken string
}

// startSandbox starts "etl sandbox" on a free port, without request limits,
// and waits until it answers.
func startSandbox(ctx context.Context, etl, logPath string, o sandboxOptions) (*sandboxProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("finding a free port for the sandbox: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", logPath, err)
	}
	cmd := exec.Command(etl, "sandbox", "--addr", addr, "--log-level", "warn",
		"--seed", strconv.FormatInt(o.seed, 10), "--customers", strconv.Itoa(o.customers),
		"--items", strconv.Itoa(o.items), "--invoices", strconv.Itoa(o.invoices),
		"--requests-per-minute", "-1", "--max-in-flight", "-1")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting the sandbox: %w", err)
	}
	p := &sandboxProc{cmd: cmd, done: make(chan error, 1), addr: addr,
		realm: sandbox.DefaultRealmID, clientID: sandbox.DefaultClientID,
		clientSecret: sandbox.DefaultClientSecret, refreshToken: sandbox.DefaultRefreshToken}
	go func() {
		p.done <- cmd.Wait()
		logFile.Close()
	}()
	if err := p.waitHealthy(ctx); err != nil {
		_ = p.stop()
		return nil, fmt.Errorf("%w; last lines of %s:\n%s", err, logPath, tail(logPath, 10))
	}
	return p, nil
}

// waitHealthy polls the health route; generating a large data set takes a
// few seconds.
func (p *sandboxProc) waitHealthy(ctx context.Context) error {
	url := "http://" + p.addr + "/_sandbox/health"
	deadline := time.Now().Add(2 * time.Minute)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("the sandbox exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the sandbox did not answer %s within 2 minutes", url)
		}
	}
}

// stop interrupts the sandbox and waits for it to exit.
func (p *sandboxProc) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			return fmt.Errorf("stopping the sandbox: %w", err)
		}
		return nil
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return errors.New("the sandbox did not stop within 15 s; killed it")
	}
}

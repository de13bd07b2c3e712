// Package run executes a bound pipeline: it takes the pipeline's lease,
// starts or resumes a run, loads every pending window with bounded
// concurrency (fetching and writing overlap), commits each window with its
// checkpoint and counts, verifies the result, and archives the evidence.
package run

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/config"
	"github.com/etl-engine/etl/engine/plan"
	"github.com/etl-engine/etl/engine/report"
	"github.com/etl-engine/etl/engine/retry"
	"github.com/etl-engine/etl/engine/secret"
	"github.com/etl-engine/etl/engine/state"
)

// Config configures one execution.
type Config struct {
	Bound    *config.Bound
	Logger   *slog.Logger
	Redactor *secret.Redactor
	// Progress receives window events; nil means none.
	Progress Progress
	// Fresh starts a new run even if an unfinished one could be resumed.
	Fresh bool
	// Trigger names the trigger that started the run, if any; TriggerOnce
	// marks a one-time trigger, whose completion is recorded with the run.
	Trigger     string
	TriggerOnce bool
	// LeaseTTL is how long the pipeline's lease lasts without renewal.
	// Defaults to 30s.
	LeaseTTL time.Duration
	// EvidenceDir is the root of the evidence archive. Defaults to
	// "evidence".
	EvidenceDir string
	// WindowAttempts bounds how often a window that failed for a retryable
	// reason (a dropped database connection, a malformed page) is tried
	// within one run. Defaults to 3.
	WindowAttempts int
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
}

// Result is the outcome of an execution.
type Result struct {
	Run       state.Run
	Windows   []state.WindowState
	Report    *report.Report
	ReportDir string
}

// ConfigError marks a failure caused by the pipeline's settings (a
// component that cannot be built), as opposed to a runtime failure.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// CheckError says that the loaded data failed a validation check.
type CheckError struct{ Failed []string }

func (e *CheckError) Error() string {
	if len(e.Failed) == 1 {
		return "validation failed: " + e.Failed[0]
	}
	return fmt.Sprintf("%d validation checks failed; first: %s", len(e.Failed), e.Failed[0])
}

// Execute runs the pipeline to completion, or until it fails or ctx ends.
// A non-nil error with a non-nil Result means the run was recorded (and can
// be resumed); the error tells why it did not complete.
func Execute(ctx context.Context, cfg Config) (*Result, error) {
	e, err := newExecution(cfg)
	if err != nil {
		return nil, err
	}
	return e.execute(ctx)
}

type execution struct {
	cfg      Config
	b        *config.Bound
	log      *slog.Logger
	progress Progress
	now      func() time.Time

	exporter  component.Exporter
	store     state.Store
	loader    component.Loader
	transform []component.Transform
	ref       state.RunRef
}

func newExecution(cfg Config) (*execution, error) {
	if cfg.Bound == nil {
		return nil, errors.New("run: no pipeline")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Redactor == nil {
		cfg.Redactor = &secret.Redactor{}
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.EvidenceDir == "" {
		cfg.EvidenceDir = "evidence"
	}
	if cfg.WindowAttempts <= 0 {
		cfg.WindowAttempts = 3
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := cfg.Progress
	if p == nil {
		p = nopProgress{}
	}
	return &execution{cfg: cfg, b: cfg.Bound, log: cfg.Logger.With("pipeline", cfg.Bound.Name), progress: p, now: cfg.Now}, nil
}

func (e *execution) buildContext() component.BuildContext {
	return component.BuildContext{
		Pipeline:          e.b.Name,
		Logger:            e.log,
		Retry:             e.b.Retry,
		RateLimit:         e.b.RateLimit,
		Timeouts:          e.b.Timeouts,
		CursorField:       e.b.CursorField,
		WindowConcurrency: e.b.WindowConcurrency,
		Redactor:          e.cfg.Redactor,
	}
}

func (e *execution) execute(ctx context.Context) (*Result, error) {
	bc := e.buildContext()
	exp, err := e.b.Exporter.Reg.NewExporter(ctx, bc, e.b.Exporter.Settings)
	if err != nil {
		return nil, fmt.Errorf("exporter %s: %w", e.b.Exporter.Use, err)
	}
	defer exp.Close()
	e.exporter = exp
	sexp, ok := exp.(component.StatefulExporter)
	if !ok {
		return nil, &ConfigError{Err: fmt.Errorf("exporter %s cannot keep run state; the run loop needs one that can (postgres.upsert)", e.b.Exporter.Use)}
	}
	if m, ok := exp.(component.Migrator); ok {
		if err := m.Migrate(ctx); err != nil {
			return nil, fmt.Errorf("preparing the destination: %w", err)
		}
	}
	e.store = sexp.State()

	windows, err := e.b.Windows()
	if err != nil {
		return nil, &ConfigError{Err: err}
	}
	lease, err := e.store.Acquire(ctx, e.b.Name, newRunID(e.now()), e.cfg.LeaseTTL)
	if err != nil {
		return nil, err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := lease.Release(rctx); err != nil {
			e.log.Warn("releasing the pipeline lease", "error", err)
		}
	}()
	run, err := e.store.StartRun(ctx, lease, state.RunSpec{
		Pipeline: e.b.Name, PlanKey: e.b.PlanKey, Params: e.b.RawParams,
		Windows: windows, Fresh: e.cfg.Fresh, Trigger: e.cfg.Trigger, TriggerOnce: e.cfg.TriggerOnce,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the run: %w", err)
	}
	e.ref = run.RunRef
	e.log = e.log.With("run_id", run.RunID)
	if run.Resumed {
		e.log.Info("resuming an unfinished run with the same plan")
	}

	bc.Credentials = e.store.Credentials()
	e.loader, err = e.b.Loader.Reg.NewLoader(ctx, bc, e.b.Loader.Settings)
	if err != nil {
		e.finish(ctx, run, state.RunFailed, err)
		return nil, fmt.Errorf("loader %s: %w", e.b.Loader.Use, err)
	}
	defer e.loader.Close()
	for _, t := range e.b.Transforms {
		tr, err := t.Reg.NewTransform(ctx, bc, t.Settings)
		if err != nil {
			e.finish(ctx, run, state.RunFailed, err)
			return nil, &ConfigError{Err: fmt.Errorf("transform %s: %w", t.Use, err)}
		}
		e.transform = append(e.transform, tr)
	}

	states, err := e.store.Windows(ctx, run.RunID)
	if err != nil {
		e.finish(ctx, run, state.RunFailed, err)
		return nil, fmt.Errorf("reading the run's windows: %w", err)
	}
	var pending []plan.Window
	done := 0
	for _, ws := range states {
		if ws.Status == state.WindowCompleted {
			done++
			continue
		}
		pending = append(pending, ws.Window)
	}
	e.log.Info("run started", "windows", len(states), "already_completed", done, "pending", len(pending),
		"start_utc", e.b.Start.UTC().Format(time.RFC3339), "end_utc", e.b.End.UTC().Format(time.RFC3339), "step", e.b.Step.String())
	e.progress.Start(run.RunID, len(states), done)

	runErr := e.processAll(ctx, lease, pending)
	e.progress.Finish()

	status := state.RunCompleted
	switch {
	case runErr != nil && errors.Is(runErr, context.Canceled):
		status = state.RunInterrupted
	case runErr != nil:
		status = state.RunFailed
	}
	res := &Result{Run: run}
	res.Windows, err = e.store.Windows(context.WithoutCancel(ctx), run.RunID)
	if err != nil && runErr == nil {
		runErr = err
		status = state.RunFailed
	}
	if status == state.RunCompleted {
		if cerr := e.verify(ctx, res.Windows); cerr != nil {
			runErr, status = cerr, state.RunFailed
		}
	}
	res.Run.Status = status
	rep, dir, rerr := e.archive(context.WithoutCancel(ctx), res, runErr)
	if rerr != nil {
		e.log.Error("writing the run report", "error", rerr)
		if runErr == nil {
			runErr, status = fmt.Errorf("writing the run report: %w", rerr), state.RunFailed
		}
	}
	res.Report, res.ReportDir = rep, dir
	e.finish(ctx, run, status, runErr)
	res.Run.Status = status
	return res, runErr
}

// finish records the run's end, even when ctx was cancelled.
func (e *execution) finish(ctx context.Context, run state.Run, status state.RunStatus, runErr error) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	msg := ""
	if runErr != nil {
		msg = e.cfg.Redactor.Redact(runErr.Error())
	}
	if err := e.store.FinishRun(fctx, run.RunRef, status, msg); err != nil {
		e.log.Error("recording the end of the run", "error", err)
	}
	level := slog.LevelInfo
	if status != state.RunCompleted {
		level = slog.LevelError
	}
	e.log.Log(fctx, level, "run "+string(status), "error", msg)
}

// processAll loads the pending windows with bounded concurrency. It stops
// dispatching new windows when ctx ends, the lease is lost, or a window
// fails in a way no retry can fix (credentials revoked).
func (e *execution) processAll(ctx context.Context, lease state.Lease, pending []plan.Window) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-lease.Lost():
			cancel(state.ErrLeaseLost)
		case <-ctx.Done():
		}
	}()
	conc := max(1, e.b.WindowConcurrency)
	jobs := make(chan plan.Window)
	var (
		mu       sync.Mutex
		firstErr error
		failed   int
	)
	record := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		failed++
		if firstErr == nil {
			firstErr = err
		}
		if retry.ClassOf(err) == retry.Reauthorize {
			cancel(err)
		}
	}
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w := range jobs {
				if err := e.window(ctx, w); err != nil {
					record(err)
				}
			}
		}()
	}
dispatch:
	for _, w := range pending {
		select {
		case jobs <- w:
		case <-ctx.Done():
			break dispatch
		}
	}
	close(jobs)
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
		if errors.Is(cause, state.ErrLeaseLost) || retry.ClassOf(cause) == retry.Reauthorize {
			return cause
		}
		if firstErr != nil && !errors.Is(firstErr, context.Canceled) {
			return fmt.Errorf("%w (and %v)", context.Canceled, firstErr)
		}
		return cause
	}
	if firstErr != nil {
		if failed > 1 {
			return fmt.Errorf("%d windows failed; first: %w", failed, firstErr)
		}
		return firstErr
	}
	return nil
}

func newRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

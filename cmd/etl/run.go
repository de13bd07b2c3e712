package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/etl-engine/etl/engine/config"
	"github.com/etl-engine/etl/engine/logging"
	"github.com/etl-engine/etl/engine/retry"
	"github.com/etl-engine/etl/engine/run"
	"github.com/etl-engine/etl/engine/state"
)

type runFlags struct {
	params      []string
	fresh       bool
	evidenceDir string
	progress    string
	leaseTTL    time.Duration
	// requestsPerMinute, when positive, overrides the pipeline's rate limit.
	requestsPerMinute int
}

func newRunCmd(a *app) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run PIPELINE.yaml [--param NAME=VALUE ...]",
		Short: "Run a pipeline: load every window of the range into the destination",
		Long: `Run a pipeline over [fecha_inicio, fecha_fin). The range is cut into windows
(see etl plan); each window is paged from the source, verified against the
source's COUNT(*), and committed with its checkpoint and counts in one
transaction. Running the same pipeline with the same parameters again
resumes an unfinished run: completed windows are skipped, failed ones are
retried. A run that completed is run again from scratch (idempotent: rows
that did not change are not rewritten). Two runs of one pipeline never
overlap: the second exits with code 75 and the holder's run id.

Evidence (report.json, report.md, report.html) is archived under
evidence/<pipeline>/<run_id>/.

Secrets come from the environment, NAME_FILE, or /run/secrets/<name>
(see docs/SECRETS.md); they never appear in output, logs or reports.`,
		Example: `  etl run pipelines/qb_items_backfill.yaml \
    --param fecha_inicio=2019-01-01T00:00:00Z --param fecha_fin=2026-01-01T00:00:00Z`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPipeline(cmd.Context(), cmd.ErrOrStderr(), cmd.OutOrStdout(), args[0], f, "")
		},
	}
	cmd.Flags().StringArrayVar(&f.params, "param", nil, "parameter value as NAME=VALUE (repeatable)")
	cmd.Flags().BoolVar(&f.fresh, "fresh", false, "start a new run even if an unfinished one with the same parameters could be resumed")
	cmd.Flags().StringVar(&f.evidenceDir, "evidence-dir", "evidence", "root folder of the evidence archive")
	cmd.Flags().StringVar(&f.progress, "progress", "auto", "progress display: auto (a bar on a terminal, log lines otherwise), bar, log or none")
	cmd.Flags().DurationVar(&f.leaseTTL, "lease-ttl", 30*time.Second, "how long the pipeline's lease lasts without renewal")
	cmd.Flags().IntVar(&f.requestsPerMinute, "requests-per-minute", 0, "override the pipeline's rate_limit.requests_per_minute (e.g. against the local sandbox); QBO allows 500")
	return cmd
}

// runPipeline binds and executes one pipeline; it is shared by etl run,
// etl demo and the trigger scheduler.
func (a *app) runPipeline(ctx context.Context, stderr, stdout io.Writer, file string, f runFlags, trigger string) error {
	bound, err := a.bindPipeline(stderr, file, f.params, config.BindRun)
	if err != nil {
		return err
	}
	return a.execute(ctx, stderr, stdout, bound, f, trigger)
}

func (a *app) execute(ctx context.Context, stderr, stdout io.Writer, bound *config.Bound, f runFlags, trigger string) error {
	_, err := a.executeBound(ctx, stderr, stdout, bound, f, trigger, false)
	return classifyRunError(err)
}

// executeBound runs a bound pipeline and prints its summary; the error is
// the run's own, not yet mapped to an exit code.
func (a *app) executeBound(ctx context.Context, stderr, stdout io.Writer, bound *config.Bound, f runFlags, trigger string, once bool) (*run.Result, error) {
	log, err := a.logger(stderr)
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	if f.requestsPerMinute > 0 {
		bound.RateLimit.RequestsPerMinute = f.requestsPerMinute
	}
	progress, err := newProgress(f.progress, stderr, log, a)
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	res, err := run.Execute(ctx, run.Config{
		Bound: bound, Logger: log, Redactor: a.redactor, Progress: progress,
		Fresh: f.fresh, Trigger: trigger, TriggerOnce: once, LeaseTTL: f.leaseTTL, EvidenceDir: f.evidenceDir,
	})
	if res != nil && res.Report != nil {
		t := res.Report
		fmt.Fprintf(stdout, "run %s %s: %d of %d windows completed", res.Run.RunID, res.Run.Status, t.Totals.Completed, t.Totals.Windows)
		fmt.Fprintf(stdout, ", %d records at the source, %d inserted, %d updated, %d unchanged\n", t.Totals.SourceCount, t.Totals.Inserted, t.Totals.Updated, t.Totals.Unchanged)
		if res.ReportDir != "" {
			fmt.Fprintf(stdout, "report: %s\n", filepath.Join(res.ReportDir, "report.html"))
		}
	}
	return res, err
}

// classifyRunError maps a run's failure to its documented exit code.
func classifyRunError(err error) error {
	if err == nil {
		return nil
	}
	var ce *run.ConfigError
	var are *state.AlreadyRunningError
	switch {
	case errors.As(err, &are):
		return withCode(exitAlreadyRunning, err)
	case retry.ClassOf(err) == retry.Reauthorize:
		return withCode(exitReauthorize, err)
	case errors.As(err, &ce), isDatabaseConfigError(err):
		return withCode(exitConfig, err)
	case errors.Is(err, context.Canceled):
		return withCode(exitInterrupted, fmt.Errorf("interrupted; run the same command again to resume: %w", err))
	}
	return withCode(exitFailed, fmt.Errorf("%w\nrun the same command again to resume: completed windows are kept", err))
}

// isDatabaseConfigError tells failures that running again cannot fix: the
// database refused the credentials (SQLSTATE class 28) or does not exist
// (3D000). They are configuration errors, not resumable failures.
func isDatabaseConfigError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return strings.HasPrefix(pgErr.Code, "28") || pgErr.Code == "3D000"
}

func newProgress(mode string, w io.Writer, log *slog.Logger, a *app) (run.Progress, error) {
	isTerm := false
	if f, ok := w.(*os.File); ok {
		isTerm = term.IsTerminal(int(f.Fd()))
	}
	switch mode {
	case "auto":
		if isTerm {
			return run.NewBar(logging.RedactingWriter(w, a.redactor)), nil
		}
		return &run.LogProgress{Log: log}, nil
	case "bar":
		return run.NewBar(logging.RedactingWriter(w, a.redactor)), nil
	case "log":
		return &run.LogProgress{Log: log}, nil
	case "none":
		return nil, nil
	}
	return nil, fmt.Errorf("--progress %q: use auto, bar, log or none", mode)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/etl-engine/etl/connectors/postgres"
	"github.com/etl-engine/etl/engine/report"
	"github.com/etl-engine/etl/engine/state"
)

func newMigrateCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the raw tables and the engine's state tables",
		Long: `Apply the embedded migrations to the database named by POSTGRES_HOST,
POSTGRES_PORT, POSTGRES_DB, POSTGRES_USER and POSTGRES_PASSWORD (see
docs/SECRETS.md): schema raw with qb_customers, qb_invoices and qb_items,
and schema etl with runs, windows, leases, credentials and trigger
completions. Safe to run twice, and from two processes at once. etl run
also applies them when the schema is behind.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			db, err := a.openDB(ctx, cmd.ErrOrStderr(), false)
			if err != nil {
				return err
			}
			defer db.Close()
			before, err := postgres.CurrentSchemaVersion(ctx, db.Pool())
			if err != nil {
				return withCode(exitFailed, err)
			}
			if err := db.Migrate(ctx); err != nil {
				return withCode(exitFailed, err)
			}
			after, err := postgres.CurrentSchemaVersion(ctx, db.Pool())
			if err != nil {
				return withCode(exitFailed, err)
			}
			if before.Current == after.Current {
				fmt.Fprintf(cmd.OutOrStdout(), "schema is up to date (version %d)\n", after.Current)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "schema migrated from version %d to %d\n", before.Current, after.Current)
			}
			return nil
		},
	}
}

func newStatusCmd(a *app) *cobra.Command {
	var limit int
	var runID string
	cmd := &cobra.Command{
		Use:   "status [PIPELINE]",
		Short: "Show recent runs, or the windows of one run",
		Long: `Show the latest runs (all pipelines, or one by name) with their status and
window counts, read from the database's etl schema. With --run, show every
window of that run: its range, status, attempts and counts.`,
		Example: `  etl status
  etl status qb_invoices_backfill --limit 5
  etl status --run 20261204T235900Z-a1b2c3`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			db, err := a.openDB(ctx, cmd.ErrOrStderr(), true)
			if err != nil {
				return err
			}
			defer db.Close()
			st := db.State()
			out := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			defer out.Flush()
			if runID != "" {
				run, ws, err := loadRun(ctx, st, runID)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "run %s of %s: %s, started %s\n", run.RunID, run.Pipeline, run.Status, run.StartedAt.UTC().Format(time.RFC3339))
				if run.Error != "" {
					fmt.Fprintf(out, "error: %s\n", run.Error)
				}
				fmt.Fprintln(out, "#\tstart (UTC)\tend (UTC)\tstatus\tattempts\tsource count\tfetched\tinserted\tupdated\tunchanged\tretries\t429s\tduration\terror")
				for _, w := range ws {
					fmt.Fprintf(out, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", w.Index,
						w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339), w.Status, w.Attempts,
						w.SourceCount, w.Fetched, w.Inserted, w.Updated, w.Unchanged, w.Retries, w.Throttled,
						w.Duration.Round(time.Millisecond), firstLine(w.Error))
				}
				return nil
			}
			pipeline := ""
			if len(args) == 1 {
				pipeline = args[0]
			}
			runs, err := st.Runs(ctx, pipeline, limit)
			if err != nil {
				return withCode(exitFailed, err)
			}
			if len(runs) == 0 {
				fmt.Fprintln(out, "no runs yet")
				return nil
			}
			fmt.Fprintln(out, "run id\tpipeline\tstatus\tstarted (UTC)\tfinished (UTC)\twindows done\trecords\ttrigger")
			for _, r := range runs {
				ws, err := st.Windows(ctx, r.RunID)
				if err != nil {
					return withCode(exitFailed, err)
				}
				done, records := 0, int64(0)
				for _, w := range ws {
					if w.Status == state.WindowCompleted {
						done++
						records += w.SourceCount
					}
				}
				finished := "-"
				if r.FinishedAt != nil {
					finished = r.FinishedAt.UTC().Format(time.RFC3339)
				}
				trig := r.Trigger
				if trig == "" {
					trig = "-"
				}
				fmt.Fprintf(out, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%d\t%s\n", r.RunID, r.Pipeline, r.Status,
					r.StartedAt.UTC().Format(time.RFC3339), finished, done, len(ws), records, trig)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 10, "how many runs to show")
	cmd.Flags().StringVar(&runID, "run", "", "show the windows of this run")
	return cmd
}

func newReportCmd(a *app) *cobra.Command {
	var format, outDir string
	cmd := &cobra.Command{
		Use:   "report RUN_ID",
		Short: "Print a run's volumetry report, rebuilt from the database",
		Long: `Rebuild a run's volumetry and validation report from the windows stored in
the database, and print it (Markdown by default, or JSON or HTML). With
--out, write report.json, report.md and report.html into that folder. The
report archived at the end of the run, under evidence/<pipeline>/<run_id>/,
also holds the destination table's totals.`,
		Example: `  etl report 20261204T235900Z-a1b2c3
  etl report 20261204T235900Z-a1b2c3 --format json
  etl report 20261204T235900Z-a1b2c3 --out /tmp/evidence`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			db, err := a.openDB(ctx, cmd.ErrOrStderr(), true)
			if err != nil {
				return err
			}
			defer db.Close()
			run, ws, err := loadRun(ctx, db.State(), args[0])
			if err != nil {
				return err
			}
			in := report.Input{Run: run, Pipeline: run.Pipeline, Params: run.Params, Windows: ws, Now: time.Now()}
			if len(ws) > 0 {
				in.StartUTC, in.EndUTC = ws[0].Start, ws[len(ws)-1].End
			}
			rep := report.Build(in)
			if outDir != "" {
				if err := rep.Write(outDir, a.redactor.Redact); err != nil {
					return withCode(exitFailed, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s/report.json, report.md and report.html\n", outDir)
				return nil
			}
			var data []byte
			switch format {
			case "md":
				data, err = rep.Markdown()
			case "json":
				data, err = rep.JSON()
			case "html":
				data, err = rep.HTML()
			default:
				return withCode(exitConfig, fmt.Errorf("--format %q: use md, json or html", format))
			}
			if err != nil {
				return withCode(exitFailed, err)
			}
			_, err = cmd.OutOrStdout().Write([]byte(a.redactor.Redact(string(data))))
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "md", "output format: md, json or html")
	cmd.Flags().StringVar(&outDir, "out", "", "write the three report files into this folder instead")
	return cmd
}

// loadRun reads a run and its windows; an unknown run id is a usage error.
func loadRun(ctx context.Context, st *postgres.Store, runID string) (state.Run, []state.WindowState, error) {
	run, err := st.Run(ctx, runID)
	if errors.Is(err, postgres.ErrRunNotFound) {
		return run, nil, withCode(exitConfig, fmt.Errorf("no run %s in the database (see etl status)", runID))
	}
	if err != nil {
		return run, nil, withCode(exitFailed, err)
	}
	ws, err := st.Windows(ctx, runID)
	if err != nil {
		return run, nil, withCode(exitFailed, err)
	}
	return run, ws, nil
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/etl-engine/etl/connectors/postgres"
	"github.com/etl-engine/etl/engine/config"
	"github.com/etl-engine/etl/engine/trigger"
)

func newTriggersCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "triggers",
		Short: "List, fire, serve and reset trigger files",
		Long: `Triggers are files in triggers/ that run a pipeline once at an instant
(type: once, run_at) or on a cron schedule (type: cron, schedule, timezone).
A one-time trigger flips to status: completed after a successful run; the
completion is also recorded in the database in the same transaction as the
run's end, so a crash never runs the back-fill twice. See docs/TRIGGERS.md.`,
	}
	cmd.AddCommand(newTriggersListCmd(a), newTriggersFireCmd(a), newTriggersServeCmd(a), newTriggersResetCmd(a))
	return cmd
}

// triggerRunner runs a trigger's pipeline in this process.
type triggerRunner struct {
	a              *app
	stderr, stdout io.Writer
	flags          runFlags
}

// Fire implements trigger.Runner.
func (r *triggerRunner) Fire(ctx context.Context, t *config.Trigger) (string, error) {
	p, ds := config.LoadPipeline(t.PipelinePath)
	if p == nil || ds.HasErrors() {
		return "", fmt.Errorf("pipeline %s: %w", t.PipelinePath, ds.Err())
	}
	b := &config.Binder{Mode: config.BindRun, Secrets: r.a.secrets(), LookupEnv: r.a.lookupEnv}
	bound, bds := b.Bind(p, t.Params)
	if bound == nil || bds.HasErrors() {
		return "", fmt.Errorf("trigger %s: %w", t.Name, bds.Err())
	}
	for _, s := range bound.Secrets {
		r.a.redactor.Add(s.Reveal())
	}
	res, err := r.a.executeBound(ctx, r.stderr, r.stdout, bound, r.flags, t.Name, t.Type == config.TriggerOnce)
	if res != nil {
		return res.Run.RunID, err
	}
	return "", err
}

func triggerRunFlags() runFlags {
	return runFlags{evidenceDir: "evidence", progress: "log", leaseTTL: 30 * time.Second}
}

// scheduler builds a scheduler of dir whose runs execute in this process,
// with the database's trigger completions. closeDB releases the database.
func (a *app) scheduler(cmd *cobra.Command, dir string, f runFlags) (s *trigger.Scheduler, closeDB func(), err error) {
	db, err := a.openDB(cmd.Context(), cmd.ErrOrStderr(), true)
	if err != nil {
		return nil, nil, err
	}
	log, err := a.logger(cmd.ErrOrStderr())
	if err != nil {
		db.Close()
		return nil, nil, withCode(exitConfig, err)
	}
	s = &trigger.Scheduler{Dir: dir, Log: log, Completions: db.State(),
		Runner: &triggerRunner{a: a, stderr: cmd.ErrOrStderr(), stdout: cmd.OutOrStdout(), flags: f}}
	return s, db.Close, nil
}

func newTriggersListCmd(a *app) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List triggers: status, last run, next fire time (UTC and America/Guayaquil)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			files, err := triggerFiles(dir)
			if err != nil {
				return withCode(exitConfig, err)
			}
			var store *postgres.Store
			if db, err := a.openDB(ctx, io.Discard, false); err == nil {
				defer db.Close()
				store = db.State()
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: database not reachable, last runs are not shown (%s)\n", firstLine(a.redactor.Redact(err.Error())))
			}
			now := time.Now()
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			defer w.Flush()
			fmt.Fprintln(w, "trigger\ttype\tstatus\tpipeline\tnext fire (UTC)\tnext fire (America/Guayaquil)\tlast run\tfile")
			for _, f := range files {
				t, ds := config.LoadTrigger(f)
				if t == nil || ds.HasErrors() {
					fmt.Fprintf(w, "?\t?\tinvalid\t-\t-\t-\t-\t%s\n", f)
					continue
				}
				next, nextLocal := "-", "-"
				if t.Status == config.StatusActive {
					var at time.Time
					switch t.Type {
					case config.TriggerOnce:
						at = t.RunAt
					case config.TriggerCron:
						if t.Schedule != nil {
							at = t.Schedule.Next(now.In(t.Location))
						}
					}
					if !at.IsZero() {
						next, nextLocal = at.UTC().Format(time.RFC3339), trigger.LocalTime(at)
						if t.Type == config.TriggerOnce && at.Before(now) {
							next += " (due)"
						}
					}
				}
				last := "-"
				if store != nil {
					if id, status, _, ok, err := store.LastRunOfTrigger(ctx, t.Name); err == nil && ok {
						last = id + " " + status
					}
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Type, t.Status, t.PipelineFile, next, nextLocal, last, f)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "triggers", "folder of trigger files")
	return cmd
}

func newTriggersFireCmd(a *app) *cobra.Command {
	f := triggerRunFlags()
	cmd := &cobra.Command{
		Use:   "fire FILE",
		Short: "Run a trigger's pipeline now, whatever its run_at or schedule",
		Long: `Run the trigger's pipeline now with the trigger's params, and record the
outcome in the file as the scheduler would: a one-time trigger flips to
status: completed (with completed_at and run_id) after a successful run; a
failed run leaves it active with last_error. Completed and disabled
triggers are refused (see etl triggers reset).`,
		Example: `  etl triggers fire triggers/qb_items_backfill_once.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, closeDB, err := a.scheduler(cmd, filepath.Dir(args[0]), f)
			if err != nil {
				return err
			}
			defer closeDB()
			_, err = s.FireNow(cmd.Context(), args[0])
			if errors.Is(err, trigger.ErrNotActive) {
				return withCode(exitConfig, err)
			}
			return classifyRunError(err)
		},
	}
	cmd.Flags().StringVar(&f.evidenceDir, "evidence-dir", f.evidenceDir, "root folder of the evidence archive")
	cmd.Flags().StringVar(&f.progress, "progress", "auto", "progress display: auto, bar, log or none")
	return cmd
}

func newTriggersServeCmd(a *app) *cobra.Command {
	f := triggerRunFlags()
	var dir string
	var poll time.Duration
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the scheduler: fire due triggers until stopped",
		Long: `Run the scheduler daemon. Every --poll it rescans --dir (edited and added
files are picked up without a restart) and fires the triggers that are due:
one-time triggers at or after run_at (a run_at missed while no scheduler
ran fires at start-up when catchup is run, the default, or disables the
trigger when catchup is skip), cron triggers at their schedule in their time
zone. Each decision is logged. SIGINT or SIGTERM stops it gracefully: runs in
flight stop at a safe point and resume at the next start. Several schedulers
on the same files and database fire each trigger once.`,
		Example: `  etl triggers serve --dir triggers`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := os.Stat(dir); err != nil {
				return withCode(exitConfig, fmt.Errorf("--dir %s: %w", dir, err))
			}
			s, closeDB, err := a.scheduler(cmd, dir, f)
			if err != nil {
				return err
			}
			defer closeDB()
			s.Poll = poll
			log := s.Log
			// ETL_FAILPOINT=after_run_commit kills the process after a run
			// committed and before the trigger file is rewritten: the crash
			// tests use it to prove the next start completes the flip
			// without running the back-fill again.
			if os.Getenv("ETL_FAILPOINT") == "after_run_commit" {
				s.AfterRun = func(t *config.Trigger, runID string, err error) {
					if err == nil {
						log.Warn("failpoint after_run_commit: killing the process", "trigger", t.Name, "run_id", runID)
						_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
						select {}
					}
				}
			}
			return s.Serve(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "triggers", "folder of trigger files")
	cmd.Flags().DurationVar(&poll, "poll", 5*time.Second, "how often to rescan the folder and check for due triggers")
	cmd.Flags().StringVar(&f.evidenceDir, "evidence-dir", f.evidenceDir, "root folder of the evidence archive")
	return cmd
}

func newTriggersResetCmd(a *app) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "reset FILE",
		Short: "Make a completed one-time trigger active again (asks first)",
		Long: `Make a completed (or disabled) trigger active again: its file gets
status: active without completed_at, run_id and last_error, and its
completion record is removed from the database. Its back-fill then runs
again at run_at, or at the scheduler's next check if run_at has passed.
It asks for the trigger's name as confirmation unless --yes is given.
To keep the history of the first run, copy the file under a new name and
edit name, run_at and status instead.`,
		Example: `  etl triggers reset triggers/qb_items_backfill_once.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, ds := config.LoadTrigger(args[0])
			if t == nil || ds.HasErrors() {
				printDiags(cmd.ErrOrStderr(), ds)
				return withCode(exitConfig, fmt.Errorf("%s has errors", args[0]))
			}
			if !yes {
				in, ok := cmd.InOrStdin().(*os.File)
				if ok && !term.IsTerminal(int(in.Fd())) && in == os.Stdin {
					return withCode(exitConfig, errors.New("not a terminal: pass --yes to reset without asking"))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Trigger %s is %s", t.Name, t.Status)
				if t.RunID != "" {
					fmt.Fprintf(cmd.OutOrStdout(), " (run %s)", t.RunID)
				}
				fmt.Fprintf(cmd.OutOrStdout(), ". Resetting it runs its back-fill again.\nType the trigger's name to confirm: ")
				answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if strings.TrimSpace(answer) != t.Name {
					return withCode(exitConfig, errors.New("not confirmed; nothing changed"))
				}
			}
			db, err := a.openDB(ctx, cmd.ErrOrStderr(), true)
			if err != nil {
				return err
			}
			defer db.Close()
			had, err := db.State().ForgetCompletion(ctx, t.Name)
			if err != nil {
				return withCode(exitFailed, err)
			}
			if err := trigger.Reset(args[0]); err != nil {
				return withCode(exitFailed, err)
			}
			msg := "trigger %s is active again"
			if had {
				msg += " (its completion record was removed from the database)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), msg+"\n", t.Name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return cmd
}

func triggerFiles(dir string) ([]string, error) {
	var out []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return nil, err
		}
		out = append(out, m...)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("--dir %s: %w", dir, err)
	}
	slices.Sort(out)
	return out, nil
}

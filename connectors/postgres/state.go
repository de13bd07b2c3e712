package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/etl-engine/etl/engine/plan"
	"github.com/etl-engine/etl/engine/state"
)

// ErrRunNotFound is returned by Run for an unknown run id.
var ErrRunNotFound = errors.New("run not found")

// Store is the engine's state (runs, windows, leases, credentials) kept in
// the etl schema, next to the data, so that a window's rows and its
// checkpoint commit in one transaction.
type Store struct {
	db    *DB
	proc  processInfo
	creds *Credentials
}

var _ state.Store = (*Store)(nil)

func newStore(db *DB) *Store {
	s := &Store{db: db, proc: currentProcess()}
	s.creds = &Credentials{db: db}
	return s
}

// Credentials returns the credential store.
func (s *Store) Credentials() state.CredentialStore { return s.creds }

// NewRunID returns a run id that sorts by start time:
// 20261203T130501Z-<6 random hex digits>.
func NewRunID(t time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// StartRun resumes the latest unfinished run of spec.Pipeline with the same
// plan key, unless spec.Fresh, or creates a new run with the lease's run id
// and every window pending. A resumed run keeps its completed windows and
// puts its running and failed ones back to pending; the lease then covers
// the resumed run's id (Run.RunRef and lease.Ref agree). Both happen under
// the lease's fence. With spec.TriggerOnce, a trigger already recorded as
// completed is refused with an error wrapping state.ErrTriggerCompleted.
func (s *Store) StartRun(ctx context.Context, lease state.Lease, spec state.RunSpec) (state.Run, error) {
	ref := lease.Ref()
	if spec.Pipeline == "" {
		spec.Pipeline = ref.Pipeline
	}
	if err := checkSpec(ref, spec); err != nil {
		return state.Run{}, err
	}
	var run state.Run
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if err := checkFence(ctx, tx, ref, false); err != nil {
			return err
		}
		if spec.TriggerOnce && spec.Trigger != "" {
			if err := checkTrigger(ctx, tx, spec.Trigger); err != nil {
				return err
			}
		}
		if !spec.Fresh {
			var err error
			run, err = s.resume(ctx, tx, ref, spec)
			if err == nil || !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		var err error
		run, err = s.create(ctx, tx, ref, spec)
		return err
	})
	if errors.Is(err, state.ErrTriggerCompleted) {
		return state.Run{}, err
	}
	if err != nil {
		return state.Run{}, classify(fmt.Errorf("start run of pipeline %s: %w", spec.Pipeline, err))
	}
	if l, ok := lease.(*Lease); ok && run.RunID != ref.RunID {
		l.setRunID(run.RunID)
	}
	verb := "run started"
	if run.Resumed {
		verb = "run resumed"
	}
	s.db.log.Info(verb, "pipeline", spec.Pipeline, "run_id", run.RunID, "windows", len(spec.Windows))
	return run, nil
}

// checkTrigger refuses a one-time trigger that already completed.
func checkTrigger(ctx context.Context, tx pgx.Tx, trigger string) error {
	var runID string
	var at time.Time
	err := tx.QueryRow(ctx, "SELECT coalesce(run_id, ''), completed_at FROM etl.trigger_completions WHERE trigger = $1", trigger).Scan(&runID, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: trigger %s was completed by run %s at %s", state.ErrTriggerCompleted, trigger, runID, at.UTC().Format(time.RFC3339))
}

func checkSpec(ref state.RunRef, spec state.RunSpec) error {
	switch {
	case spec.Pipeline != ref.Pipeline:
		return fmt.Errorf("start run: spec is for pipeline %s but the lease is for %s", spec.Pipeline, ref.Pipeline)
	case spec.PlanKey == "":
		return fmt.Errorf("start run of pipeline %s: plan key is empty", spec.Pipeline)
	case len(spec.Windows) == 0:
		return fmt.Errorf("start run of pipeline %s: the plan has no windows", spec.Pipeline)
	}
	for i, w := range spec.Windows {
		if w.Index != i || !w.End.After(w.Start) {
			return fmt.Errorf("start run of pipeline %s: window %d %s is out of order or empty", spec.Pipeline, i, w)
		}
	}
	return nil
}

// resume picks up the latest unfinished run with the same plan key, or
// returns pgx.ErrNoRows.
func (s *Store) resume(ctx context.Context, tx pgx.Tx, ref state.RunRef, spec state.RunSpec) (state.Run, error) {
	var runID string
	err := tx.QueryRow(ctx, `
		SELECT run_id FROM etl.runs
		WHERE pipeline = $1 AND plan_key = $2 AND status <> 'completed'
		ORDER BY started_at DESC, run_id DESC
		LIMIT 1
		FOR UPDATE`, spec.Pipeline, spec.PlanKey).Scan(&runID)
	if err != nil {
		return state.Run{}, err
	}
	stored, err := windowBounds(ctx, tx, runID)
	if err != nil {
		return state.Run{}, err
	}
	if !sameWindows(stored, spec.Windows) {
		return state.Run{}, fmt.Errorf("run %s has the same plan key but other windows (%d stored, %d planned); start a fresh run",
			runID, len(stored), len(spec.Windows))
	}
	if _, err := tx.Exec(ctx, `
		UPDATE etl.windows SET status = 'pending', updated_at = now()
		WHERE run_id = $1 AND status IN ('running', 'failed')`, runID); err != nil {
		return state.Run{}, err
	}
	if _, err := tx.Exec(ctx, `
		UPDATE etl.runs
		SET status = 'running', finished_at = NULL, error = NULL, owner = $2, fence = $3,
		    resumes = resumes + 1, updated_at = now(),
		    trigger = coalesce(NULLIF($4, ''), trigger),
		    trigger_once = CASE WHEN $4 = '' THEN trigger_once ELSE $5 END
		WHERE run_id = $1`, runID, s.proc.owner, ref.Fence, spec.Trigger, spec.TriggerOnce); err != nil {
		return state.Run{}, err
	}
	if err := moveLease(ctx, tx, ref, runID); err != nil {
		return state.Run{}, err
	}
	run, err := scanRun(tx.QueryRow(ctx, selectRun+" WHERE run_id = $1", runID))
	if err != nil {
		return state.Run{}, err
	}
	run.Fence = ref.Fence
	run.Resumed = true
	return run, nil
}

// create inserts a new run and its windows, all pending.
func (s *Store) create(ctx context.Context, tx pgx.Tx, ref state.RunRef, spec state.RunSpec) (state.Run, error) {
	runID := ref.RunID
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM etl.runs WHERE run_id = $1)", runID).Scan(&exists); err != nil {
		return state.Run{}, err
	}
	if exists {
		runID = NewRunID(time.Now())
	}
	params := spec.Params
	if params == nil {
		params = map[string]string{}
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO etl.runs (run_id, pipeline, plan_key, status, params, trigger, trigger_once, owner, fence, windows_total)
		VALUES ($1, $2, $3, 'running', $4, NULLIF($5, ''), $6 AND $5 <> '', $7, $8, $9)`,
		runID, spec.Pipeline, spec.PlanKey, params, spec.Trigger, spec.TriggerOnce, s.proc.owner, ref.Fence, len(spec.Windows)); err != nil {
		return state.Run{}, err
	}
	idx := make([]int32, len(spec.Windows))
	starts := make([]time.Time, len(spec.Windows))
	ends := make([]time.Time, len(spec.Windows))
	for i, w := range spec.Windows {
		idx[i], starts[i], ends[i] = int32(w.Index), w.Start.UTC(), w.End.UTC()
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO etl.windows (run_id, idx, start_utc, end_utc)
		SELECT $1, w.idx, w.start_utc, w.end_utc
		FROM unnest($2::int[], $3::timestamptz[], $4::timestamptz[]) AS w (idx, start_utc, end_utc)`,
		runID, idx, starts, ends); err != nil {
		return state.Run{}, err
	}
	if runID != ref.RunID {
		if err := moveLease(ctx, tx, ref, runID); err != nil {
			return state.Run{}, err
		}
	}
	run, err := scanRun(tx.QueryRow(ctx, selectRun+" WHERE run_id = $1", runID))
	if err != nil {
		return state.Run{}, err
	}
	run.Fence = ref.Fence
	return run, nil
}

// moveLease points the lease row (under ref's fence) at run id.
func moveLease(ctx context.Context, tx pgx.Tx, ref state.RunRef, runID string) error {
	tag, err := tx.Exec(ctx, "UPDATE etl.leases SET run_id = $3 WHERE pipeline = $1 AND fence = $2", ref.Pipeline, ref.Fence, runID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("%w: pipeline %s", state.ErrLeaseLost, ref.Pipeline)
	}
	return nil
}

func windowBounds(ctx context.Context, tx pgx.Tx, runID string) ([]plan.Window, error) {
	rows, _ := tx.Query(ctx, "SELECT idx, start_utc, end_utc FROM etl.windows WHERE run_id = $1 ORDER BY idx", runID)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (plan.Window, error) {
		var w plan.Window
		err := r.Scan(&w.Index, &w.Start, &w.End)
		return w, err
	})
}

func sameWindows(a, b []plan.Window) bool {
	return slices.EqualFunc(a, b, func(x, y plan.Window) bool {
		return x.Index == y.Index && x.Start.Equal(y.Start) && x.End.Equal(y.End)
	})
}

// Windows returns the run's windows in order.
func (s *Store) Windows(ctx context.Context, runID string) ([]state.WindowState, error) {
	rows, _ := s.db.pool.Query(ctx, `
		SELECT idx, start_utc, end_utc, status, attempts, source_count, pages, fetched, distinct_ids,
		       inserted, updated, unchanged, stale, duplicates, retries, throttled, moved_out,
		       duration_ms, coalesce(error, ''), updated_at
		FROM etl.windows WHERE run_id = $1 ORDER BY idx`, runID)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (state.WindowState, error) {
		var w state.WindowState
		var durationMS int64
		err := r.Scan(&w.Index, &w.Start, &w.End, &w.Status, &w.Attempts, &w.SourceCount, &w.Pages, &w.Fetched,
			&w.Distinct, &w.Inserted, &w.Updated, &w.Unchanged, &w.Stale, &w.Duplicates, &w.Retries, &w.Throttled,
			&w.MovedOut, &durationMS, &w.Error, &w.UpdatedAt)
		w.Start, w.End, w.UpdatedAt = w.Start.UTC(), w.End.UTC(), w.UpdatedAt.UTC()
		w.Duration = time.Duration(durationMS) * time.Millisecond
		return w, err
	})
	if err != nil {
		return nil, classify(fmt.Errorf("windows of run %s: %w", runID, err))
	}
	return out, nil
}

// MarkWindow records that a window is running (counting an attempt), failed
// (with errMsg) or pending again. Completed windows are recorded only by
// the exporter's Commit, and are never moved back by MarkWindow. It returns
// an error wrapping state.ErrLeaseLost when ref no longer holds the lease.
func (s *Store) MarkWindow(ctx context.Context, ref state.RunRef, index int, status state.WindowStatus, errMsg string) error {
	switch status {
	case state.WindowRunning, state.WindowFailed, state.WindowPending:
	default:
		return fmt.Errorf("mark window %d of run %s: status %q cannot be set here (completed windows are committed by the exporter)", index, ref.RunID, status)
	}
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if err := checkFence(ctx, tx, ref, false); err != nil {
			return err
		}
		var current string
		err := tx.QueryRow(ctx, `
			UPDATE etl.windows w
			SET status = CASE WHEN w.status = 'completed' THEN w.status ELSE $3 END,
			    attempts = w.attempts + CASE WHEN w.status <> 'completed' AND $3 = 'running' THEN 1 ELSE 0 END,
			    started_at = CASE WHEN w.status <> 'completed' AND $3 = 'running' THEN now() ELSE w.started_at END,
			    error = CASE WHEN w.status <> 'completed' AND $3 = 'failed' THEN NULLIF($4, '') ELSE w.error END,
			    updated_at = CASE WHEN w.status = 'completed' THEN w.updated_at ELSE now() END
			WHERE run_id = $1 AND idx = $2
			RETURNING w.status`, ref.RunID, index, string(status), errMsg).Scan(&current)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("run %s has no window %d", ref.RunID, index)
		}
		return err
	})
	if err != nil {
		return classify(fmt.Errorf("mark window %d of run %s %s: %w", index, ref.RunID, status, err))
	}
	return nil
}

// FinishRun records the run's end. A run is marked completed only when all
// its windows are; completing a run of a one-time trigger records the
// trigger's completion in the same transaction. It returns an error
// wrapping state.ErrLeaseLost when another run took the lease over
// meanwhile.
func (s *Store) FinishRun(ctx context.Context, ref state.RunRef, status state.RunStatus, errMsg string) error {
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if err := checkFence(ctx, tx, ref, true); err != nil {
			return err
		}
		if status == state.RunCompleted {
			var open int64
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM etl.windows WHERE run_id = $1 AND status <> 'completed'", ref.RunID).Scan(&open); err != nil {
				return err
			}
			if open > 0 {
				return fmt.Errorf("%d windows are not completed", open)
			}
		}
		tag, err := tx.Exec(ctx, `
			UPDATE etl.runs
			SET status = $2, error = NULLIF($3, ''),
			    finished_at = CASE WHEN $2 = 'running' THEN NULL ELSE now() END,
			    updated_at = now()
			WHERE run_id = $1`, ref.RunID, string(status), errMsg)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrRunNotFound
		}
		if status == state.RunCompleted {
			_, err = tx.Exec(ctx, `
				INSERT INTO etl.trigger_completions (trigger, run_id, completed_at)
				SELECT trigger, run_id, now() FROM etl.runs
				WHERE run_id = $1 AND trigger_once AND trigger IS NOT NULL
				ON CONFLICT (trigger) DO NOTHING`, ref.RunID)
		}
		return err
	})
	if err != nil {
		return classify(fmt.Errorf("finish run %s as %s: %w", ref.RunID, status, err))
	}
	return nil
}

const selectRun = `
	SELECT run_id, pipeline, coalesce(fence, 0), plan_key, status, params, started_at, finished_at,
	       coalesce(error, ''), coalesce(trigger, ''), resumes > 0
	FROM etl.runs`

func scanRun(row pgx.Row) (state.Run, error) {
	var r state.Run
	var finished *time.Time
	err := row.Scan(&r.RunID, &r.Pipeline, &r.Fence, &r.PlanKey, &r.Status, &r.Params, &r.StartedAt, &finished,
		&r.Error, &r.Trigger, &r.Resumed)
	r.StartedAt = r.StartedAt.UTC()
	if finished != nil {
		t := finished.UTC()
		r.FinishedAt = &t
	}
	return r, err
}

// Run returns one run, or an error wrapping ErrRunNotFound.
func (s *Store) Run(ctx context.Context, runID string) (state.Run, error) {
	r, err := scanRun(s.db.pool.QueryRow(ctx, selectRun+" WHERE run_id = $1", runID))
	if errors.Is(err, pgx.ErrNoRows) {
		return state.Run{}, fmt.Errorf("run %s: %w", runID, ErrRunNotFound)
	}
	if err != nil {
		return state.Run{}, classify(fmt.Errorf("run %s: %w", runID, err))
	}
	return r, nil
}

// DefaultRunsLimit is used by Runs when limit is not positive.
const DefaultRunsLimit = 50

// Runs returns the latest runs, newest first, of one pipeline or of all
// when pipeline is empty.
func (s *Store) Runs(ctx context.Context, pipeline string, limit int) ([]state.Run, error) {
	if limit <= 0 {
		limit = DefaultRunsLimit
	}
	rows, _ := s.db.pool.Query(ctx, selectRun+`
		WHERE $1 = '' OR pipeline = $1
		ORDER BY started_at DESC, run_id DESC
		LIMIT $2`, pipeline, limit)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (state.Run, error) { return scanRun(r) })
	if err != nil {
		return nil, classify(fmt.Errorf("runs of pipeline %q: %w", pipeline, err))
	}
	return out, nil
}

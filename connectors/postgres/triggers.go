package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Completion returns the run that completed the one-time trigger name, as
// recorded in the same transaction as that run's end.
func (s *Store) Completion(ctx context.Context, name string) (runID string, at time.Time, ok bool, err error) {
	err = s.db.pool.QueryRow(ctx,
		"SELECT coalesce(run_id, ''), completed_at FROM etl.trigger_completions WHERE trigger = $1", name).Scan(&runID, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, classify(fmt.Errorf("reading the completion of trigger %s: %w", name, err))
	}
	return runID, at, true, nil
}

// ForgetCompletion deletes the completion record of trigger name, so that
// it can run again (etl triggers reset). It reports whether there was one.
func (s *Store) ForgetCompletion(ctx context.Context, name string) (bool, error) {
	tag, err := s.db.pool.Exec(ctx, "DELETE FROM etl.trigger_completions WHERE trigger = $1", name)
	if err != nil {
		return false, classify(fmt.Errorf("forgetting the completion of trigger %s: %w", name, err))
	}
	return tag.RowsAffected() > 0, nil
}

// LastRunOfTrigger returns the newest run started by trigger name.
func (s *Store) LastRunOfTrigger(ctx context.Context, name string) (runID, status string, started time.Time, ok bool, err error) {
	err = s.db.pool.QueryRow(ctx,
		"SELECT run_id, status, started_at FROM etl.runs WHERE trigger = $1 ORDER BY started_at DESC LIMIT 1", name).Scan(&runID, &status, &started)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", time.Time{}, false, nil
	}
	if err != nil {
		return "", "", time.Time{}, false, classify(fmt.Errorf("reading the runs of trigger %s: %w", name, err))
	}
	return runID, status, started, true, nil
}

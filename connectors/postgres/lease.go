package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/etl-engine/etl/engine/state"
)

// DefaultLeaseTTL is used when Acquire is given no positive ttl.
const DefaultLeaseTTL = time.Minute

// releaseTimeout bounds Release.
const releaseTimeout = 10 * time.Second

// Acquire takes the pipeline's lease for runID (a new sortable run id when
// empty) for ttl, renewed every ttl/3 until Release. The lease is taken over,
// with a fencing token one higher, when its holder released it, let it
// expire, or is a process on this host that no longer exists. Otherwise
// Acquire returns an *state.AlreadyRunningError naming the holder's run.
func (s *Store) Acquire(ctx context.Context, pipeline, runID string, ttl time.Duration) (state.Lease, error) {
	if pipeline == "" {
		return nil, errors.New("acquire lease: pipeline name is empty")
	}
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	if runID == "" {
		runID = NewRunID(time.Now())
	}
	me := s.proc
	var fence int64
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO etl.leases (pipeline, run_id, owner, host, pid, process, fence,
			                        acquired_at, heartbeat_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, 1, now(), now(), now() + $7 * interval '1 microsecond')
			ON CONFLICT (pipeline) DO NOTHING
			RETURNING fence`,
			pipeline, runID, me.owner, me.host, me.pid, me.id, ttl.Microseconds()).Scan(&fence)
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var h holder
		err = tx.QueryRow(ctx, `
			SELECT run_id, owner, host, pid, process, fence, expires_at,
			       released_at IS NOT NULL, expires_at < now()
			FROM etl.leases WHERE pipeline = $1 FOR UPDATE`, pipeline).
			Scan(&h.runID, &h.owner, &h.host, &h.pid, &h.process, &h.fence, &h.expiresAt, &h.released, &h.expired)
		if err != nil {
			return err
		}
		switch {
		case h.released, h.expired:
		case h.host == me.host && !alive(h.pid, h.process):
			s.db.log.Warn("taking over the lease of a process that no longer runs",
				"pipeline", pipeline, "holder_run", h.runID, "holder", h.owner)
		default:
			return &state.AlreadyRunningError{Pipeline: pipeline, HolderRunID: h.runID, Owner: h.owner, ExpiresAt: h.expiresAt}
		}
		return tx.QueryRow(ctx, `
			UPDATE etl.leases
			SET run_id = $2, owner = $3, host = $4, pid = $5, process = $6, fence = fence + 1,
			    acquired_at = now(), heartbeat_at = now(),
			    expires_at = now() + $7 * interval '1 microsecond', released_at = NULL
			WHERE pipeline = $1
			RETURNING fence`,
			pipeline, runID, me.owner, me.host, me.pid, me.id, ttl.Microseconds()).Scan(&fence)
	})
	if err != nil {
		if _, ok := errors.AsType[*state.AlreadyRunningError](err); ok {
			return nil, err
		}
		return nil, classify(fmt.Errorf("acquire lease of pipeline %s: %w", pipeline, err))
	}
	l := &Lease{
		store: s,
		log:   s.db.log.With("pipeline", pipeline, "fence", fence),
		ttl:   ttl,
		ref:   state.RunRef{RunID: runID, Pipeline: pipeline, Fence: fence},
		lost:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	hbCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	go l.heartbeat(hbCtx)
	l.log.Info("lease acquired", "run_id", runID)
	return l, nil
}

// holder is the current row of a lease.
type holder struct {
	runID, owner, host, process string
	pid                         int
	fence                       int64
	expiresAt                   time.Time
	released, expired           bool
}

// Lease is a held pipeline lease. A goroutine renews it every ttl/3.
type Lease struct {
	store  *Store
	log    *slog.Logger
	ttl    time.Duration
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	ref      state.RunRef
	released bool

	lost     chan struct{}
	lostOnce sync.Once
}

var _ state.Lease = (*Lease)(nil)

// Ref returns the run and fencing token the lease was taken for. After
// StartRun resumes an earlier run, RunID is that run's id.
func (l *Lease) Ref() state.RunRef {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ref
}

// Lost is closed when the lease was taken over by another run, or could not
// be renewed until it expired.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Release stops the renewals and marks the lease released, so that the next
// run takes it at once. Releasing twice, or a lease already taken over, does
// nothing. It still works when ctx is already cancelled (as on SIGTERM):
// it then allows itself releaseTimeout.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return nil
	}
	l.released = true
	ref := l.ref
	l.mu.Unlock()
	l.cancel()
	<-l.done
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	tag, err := l.store.db.pool.Exec(ctx, `
		UPDATE etl.leases SET released_at = now(), expires_at = now()
		WHERE pipeline = $1 AND fence = $2 AND released_at IS NULL`, ref.Pipeline, ref.Fence)
	if err != nil {
		return classify(fmt.Errorf("release lease of pipeline %s: %w", ref.Pipeline, err))
	}
	if tag.RowsAffected() == 0 {
		l.log.Warn("lease was already taken over when released")
		return nil
	}
	l.log.Info("lease released", "run_id", ref.RunID)
	return nil
}

// setRunID records that the lease now covers run id (after a resume).
func (l *Lease) setRunID(id string) {
	l.mu.Lock()
	l.ref.RunID = id
	l.mu.Unlock()
}

func (l *Lease) markLost(reason string, err error) {
	l.lostOnce.Do(func() {
		l.log.Error("lease lost", "reason", reason, "err", err)
		close(l.lost)
	})
}

// heartbeat renews the lease every ttl/3. A failed renewal is retried every
// second; once the lease has gone unrenewed for ttl it counts as lost. A
// renewal that finds another fence means the lease was taken over.
func (l *Lease) heartbeat(ctx context.Context) {
	defer close(l.done)
	interval := max(l.ttl/3, 10*time.Millisecond)
	validUntil := time.Now().Add(l.ttl)
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		started := time.Now()
		held, err := l.renew(ctx, min(interval, 10*time.Second))
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && !held:
			l.markLost("taken over by another run", state.ErrLeaseLost)
			return
		case err == nil:
			validUntil = started.Add(l.ttl)
			timer.Reset(interval)
		case time.Now().After(validUntil):
			l.markLost("not renewed before it expired", err)
			return
		default:
			l.log.Warn("lease renewal failed; retrying", "err", err, "expires_in", time.Until(validUntil).Round(time.Millisecond))
			timer.Reset(min(interval, time.Second))
		}
	}
}

// renew extends the lease; held is false when the row has another fence.
func (l *Lease) renew(ctx context.Context, timeout time.Duration) (held bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ref := l.Ref()
	tag, err := l.store.db.pool.Exec(ctx, `
		UPDATE etl.leases
		SET heartbeat_at = now(), expires_at = now() + $3 * interval '1 microsecond'
		WHERE pipeline = $1 AND fence = $2 AND released_at IS NULL`,
		ref.Pipeline, ref.Fence, l.ttl.Microseconds())
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// checkFence verifies, inside tx, that ref still holds its pipeline's
// lease, and locks the lease row (FOR SHARE) until tx ends, so that a
// takeover waits for tx. It returns an error wrapping state.ErrLeaseLost
// otherwise. With allowReleased, a released lease still counts as held
// (to record a run's end after Release).
func checkFence(ctx context.Context, tx pgx.Tx, ref state.RunRef, allowReleased bool) error {
	var runID string
	var fence int64
	var released bool
	err := tx.QueryRow(ctx, `
		SELECT run_id, fence, released_at IS NOT NULL
		FROM etl.leases WHERE pipeline = $1 FOR SHARE`, ref.Pipeline).Scan(&runID, &fence, &released)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: pipeline %s has no lease", state.ErrLeaseLost, ref.Pipeline)
	}
	if err != nil {
		return err
	}
	if fence != ref.Fence || runID != ref.RunID {
		return fmt.Errorf("%w: pipeline %s is now held by run %s (fence %d); run %s held fence %d",
			state.ErrLeaseLost, ref.Pipeline, runID, fence, ref.RunID, ref.Fence)
	}
	if released && !allowReleased {
		return fmt.Errorf("%w: run %s released the lease of pipeline %s", state.ErrLeaseLost, ref.RunID, ref.Pipeline)
	}
	return nil
}

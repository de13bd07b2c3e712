package run

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/plan"
	"github.com/etl-engine/etl/engine/retry"
	"github.com/etl-engine/etl/engine/state"
)

// pageBuffer is how many prepared pages may wait for the writer. None is
// needed for the next page to be fetched and transformed while the current
// one is written (the loader prepares it, then waits to hand it over), and
// each one held costs a page's response (1.5 MB for 1,000 invoices) per
// window in flight: a window holds at most pageBuffer+2 pages.
const pageBuffer = 0

// window loads one window, retrying it as a whole while its failures are
// retryable, and records its final failure.
func (e *execution) window(ctx context.Context, w plan.Window) error {
	runner := retry.Runner{
		Policy: retry.Policy{
			MaxAttempts:    e.cfg.WindowAttempts,
			InitialBackoff: e.b.Retry.InitialBackoff,
			MaxBackoff:     e.b.Retry.MaxBackoff,
			Multiplier:     2,
			Jitter:         0.2,
			RetryOn:        []retry.Class{retry.Network, retry.ServerError, retry.Timeout, retry.Malformed},
		},
		Notify: func(a retry.Attempt) {
			e.log.Warn("window failed, retrying it", "window", w.Index, "start_utc", w.Start.Format(time.RFC3339),
				"attempt", a.Number, "class", a.Class, "wait", a.Wait.String(), "error", a.Err)
			e.markWindow(ctx, w, state.WindowFailed, a.Err)
		},
	}
	err := runner.Do(ctx, func(ctx context.Context, attempt int) error {
		return e.attemptWindow(ctx, w)
	})
	if err != nil {
		err = fmt.Errorf("window %d %s: %w", w.Index, w, err)
		e.markWindow(ctx, w, state.WindowFailed, err)
		e.progress.WindowFailed(w, err)
		e.log.Error("window failed", "window", w.Index, "start_utc", w.Start.Format(time.RFC3339), "error", err)
	}
	return err
}

func (e *execution) markWindow(ctx context.Context, w plan.Window, s state.WindowStatus, cause error) {
	msg := ""
	if cause != nil {
		msg = e.cfg.Redactor.Redact(cause.Error())
	}
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := e.store.MarkWindow(mctx, e.ref, w.Index, s, msg); err != nil {
		e.log.Warn("recording window state", "window", w.Index, "status", s, "error", err)
	}
}

// attemptWindow fetches and writes one window in one transaction: the
// loader's goroutine fetches each page, runs the transforms on it and drops
// exact repeats, then hands it to the writer's goroutine, which only
// writes; so the database works on one page while the next is prepared
// (the transforms used to run between two writes, leaving the connection
// idle). Either side failing cancels the other and rolls back.
func (e *execution) attemptWindow(ctx context.Context, w plan.Window) error {
	if e.b.Timeouts.Window > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.b.Timeouts.Window)
		defer cancel()
	}
	e.markWindow(ctx, w, state.WindowRunning, nil)
	started := e.now()
	writer, err := e.exporter.Begin(ctx, e.ref, w, e.loader.Source())
	if err != nil {
		return fmt.Errorf("opening the window's transaction: %w", err)
	}
	defer func() { _ = writer.Rollback(context.WithoutCancel(ctx)) }()

	fns := make([]component.PageFunc, len(e.transform))
	for i, t := range e.transform {
		fns[i] = t.Start(w)
	}
	seen := newVersionSet()
	pages := make(chan *component.Page, pageBuffer)
	g, gctx := errgroup.WithContext(ctx)
	var load component.LoadStats
	var records, dropped int64
	g.Go(func() error {
		defer close(pages)
		var err error
		load, err = e.loader.Load(gctx, w, func(ctx context.Context, p *component.Page) error {
			for _, fn := range fns {
				if err := fn(ctx, p); err != nil {
					return fmt.Errorf("page %d: %w", p.Number, err)
				}
			}
			before := len(p.Records)
			p.Records = seen.keepNew(p.Records)
			dropped += int64(before - len(p.Records))
			records += int64(len(p.Records))
			if len(p.Records) == 0 {
				return nil
			}
			select {
			case pages <- p:
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
		return err
	})
	g.Go(func() error {
		for p := range pages {
			if err := writer.Write(gctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if load.Distinct != load.SourceCount {
		return retry.Mark(retry.Malformed, fmt.Errorf("loaded %d distinct records but the source counts %d (difference %+d)",
			load.Distinct, load.SourceCount, load.Distinct-load.SourceCount))
	}
	outcome := component.WindowOutcome{RunID: e.ref.RunID, Window: w, Load: load, Dropped: dropped, Started: started, Duration: e.now().Sub(started)}
	ws, err := writer.Commit(ctx, outcome)
	if err != nil {
		if errors.Is(err, state.ErrLeaseLost) {
			return retry.Mark(retry.Permanent, err)
		}
		return fmt.Errorf("committing: %w", err)
	}
	e.progress.WindowDone(WindowEvent{Window: w, Load: load, Write: ws, Dropped: dropped, Duration: outcome.Duration})
	e.log.Info("window committed", "window", w.Index, "start_utc", w.Start.Format(time.RFC3339), "end_utc", w.End.Format(time.RFC3339),
		"source_count", load.SourceCount, "pages", load.Pages, "fetched", load.Fetched, "inserted", ws.Inserted,
		"updated", ws.Updated, "unchanged", ws.Unchanged, "duplicates_dropped", dropped, "retries", load.Retries,
		"throttled", load.Throttled, "duration", outcome.Duration.Round(time.Millisecond).String())
	return nil
}

// versionSet remembers the version of every id written in a window, so an
// exact repeat (the same id and version, as re-paging produces) is dropped
// before it reaches the database, while a newer version goes through.
type versionSet struct{ m map[string]string }

func newVersionSet() *versionSet { return &versionSet{m: map[string]string{}} }

func (s *versionSet) keepNew(rs []component.Record) []component.Record {
	out := rs[:0]
	for _, r := range rs {
		if v, ok := s.m[r.ID]; ok && v == r.Version {
			continue
		}
		s.m[r.ID] = r.Version
		out = append(out, r)
	}
	return out
}

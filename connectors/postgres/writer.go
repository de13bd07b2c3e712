package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/plan"
	"github.com/etl-engine/etl/engine/state"
)

// outcome is what writing one id did, relative to the table before the
// window.
type outcome uint8

// Outcomes, by precedence: when an id comes again in a window, the window's
// outcome for it is the stronger of the two.
const (
	outStale outcome = iota + 1
	outUnchanged
	outUpdated
	outInserted
)

func parseOutcome(code string) (outcome, error) {
	switch code {
	case "i":
		return outInserted, nil
	case "p":
		return outUpdated, nil
	case "u":
		return outUnchanged, nil
	case "s":
		return outStale, nil
	}
	return 0, fmt.Errorf("unexpected outcome %q", code)
}

// stagedColumns are the columns COPY fills in the staging table.
var stagedColumns = []string{"id", "payload", "sync_token", "source_updated_at", "page_number"}

// rollbackTimeout bounds a rollback run after the caller's context ended.
const rollbackTimeout = 10 * time.Second

// writer is the unit of work of one window: one connection, one
// transaction. Each page takes the cheapest way that keeps the upsert's
// semantics:
//
//   - insertDirect: while the window meets no stored id (a fresh
//     back-fill), the page is copied straight into the target;
//   - stage: from the first page holding a stored id on, pages are copied
//     into the session's staging table and moved into the target in
//     batches, by one upsert statement per flushBytes of payload and at
//     Commit. A batch never holds an id twice: a page repeating an id of
//     the current batch flushes the batch first, so the upsert needs no
//     DISTINCT ON (a sort of every staged payload).
type writer struct {
	e      *Exporter
	conn   *pgxpool.Conn
	tx     pgx.Tx
	run    state.RunRef
	window plan.Window
	src    component.Source
	where  string

	// seen holds each id written in the window with its outcome.
	seen     map[string]outcome
	received int64
	// err is the first failure; the transaction is then unusable.
	err    error
	closed bool
	// buf and pos are reused across pages by dedupe.
	buf []component.Record
	pos map[string]int

	// direct is true while the window's pages go straight into the target;
	// directPages counts them. now is the transaction's start, once read.
	direct      bool
	directPages int
	now         time.Time

	// The current batch: its ids, its pages and its payload bytes.
	batch      map[string]struct{}
	pages      []stagedPage
	batchBytes int
	// staleStage is set once a batch has been flushed: the staging table
	// still holds it and must be emptied before the next COPY. (At commit
	// the server empties it: ON COMMIT DELETE ROWS.)
	staleStage bool
}

// stagedPage is what the upsert stores per page rather than per row.
type stagedPage struct {
	number, size int32
	request      string
}

// flushBytes is the payload a batch may reach before it is moved into the
// target. The staging table lives in the session's temp_buffers (8 MB by
// default); 4 MB of payload keeps it there and covers a typical window (the
// invoice pipeline's monthly windows hold ~2,400 records of ~1.6 KB).
const flushBytes = 4 << 20

// maxDirectPages bounds the pages inserted directly in one window: each is
// a subtransaction, and past 64 of them in a transaction PostgreSQL's
// snapshots overflow their subtransaction cache, which slows down every
// session.
const maxDirectPages = 32

// directColumns are the columns insertDirect copies into the target.
var directColumns = []string{"id", "payload", "sync_token", "source_updated_at", "ingested_at_utc",
	"extract_window_start_utc", "extract_window_end_utc", "page_number", "page_size", "request_payload",
	"source_realm_id", "source_env", "run_id"}

var _ component.WindowWriter = (*writer)(nil)

// Write writes the page inside the window's transaction (see writer).
// After an error the writer only accepts Rollback.
func (w *writer) Write(ctx context.Context, p *component.Page) error {
	switch {
	case w.closed:
		return fmt.Errorf("%s: write after commit or rollback", w.where)
	case w.err != nil:
		return w.err
	case p.Window.Index != w.window.Index || !p.Window.Start.Equal(w.window.Start) || !p.Window.End.Equal(w.window.End):
		return w.fail(fmt.Errorf("%s page %d: the page belongs to window %d %s", w.where, p.Number, p.Window.Index, p.Window))
	}
	w.received += int64(len(p.Records))
	if len(p.Records) == 0 {
		return nil
	}
	recs, err := w.dedupe(p)
	if err != nil {
		return w.fail(err)
	}
	// The records are written or staged when Write returns: drop the
	// references to the page's body.
	defer clear(w.buf)
	if w.direct {
		if done, err := w.insertDirect(ctx, p, recs); err != nil || done {
			return err
		}
		// From the first page holding a stored id on, the window is
		// staged: it is most likely a re-run.
		w.direct = false
	}
	return w.stage(ctx, p, recs)
}

// insertDirect copies the page straight into the target when none of its
// ids is stored yet, which is what a fresh back-fill sees on every page:
// every record is then an insert, and the staging table, the comparison
// with stored rows and ON CONFLICT are all unnecessary (they cost the
// server ~40% more CPU than the COPY alone). Otherwise it writes nothing
// and reports false.
//
// The COPY runs in a savepoint: a window writing the same id concurrently
// (a record that moved between windows) may insert it between the lookup
// and the COPY; the COPY then fails on the primary key, is rolled back to
// the savepoint, and the page goes the other way, where ON CONFLICT
// handles it. When the table was empty as the run began, the lookup is
// skipped (it costs the server ~5% of a page's COPY) and that fallback
// covers the few records that move between windows during the run, at the
// price of a page copied twice and an error in the server's log for each.
func (w *writer) insertDirect(ctx context.Context, p *component.Page, recs []component.Record) (bool, error) {
	if w.directPages >= maxDirectPages {
		return false, nil
	}
	step := func(what string, err error) (bool, error) {
		return false, w.fail(classify(fmt.Errorf("%s page %d: %s: %w", w.where, p.Number, what, err)))
	}
	ids := make([]string, len(recs))
	for i := range recs {
		ids[i] = recs[i].ID
	}
	switch {
	case !w.e.startedEmpty:
		var stored bool
		if err := w.tx.QueryRow(ctx, w.e.storedSQL, ids).Scan(&w.now, &stored); err != nil {
			return step("looking up stored ids", err)
		}
		if stored {
			return false, nil
		}
	case w.now.IsZero():
		if err := w.tx.QueryRow(ctx, "SELECT now()").Scan(&w.now); err != nil {
			return step("reading the time", err)
		}
	}
	if _, err := w.tx.Exec(ctx, "SAVEPOINT etl_direct"); err != nil {
		return step("savepoint", err)
	}
	// One row slice for the whole page, the per-page values boxed once:
	// CopyFrom encodes each row before asking for the next.
	row := []any{nil, nil, nil, nil, w.now, w.window.Start.UTC(), w.window.End.UTC(), int32(p.Number), int32(p.Size),
		json.RawMessage(requestPayload(p)), w.src.Realm, w.src.Env, w.run.RunID}
	n, err := w.tx.CopyFrom(ctx, w.e.targetIdent, directColumns,
		pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
			r := &recs[i]
			row[0], row[1], row[2], row[3] = r.ID, json.RawMessage(r.Payload), version(r), updatedAt(r)
			return row, nil
		}))
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == pgerrcode.UniqueViolation {
		if _, err := w.tx.Exec(ctx, "ROLLBACK TO SAVEPOINT etl_direct"); err != nil {
			return step("rollback to savepoint", err)
		}
		return false, nil
	}
	if err != nil {
		return step("copy into "+w.e.schema+"."+w.e.table, err)
	}
	if n != int64(len(recs)) {
		return step("copy into "+w.e.schema+"."+w.e.table, fmt.Errorf("copied %d rows of %d", n, len(recs)))
	}
	if _, err := w.tx.Exec(ctx, "RELEASE SAVEPOINT etl_direct"); err != nil {
		return step("release savepoint", err)
	}
	for _, id := range ids {
		w.seen[id] = outInserted
	}
	w.directPages++
	return true, nil
}

// version returns the record's version, NULL when it has none.
func version(r *component.Record) *string {
	if r.Version == "" {
		return nil
	}
	return &r.Version
}

// updatedAt returns the record's update time in UTC, NULL when unknown.
func updatedAt(r *component.Record) *time.Time {
	if r.UpdatedAt.IsZero() {
		return nil
	}
	t := r.UpdatedAt.UTC()
	return &t
}

// stage copies the records into the staging table and moves the batch into
// the target when it is large enough.
func (w *writer) stage(ctx context.Context, p *component.Page, recs []component.Record) error {
	for _, r := range recs {
		if _, dup := w.batch[r.ID]; dup {
			if err := w.flush(ctx); err != nil {
				return err
			}
			break
		}
	}
	step := func(what string, err error) error {
		return w.fail(classify(fmt.Errorf("%s page %d: %s: %w", w.where, p.Number, what, err)))
	}
	if w.staleStage {
		if _, err := w.tx.Exec(ctx, "TRUNCATE "+w.e.stage); err != nil {
			return step("emptying the staging table", err)
		}
		w.staleStage = false
	}
	page := int32(p.Number)
	row := []any{nil, nil, nil, nil, page}
	n, err := w.tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", w.e.stageName}, stagedColumns,
		pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
			r := &recs[i]
			row[0], row[1], row[2], row[3] = r.ID, json.RawMessage(r.Payload), version(r), updatedAt(r)
			return row, nil
		}))
	if err != nil {
		return step("copy to staging table", err)
	}
	if n != int64(len(recs)) {
		return step("copy to staging table", fmt.Errorf("copied %d rows of %d", n, len(recs)))
	}
	for _, r := range recs {
		w.batch[r.ID] = struct{}{}
		w.batchBytes += len(r.Payload)
	}
	w.pages = append(w.pages, stagedPage{number: page, size: int32(p.Size), request: string(requestPayload(p))})
	if w.batchBytes >= flushBytes {
		return w.flush(ctx)
	}
	return nil
}

// flush moves the staged batch into the target with one upsert statement
// and records each id's outcome.
func (w *writer) flush(ctx context.Context) error {
	if len(w.pages) == 0 {
		return nil
	}
	first, last := w.pages[0].number, w.pages[len(w.pages)-1].number
	step := func(what string, err error) error {
		return w.fail(classify(fmt.Errorf("%s pages %d-%d: %s: %w", w.where, first, last, what, err)))
	}
	// Statistics on the stage make the planner probe the primary key
	// instead of scanning the whole target (perf.md: 9k vs 25k rows/s).
	if _, err := w.tx.Exec(ctx, "ANALYZE "+w.e.stage+" (id)"); err != nil {
		return step("analyze staging table", err)
	}
	numbers := make([]int32, len(w.pages))
	sizes := make([]int32, len(w.pages))
	requests := make([]string, len(w.pages))
	for i, pg := range w.pages {
		numbers[i], sizes[i], requests[i] = pg.number, pg.size, pg.request
	}
	rows, _ := w.tx.Query(ctx, w.e.upsertSQL,
		w.window.Start.UTC(), w.window.End.UTC(), numbers, sizes, requests,
		w.src.Realm, w.src.Env, w.run.RunID)
	var id, code string
	_, err := pgx.ForEachRow(rows, []any{&id, &code}, func() error {
		o, err := parseOutcome(code)
		if err != nil {
			return err
		}
		if prev, ok := w.seen[id]; !ok || o > prev {
			w.seen[id] = o
		}
		return nil
	})
	if err != nil {
		return step("upsert into "+w.e.schema+"."+w.e.table, err)
	}
	clear(w.batch)
	w.pages = w.pages[:0]
	w.batchBytes = 0
	w.staleStage = true
	return nil
}

// dedupe returns the page's records with one record per id: the one with
// the latest UpdatedAt, the later one on a tie. The statement dedupes
// again; doing it here makes the choice deterministic.
func (w *writer) dedupe(p *component.Page) ([]component.Record, error) {
	if w.pos == nil {
		w.pos = make(map[string]int, len(p.Records))
	}
	pos := w.pos
	clear(pos)
	w.buf = w.buf[:0]
	for i, r := range p.Records {
		if r.ID == "" {
			return nil, fmt.Errorf("%s page %d: record %d has no id", w.where, p.Number, i+1)
		}
		if len(r.Payload) == 0 {
			return nil, fmt.Errorf("%s page %d: record %s has an empty payload", w.where, p.Number, r.ID)
		}
		j, dup := pos[r.ID]
		if !dup {
			pos[r.ID] = len(w.buf)
			w.buf = append(w.buf, r)
			continue
		}
		if !r.UpdatedAt.Before(w.buf[j].UpdatedAt) {
			w.buf[j] = r
		}
	}
	return w.buf, nil
}

var (
	startPositionRE = regexp.MustCompile(`(?i)\bSTARTPOSITION\s+(\d+)`)
	maxResultsRE    = regexp.MustCompile(`(?i)\bMAXRESULTS\s+(\d+)`)
)

// requestPayload describes what was asked for the page: the loader's
// Request when it is a JSON object, otherwise {"query": Request, ...} with
// the page's position (and STARTPOSITION / MAXRESULTS read from a QBO
// query).
func requestPayload(p *component.Page) []byte {
	if len(p.Request) > 0 && p.Request[0] == '{' && json.Valid([]byte(p.Request)) {
		return []byte(p.Request)
	}
	req := map[string]any{"page_number": p.Number, "page_size": p.Size, "pass": p.Pass}
	if p.Request != "" {
		req["query"] = p.Request
	}
	if m := startPositionRE.FindStringSubmatch(p.Request); m != nil {
		if v, err := strconv.Atoi(m[1]); err == nil {
			req["start_position"] = v
		}
	}
	if m := maxResultsRE.FindStringSubmatch(p.Request); m != nil {
		if v, err := strconv.Atoi(m[1]); err == nil {
			req["max_results"] = v
		}
	}
	b, _ := json.Marshal(req)
	return b
}

// stats derives the window's write counts from the outcomes per id.
func (w *writer) stats() component.WriteStats {
	st := component.WriteStats{Received: w.received}
	for _, o := range w.seen {
		switch o {
		case outInserted:
			st.Inserted++
		case outUpdated:
			st.Updated++
		case outUnchanged:
			st.Unchanged++
		case outStale:
			st.Stale++
		}
	}
	st.DuplicatesDropped = w.received - int64(len(w.seen))
	return st
}

// Commit checks the lease's fence, records the window as completed with
// its counts (duplicates: those the engine dropped, o.Dropped, plus those
// the writer folded), and commits, all in the window's transaction: either the rows
// and the checkpoint are both durable, or neither is. A lease taken over
// by another run yields an error wrapping state.ErrLeaseLost and nothing is
// committed.
func (w *writer) Commit(ctx context.Context, o component.WindowOutcome) (component.WriteStats, error) {
	switch {
	case w.closed:
		return component.WriteStats{}, fmt.Errorf("%s: commit after commit or rollback", w.where)
	case w.err != nil:
		_ = w.Rollback(ctx)
		return component.WriteStats{}, w.err
	case o.RunID != "" && o.RunID != w.run.RunID:
		_ = w.Rollback(ctx)
		return component.WriteStats{}, fmt.Errorf("%s: commit: outcome is for run %s", w.where, o.RunID)
	case o.Window.Index != w.window.Index:
		_ = w.Rollback(ctx)
		return component.WriteStats{}, fmt.Errorf("%s: commit: outcome is for window %d", w.where, o.Window.Index)
	}
	if err := w.flush(ctx); err != nil {
		_ = w.Rollback(ctx)
		return component.WriteStats{}, err
	}
	st := w.stats()
	fail := func(what string, err error) (component.WriteStats, error) {
		_ = w.Rollback(ctx)
		return component.WriteStats{}, classify(fmt.Errorf("%s: commit: %s: %w", w.where, what, err))
	}
	if err := checkFence(ctx, w.tx, w.run, false); err != nil {
		return fail("checking the lease", err)
	}
	var started *time.Time
	if !o.Started.IsZero() {
		t := o.Started.UTC()
		started = &t
	}
	l := o.Load
	_, err := w.tx.Exec(ctx, `
		INSERT INTO etl.windows (run_id, idx, start_utc, end_utc, status, attempts,
			source_count, pages, passes, requests, fetched, distinct_ids, retries, throttled, moved_out,
			received, inserted, updated, unchanged, stale, duplicates,
			started_at, duration_ms, error, updated_at)
		VALUES ($1, $2, $3, $4, 'completed', 1,
			$5, $6, $7, $8, $9, $10, $11, $12, $13,
			$14, $15, $16, $17, $18, $19,
			$20, $21, NULL, now())
		ON CONFLICT (run_id, idx) DO UPDATE SET
			status = 'completed', attempts = greatest(etl.windows.attempts, 1),
			source_count = excluded.source_count, pages = excluded.pages, passes = excluded.passes,
			requests = excluded.requests, fetched = excluded.fetched, distinct_ids = excluded.distinct_ids,
			retries = excluded.retries, throttled = excluded.throttled, moved_out = excluded.moved_out,
			received = excluded.received, inserted = excluded.inserted, updated = excluded.updated,
			unchanged = excluded.unchanged, stale = excluded.stale, duplicates = excluded.duplicates,
			started_at = coalesce(excluded.started_at, etl.windows.started_at),
			duration_ms = excluded.duration_ms, error = NULL, updated_at = now()`,
		w.run.RunID, w.window.Index, w.window.Start.UTC(), w.window.End.UTC(),
		l.SourceCount, l.Pages, l.Passes, l.Requests, l.Fetched, l.Distinct, l.Retries, l.Throttled, l.MovedOut,
		st.Received, st.Inserted, st.Updated, st.Unchanged, st.Stale, st.DuplicatesDropped+o.Dropped,
		started, o.Duration.Milliseconds())
	if err != nil {
		return fail("recording the window", err)
	}
	// Counted before COMMIT: cached table statistics are dropped even when
	// the outcome of a broken COMMIT is unknown.
	w.e.commits.Add(1)
	if err := w.tx.Commit(ctx); err != nil {
		// If the connection broke during COMMIT, the outcome is unknown;
		// retrying the window is safe because the upsert is idempotent.
		return fail("committing", err)
	}
	w.release()
	return st, nil
}

// Rollback discards the window's writes and returns the connection. It does
// nothing after Commit or a previous Rollback.
func (w *writer) Rollback(ctx context.Context) error {
	if w.closed {
		return nil
	}
	defer w.release()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	err := w.tx.Rollback(rctx)
	if err == nil || errors.Is(err, pgx.ErrTxClosed) || w.conn.Conn().IsClosed() {
		// A broken connection has nothing left to roll back: the server
		// discards an open transaction when its session ends.
		return nil
	}
	return classify(fmt.Errorf("%s: rollback: %w", w.where, err))
}

func (w *writer) release() {
	if w.closed {
		return
	}
	w.closed = true
	// The pool destroys a connection that is closed or still in a
	// transaction.
	w.conn.Release()
}

// fail records the writer's first error and returns it.
func (w *writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}

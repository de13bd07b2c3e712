package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/plan"
	"github.com/etl-engine/etl/engine/state"
)

// Exporter is the postgres.upsert exporter: each window is one transaction
// on a dedicated connection, holding the window's rows, its completed
// checkpoint and its counts.
//
// Writes are idempotent and monotone: a record equal to the stored row is
// not rewritten (its ingested_at_utc and extract_window_* columns keep the
// values of the window that last changed it), and a record older than the
// stored row (by source_updated_at) never replaces it.
type Exporter struct {
	db     *DB
	ownsDB bool
	log    *slog.Logger
	schema string
	table  string
	// target and stage are quoted identifiers; stageName is bare.
	target      string
	targetIdent pgx.Identifier
	stageName   string
	stage       string
	upsertSQL   string
	storedSQL   string
	// startedEmpty is set when the target held no row as the exporter was
	// made: a back-fill into an empty table meets no stored id, so its
	// pages are copied without looking their ids up first.
	startedEmpty bool

	// commits counts the windows committed through this exporter; stats
	// caches TableStats for the count it was computed at.
	commits atomic.Int64
	statsMu sync.Mutex
	stats   *cachedStats
}

// cachedStats is a TableStats result and the commit count it describes.
type cachedStats struct {
	commits int64
	stats   component.TableStats
}

var (
	_ component.StatefulExporter = (*Exporter)(nil)
	_ component.Migrator         = (*Exporter)(nil)
	_ component.TableStatser     = (*Exporter)(nil)
)

// newExporter is the postgres.upsert factory: it connects, applies the
// embedded migrations when the schema is behind, and prepares the target
// table (creating it with the raw layout if needed).
func newExporter(ctx context.Context, bc component.BuildContext, s component.Settings) (component.Exporter, error) {
	logger := bc.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("exporter", Name)
	schema, table := s.String(FieldSchema), s.String(FieldTable)
	if schema == "" {
		schema = "raw"
	}
	if err := checkIdentifiers(schema, table); err != nil {
		return nil, err
	}
	if bc.WindowConcurrency > 0 {
		s = maps.Clone(s)
		s[FieldWindowConcurrency] = int64(bc.WindowConcurrency)
	}
	db, err := Open(ctx, s, logger)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	e, err := NewExporter(ctx, db, schema, table, logger)
	if err != nil {
		db.Close()
		return nil, err
	}
	e.ownsDB = true
	return e, nil
}

// NewExporter returns an exporter writing to schema.table through db, which
// it does not close. The table is created with the raw layout if it does
// not exist; an existing table must have the raw columns. The etl schema
// must be migrated.
func NewExporter(ctx context.Context, db *DB, schema, table string, logger *slog.Logger) (*Exporter, error) {
	if err := checkIdentifiers(schema, table); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = db.log
	}
	created, err := ensureTable(ctx, db.pool, schema, table)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	if created {
		logger.Info("created target table with the raw layout", "table", schema+"."+table)
	}
	e := &Exporter{
		db:          db,
		log:         logger.With("table", schema+"."+table),
		schema:      schema,
		table:       table,
		targetIdent: pgx.Identifier{schema, table},
		stageName:   stageName(schema, table),
	}
	e.target = e.targetIdent.Sanitize()
	e.stage = pgx.Identifier{"pg_temp", e.stageName}.Sanitize()
	e.upsertSQL = upsertSQL(e.target, e.stage)
	// now() is the transaction's start, which the upsert stores.
	e.storedSQL = "SELECT now(), EXISTS (SELECT 1 FROM " + e.target + " WHERE id = ANY ($1::text[]))"
	if err := db.pool.QueryRow(ctx, "SELECT NOT EXISTS (SELECT FROM "+e.target+")").Scan(&e.startedEmpty); err != nil {
		return nil, classify(fmt.Errorf("%s: reading %s.%s: %w", Name, schema, table, err))
	}
	return e, nil
}

// State returns the run-state store kept in the same database.
func (e *Exporter) State() state.Store { return e.db.store }

// Migrate applies the embedded migrations; it is idempotent (the factory
// has already applied them, so this only checks the version).
func (e *Exporter) Migrate(ctx context.Context) error { return e.db.Migrate(ctx) }

// TableStats describes the target table for the run report. It scans the
// whole table, and the engine asks twice at the end of a run (to verify,
// then to write the report): a result is reused as long as no window was
// committed through this exporter since it was computed (0.3 to 0.8 s saved
// per 200k rows).
func (e *Exporter) TableStats(ctx context.Context) (component.TableStats, error) {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	commits := e.commits.Load()
	if e.stats != nil && e.stats.commits == commits {
		return e.stats.stats, nil
	}
	st, err := e.db.EntityStats(ctx, e.schema, e.table)
	if err != nil {
		return component.TableStats{}, err
	}
	ts := component.TableStats{
		Table:           e.schema + "." + e.table,
		Rows:            st.Rows,
		DistinctIDs:     st.DistinctIDs,
		InvalidPayloads: st.InvalidPayloads,
	}
	if st.MinUpdatedAt != nil {
		ts.MinUpdated, ts.MaxUpdated = *st.MinUpdatedAt, *st.MaxUpdatedAt
	}
	e.stats = &cachedStats{commits: commits, stats: ts}
	return ts, nil
}

// DB returns the exporter's database.
func (e *Exporter) DB() *DB { return e.db }

// Close closes the connection pool if the exporter opened it.
func (e *Exporter) Close() error {
	if e.ownsDB {
		e.db.Close()
	}
	return nil
}

// Begin takes a connection of its own for window w and opens the window's
// transaction. The returned writer must be committed or rolled back.
func (e *Exporter) Begin(ctx context.Context, run state.RunRef, w plan.Window, src component.Source) (component.WindowWriter, error) {
	where := fmt.Sprintf("%s %s.%s: run %s window %d %s", Name, e.schema, e.table, run.RunID, w.Index, w)
	conn, err := e.db.pool.Acquire(ctx)
	if err != nil {
		return nil, classify(fmt.Errorf("%s: acquiring a connection: %w", where, err))
	}
	if err := ensureStage(ctx, conn.Conn(), e.stageName, e.target); err != nil {
		conn.Release()
		return nil, classify(fmt.Errorf("%s: preparing the staging table: %w", where, err))
	}
	// Planner settings for the window's statements, sent with BEGIN:
	//   - a custom plan every time: the target grows from empty during a
	//     back-fill, and a generic plan made while it was small (a
	//     sequential scan, an unhashed = ANY) would stay in use when it is
	//     large; planning costs well under a millisecond;
	//   - no JIT compilation: it costs tens of milliseconds, more than these
	//     statements run.
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{
		BeginQuery: "BEGIN; SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL jit = off"})
	if err != nil {
		conn.Release()
		return nil, classify(fmt.Errorf("%s: beginning the transaction: %w", where, err))
	}
	return &writer{
		e:      e,
		conn:   conn,
		tx:     tx,
		run:    run,
		window: w,
		src:    src,
		where:  where,
		seen:   make(map[string]outcome),
		batch:  make(map[string]struct{}),
		direct: true,
	}, nil
}

// upsertSQL moves the staged batch into the target in one statement.
//
//   - pages: the batch's per-page columns, from three arrays;
//   - classified: each staged id (one row per id: the writer never stages
//     an id twice in a batch) compared with the stored row, from the
//     statement's snapshot: a new id or a newer, different payload is
//     written; an equal payload is unchanged; an older version is stale.
//     Unchanged and stale rows are not touched at all (no lock, no WAL, no
//     bloat). It holds ids and verdicts only, not payloads, so that it
//     stays in work_mem;
//   - written: the rows to write, read again from the stage; ON CONFLICT
//     re-checks monotonicity against the latest committed row, so that an
//     older version never overwrites a newer one even when another window
//     wrote the id concurrently; (xmax = 0) tells an insert from an update.
//
// It returns every staged id with its outcome: i(nserted), p (updated),
// u(nchanged) or s(tale). Parameters: $1 window start, $2 window end,
// $3 page numbers, $4 page sizes, $5 request payloads (one per page),
// $6 realm, $7 env, $8 run id.
func upsertSQL(target, stage string) string {
	var set []string
	for _, c := range rawColumns[1:] {
		n := pgx.Identifier{c.name}.Sanitize()
		set = append(set, n+" = excluded."+n)
	}
	return `
WITH pages AS (
    SELECT * FROM unnest($3::int[], $4::int[], $5::jsonb[]) AS p(page_number, page_size, request_payload)
),
classified AS MATERIALIZED (
    SELECT s.id,
           CASE
               WHEN t.id IS NULL THEN 'w'
               WHEN t.payload = s.payload THEN 'u'
               WHEN t.source_updated_at > s.source_updated_at THEN 's'
               ELSE 'w'
           END AS kind
    FROM ` + stage + ` s
    LEFT JOIN ` + target + ` t ON t.id = s.id
),
written AS (
    INSERT INTO ` + target + ` AS t (id, payload, sync_token, source_updated_at, ingested_at_utc,
        extract_window_start_utc, extract_window_end_utc, page_number, page_size, request_payload,
        source_realm_id, source_env, run_id)
    SELECT s.id, s.payload, s.sync_token, s.source_updated_at, now(),
           $1::timestamptz, $2::timestamptz, s.page_number, p.page_size, p.request_payload, $6::text, $7::text, $8::text
    FROM ` + stage + ` s
    JOIN classified c ON c.id = s.id
    JOIN pages p ON p.page_number = s.page_number
    WHERE c.kind = 'w'
    ON CONFLICT (id) DO UPDATE
    SET ` + strings.Join(set, ",\n        ") + `
    WHERE (t.source_updated_at > excluded.source_updated_at) IS NOT TRUE
    RETURNING t.id, (t.xmax = 0) AS inserted
)
SELECT c.id,
       CASE
           WHEN w.id IS NOT NULL THEN CASE WHEN w.inserted THEN 'i' ELSE 'p' END
           WHEN c.kind = 'u' THEN 'u'
           ELSE 's'
       END
FROM classified c
LEFT JOIN written w ON w.id = c.id`
}

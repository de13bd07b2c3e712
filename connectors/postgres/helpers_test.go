package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/plan"
	"github.com/etl-engine/etl/engine/state"
	"github.com/etl-engine/etl/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testLogger logs to stderr with -v, and discards otherwise.
func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// env is a migrated test database with the connector opened on it.
type env struct {
	pg    *pgtest.DB
	db    *DB
	store *Store
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	pg := pgtest.New(t)
	db, err := Open(ctx, pg.Settings(), testLogger())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return &env{pg: pg, db: db, store: db.State()}
}

// exporter returns an exporter on raw.<table> sharing the env's pool.
func (e *env) exporter(t testing.TB, table string) *Exporter {
	t.Helper()
	exp, err := NewExporter(context.Background(), e.db, "raw", table, testLogger())
	if err != nil {
		t.Fatalf("NewExporter(raw.%s): %v", table, err)
	}
	return exp
}

var day0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// windows returns n consecutive one-day windows from day0.
func windows(n int) []plan.Window {
	out := make([]plan.Window, n)
	for i := range out {
		out[i] = plan.Window{Index: i, Start: day0.AddDate(0, 0, i), End: day0.AddDate(0, 0, i+1)}
	}
	return out
}

// startRun acquires the pipeline's lease and starts a fresh run of n windows.
func (e *env) startRun(t testing.TB, pipeline string, n int) (state.Lease, state.Run) {
	t.Helper()
	ctx := context.Background()
	lease, err := e.store.Acquire(ctx, pipeline, "", time.Minute)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", pipeline, err)
	}
	t.Cleanup(func() { _ = lease.Release(context.Background()) })
	run, err := e.store.StartRun(ctx, lease, state.RunSpec{
		Pipeline: pipeline, PlanKey: "plan-" + pipeline, Windows: windows(n), Fresh: true,
		Params: map[string]string{"page_size": "1000"},
	})
	if err != nil {
		t.Fatalf("StartRun: %v", err)
	}
	return lease, run
}

// rec is a record with a QBO-like payload whose content depends on all its
// arguments.
func rec(id string, updated time.Time, syncToken int, note string) component.Record {
	payload := fmt.Sprintf(`{"Id": %q, "SyncToken": "%d", "MetaData": {"LastUpdatedTime": %q}, "Note": %q, "TotalAmt": 12.5}`,
		id, syncToken, updated.Format(time.RFC3339), note)
	return component.Record{ID: id, UpdatedAt: updated, Version: fmt.Sprint(syncToken), Payload: []byte(payload)}
}

func page(w plan.Window, n int, recs ...component.Record) *component.Page {
	return &component.Page{
		Window: w, Number: n, Pass: 1, Size: 1000,
		Request: fmt.Sprintf("SELECT * FROM Invoice STARTPOSITION %d MAXRESULTS 1000", 1+(n-1)*1000),
		Records: recs,
	}
}

var testSource = component.Source{System: "qbo", Entity: "Invoice", Realm: "4620816365201690220", Env: "sandbox"}

// writeWindow writes pages as window w of run and commits it.
func writeWindow(t testing.TB, exp *Exporter, run state.RunRef, w plan.Window, pages ...*component.Page) component.WriteStats {
	t.Helper()
	st, err := tryWindow(exp, run, w, pages...)
	if err != nil {
		t.Fatalf("window %d: %v", w.Index, err)
	}
	return st
}

func tryWindow(exp *Exporter, run state.RunRef, w plan.Window, pages ...*component.Page) (component.WriteStats, error) {
	ctx := context.Background()
	ww, err := exp.Begin(ctx, run, w, testSource)
	if err != nil {
		return component.WriteStats{}, err
	}
	defer ww.Rollback(ctx)
	var fetched int64
	for _, p := range pages {
		if err := ww.Write(ctx, p); err != nil {
			return component.WriteStats{}, err
		}
		fetched += int64(len(p.Records))
	}
	return ww.Commit(ctx, component.WindowOutcome{
		RunID: run.RunID, Window: w, Started: time.Now().Add(-time.Second), Duration: 1500 * time.Millisecond,
		Load: component.LoadStats{SourceCount: fetched, Pages: len(pages), Fetched: fetched, Distinct: fetched, Passes: 1, Requests: len(pages) + 1},
	})
}

// storedRow is a raw row as read back.
type storedRow struct {
	Payload   string
	SyncToken string
	UpdatedAt time.Time
	Xmin      uint32
	Page      int
	RunID     string
}

func readRows(t testing.TB, e *env, table string) map[string]storedRow {
	t.Helper()
	rows, err := e.pg.Pool.Query(context.Background(), fmt.Sprintf(
		`SELECT id, payload::text, coalesce(sync_token, ''), source_updated_at, xmin::text::bigint, page_number, coalesce(run_id, '') FROM raw.%q`, table))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]storedRow{}
	for rows.Next() {
		var id string
		var r storedRow
		var xmin int64
		if err := rows.Scan(&id, &r.Payload, &r.SyncToken, &r.UpdatedAt, &xmin, &r.Page, &r.RunID); err != nil {
			t.Fatal(err)
		}
		r.Xmin = uint32(xmin)
		r.UpdatedAt = r.UpdatedAt.UTC()
		out[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

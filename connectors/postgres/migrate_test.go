package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/etl-engine/etl/internal/pgtest"
)

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.New(t)
	db, err := Open(ctx, pg.Settings(), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = db.Migrate(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate %d: %v", i, err)
		}
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	v, err := CurrentSchemaVersion(ctx, db.Pool())
	if err != nil {
		t.Fatal(err)
	}
	if v.Current != 2 || v.Latest != 2 || v.Dirty || v.Behind() {
		t.Errorf("schema version = %+v, want current 2, latest 2, clean", v)
	}

	var tables []string
	rows, _ := pg.Pool.Query(ctx, `
		SELECT table_schema || '.' || table_name FROM information_schema.tables
		WHERE table_schema IN ('raw', 'etl') ORDER BY 1`)
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		tables = append(tables, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := "etl.credentials etl.leases etl.runs etl.schema_migrations etl.trigger_completions etl.windows raw.qb_customers raw.qb_invoices raw.qb_items"
	if got := strings.Join(tables, " "); got != want {
		t.Errorf("tables:\n got %s\nwant %s", got, want)
	}

	// Debian's PostgreSQL 15 is built with lz4: the jsonb columns use it.
	var compression string
	if err := pg.Pool.QueryRow(ctx, `
		SELECT string_agg(attname || '=' || attcompression::text, ',' ORDER BY attname) FROM pg_attribute
		WHERE attrelid = 'raw.qb_invoices'::regclass AND atttypid = 'jsonb'::regtype`).Scan(&compression); err != nil {
		t.Fatal(err)
	}
	if compression != "payload=l,request_payload=l" {
		t.Errorf("jsonb compression = %s, want lz4 (l) on both", compression)
	}
}

func TestMigrateDirty(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if _, err := e.pg.Pool.Exec(ctx, "UPDATE etl.schema_migrations SET dirty = true"); err != nil {
		t.Fatal(err)
	}
	err := e.db.Migrate(ctx)
	var dirty *DirtyError
	if !errors.As(err, &dirty) || dirty.Version != 2 {
		t.Fatalf("Migrate on a dirty schema = %v, want *DirtyError at version 2", err)
	}
	for _, want := range []string{"dirty at migration 2", "migrations/0002_*.up.sql", "UPDATE etl.schema_migrations SET version"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestMigrateDownUp checks that the down migrations undo the up ones.
func TestMigrateDownUp(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	m, closeAll, err := newMigrator(ctx, e.db.Pool(), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	if err := m.Down(); err != nil {
		t.Fatalf("down: %v", err)
	}
	var n int
	if err := e.pg.Pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema IN ('raw', 'etl') AND table_name <> 'schema_migrations'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("after down: %d tables left (err %v)", n, err)
	}
	if err := m.Up(); err != nil {
		t.Fatalf("up again: %v", err)
	}
}

// TestRawLayoutMatchesMigration checks that a table the exporter creates
// has exactly the layout of the migrated raw tables.
func TestRawLayoutMatchesMigration(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.exporter(t, "qb_new_entity")
	layout := func(table string) string {
		var s string
		err := e.pg.Pool.QueryRow(ctx, `
			SELECT string_agg(format('%s %s notnull=%s compression=%s default=%s', a.attname,
			       format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attcompression::text,
			       coalesce(pg_get_expr(d.adbin, d.adrelid), '')), E'\n' ORDER BY a.attnum)
			FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
			WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`, table).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	want := layout("raw.qb_invoices")
	if got := layout("raw.qb_new_entity"); got != want {
		t.Errorf("exporter-created layout differs from the migration:\n got:\n%s\nwant:\n%s", got, want)
	}
	var pk string
	if err := e.pg.Pool.QueryRow(ctx, `
		SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'raw.qb_new_entity'::regclass AND contype = 'p'`).Scan(&pk); err != nil || pk != "PRIMARY KEY (id)" {
		t.Errorf("primary key = %q, %v", pk, err)
	}
}

package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/etl-engine/etl/engine/config"
)

// column is one column of the raw-table layout.
type column struct {
	name, typ, constraint string
	// compressed columns get COMPRESSION lz4 when the server has it.
	compressed bool
	// staged columns are copied into the staging table; the others are set
	// per page by the upsert statement.
	staged bool
}

// rawColumns is the layout of a raw table, as in migrations/0001 (a test
// checks that both agree).
var rawColumns = []column{
	{name: "id", typ: "text", constraint: "PRIMARY KEY", staged: true},
	{name: "payload", typ: "jsonb", constraint: "NOT NULL", compressed: true, staged: true},
	{name: "sync_token", typ: "text", staged: true},
	{name: "source_updated_at", typ: "timestamptz", staged: true},
	{name: "ingested_at_utc", typ: "timestamptz", constraint: "NOT NULL DEFAULT now()"},
	{name: "extract_window_start_utc", typ: "timestamptz", constraint: "NOT NULL"},
	{name: "extract_window_end_utc", typ: "timestamptz", constraint: "NOT NULL"},
	{name: "page_number", typ: "int", constraint: "NOT NULL", staged: true},
	{name: "page_size", typ: "int", constraint: "NOT NULL"},
	{name: "request_payload", typ: "jsonb", compressed: true},
	{name: "source_realm_id", typ: "text", constraint: "NOT NULL"},
	{name: "source_env", typ: "text", constraint: "NOT NULL"},
	{name: "run_id", typ: "text"},
}

// checkIdentifiers re-checks schema and table names (already checked by the
// pipeline loader): plain lower-case identifiers of at most 63 bytes.
func checkIdentifiers(names ...string) error {
	for _, n := range names {
		if err := config.ValidateIdentifier(n); err != nil {
			return fmt.Errorf("postgres.upsert: %w", err)
		}
	}
	return nil
}

// rawTableDDL is the CREATE TABLE statement of a raw table.
func rawTableDDL(schema, table string, lz4 bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (\n", pgx.Identifier{schema, table}.Sanitize())
	for i, c := range rawColumns {
		fmt.Fprintf(&b, "    %s %s", pgx.Identifier{c.name}.Sanitize(), c.typ)
		if c.compressed && lz4 {
			b.WriteString(" COMPRESSION lz4")
		}
		if c.constraint != "" {
			b.WriteString(" " + c.constraint)
		}
		if i < len(rawColumns)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString(")")
	return b.String()
}

// supportsLZ4 reports whether the server can compress with lz4.
func supportsLZ4(ctx context.Context, q pgx.Tx) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM pg_settings
		               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals))`).Scan(&ok)
	return ok, err
}

// ensureTable creates schema.table with the raw layout when it does not
// exist (under an advisory lock, so that concurrent creators do not
// collide), and checks that an existing table has every raw column.
func ensureTable(ctx context.Context, pool *pgxpool.Pool, schema, table string) (created bool, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('etl.create_table:' || $1 || '.' || $2, 0))", schema, table); err != nil {
			return err
		}
		var schemaExists, tableExists bool
		if err := tx.QueryRow(ctx, `
			SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1),
			       EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			               WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p'))`,
			schema, table).Scan(&schemaExists, &tableExists); err != nil {
			return err
		}
		if tableExists {
			return checkLayout(ctx, tx, schema, table)
		}
		if !schemaExists {
			if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
				return err
			}
		}
		lz4, err := supportsLZ4(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, rawTableDDL(schema, table, lz4)); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return false, classify(fmt.Errorf("preparing table %s.%s: %w", schema, table, err))
	}
	return created, nil
}

// checkLayout verifies that an existing table has the raw columns, so that
// a mismatch is reported before any window runs.
func checkLayout(ctx context.Context, tx pgx.Tx, schema, table string) error {
	rows, _ := tx.Query(ctx, `
		SELECT a.attname FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`, schema, table)
	have, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	var missing []string
	for _, c := range rawColumns {
		if !slices.Contains(have, c.name) {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("table %s.%s exists but lacks the raw columns %s; use another table or add them",
			schema, table, strings.Join(missing, ", "))
	}
	return nil
}

// stageName is the name of the per-connection staging table of a target.
func stageName(schema, table string) string {
	h := sha256.Sum256([]byte(schema + "." + table))
	return "etl_stage_" + hex.EncodeToString(h[:6])
}

// ensureStage creates the staging table on conn if this session has none
// yet. It lives as long as the session (TEMP), outside any transaction, and
// copies the target's columns and their compression, so that compressed
// payloads move to the target without being compressed again. Columns not
// copied per row accept NULL. The server empties it in place at each
// commit (ON COMMIT DELETE ROWS): a TRUNCATE per window would give it new
// files each time, and creating and unlinking them cost ~10% of the
// server's CPU in a back-fill.
func ensureStage(ctx context.Context, conn *pgx.Conn, stage, target string) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", "pg_temp."+stage).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TEMP TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING COMPRESSION) ON COMMIT DELETE ROWS;\n",
		pgx.Identifier{stage}.Sanitize(), target)
	var drops []string
	for _, c := range rawColumns {
		if !c.staged && strings.Contains(c.constraint, "NOT NULL") {
			drops = append(drops, "ALTER COLUMN "+pgx.Identifier{c.name}.Sanitize()+" DROP NOT NULL")
		}
	}
	fmt.Fprintf(&b, "ALTER TABLE %s %s", pgx.Identifier{"pg_temp", stage}.Sanitize(), strings.Join(drops, ", "))
	_, err := conn.Exec(ctx, b.String(), pgx.QueryExecModeSimpleProtocol)
	return err
}

package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/etl-engine/etl/connectors/postgres"
	"github.com/etl-engine/etl/engine/component"
)

// Names of the checks of Database besides CheckConnection; the schema and
// table checks are named by SchemaCheckName and TableCheckName.
const (
	CheckVersion     = "postgres version"
	CheckTemp        = "postgres temp tables"
	CheckStateSchema = "postgres schema etl"
	CheckStateTables = "postgres etl tables"
	CheckLZ4         = "postgres lz4"
)

// RawTables are the raw tables the shipped migrations create and the
// pipelines write.
var RawTables = []string{"qb_customers", "qb_invoices", "qb_items"}

// MinServerVersion is the oldest PostgreSQL the engine runs on
// (server_version_num): the raw tables use COMPRESSION, new in 14.
const MinServerVersion = 140000

// connectWait bounds the connection attempt.
const connectWait = 20 * time.Second

// SchemaCheckName is the name of the check of a schema's privileges.
func SchemaCheckName(schema string) string { return "postgres schema " + schema }

// TableCheckName is the name of the check of a raw table's privileges.
func TableCheckName(schema, table string) string { return "postgres " + schema + "." + table }

// Database connects to the PostgreSQL described by s (the postgres.upsert
// settings, as postgres.SettingsFromEnv builds them, user and password as
// strings or secret values) the way runs do, and checks:
//
//   - the connection (a wrong password fails naming host, database and
//     role, never the password);
//   - the server version (MinServerVersion or newer);
//   - the raw schema (s's schema, default raw): it exists and the role has
//     USAGE and CREATE on it;
//   - each of RawTables: SELECT, INSERT and UPDATE (a missing table is a
//     warning when the role may create it);
//   - TEMPORARY on the database (runs stage each page in a temp table);
//   - the etl schema: migrations applied up to
//     postgres.LatestSchemaVersion, and SELECT, INSERT and UPDATE on its
//     tables;
//   - lz4 compression (information only).
//
// Each problem's Fix is the statement or command that solves it. When the
// connection works, the open database is returned too, for the checks
// that need it (clock, QBO refresh); the caller closes it. When it does
// not, Database returns only the failed connection check and a nil DB.
func Database(ctx context.Context, s component.Settings) ([]Check, *postgres.DB) {
	t := targetOf(s)
	cctx, cancel := context.WithTimeout(ctx, connectWait)
	defer cancel()
	db, err := postgres.Open(cctx, s, nil)
	if err != nil {
		return []Check{connectFailure(t, err)}, nil
	}
	pool := db.Pool()
	var versionText string
	var versionNum int
	if err := pool.QueryRow(ctx, "SELECT current_setting('server_version'), current_setting('server_version_num')::int").
		Scan(&versionText, &versionNum); err != nil {
		db.Close()
		return []Check{connectFailure(t, fmt.Errorf("reading the server version: %w", err))}, nil
	}
	out := []Check{ok(CheckConnection, fmt.Sprintf("connected to %s as user %s", t.where(), t.user))}
	if versionNum < MinServerVersion {
		out = append(out, fail(CheckVersion, "PostgreSQL "+versionText+" is too old",
			fmt.Sprintf("upgrade to PostgreSQL %d or newer (the stack uses 15)", MinServerVersion/10000)))
	} else {
		out = append(out, ok(CheckVersion, "PostgreSQL "+versionText))
	}
	schema := s.String(postgres.FieldSchema)
	if schema == "" {
		schema = "raw"
	}
	out = append(out, rawChecks(ctx, pool, t, schema)...)
	out = append(out, tempCheck(ctx, pool, t))
	out = append(out, stateChecks(ctx, pool, t)...)
	out = append(out, lz4Check(ctx, pool, t))
	return out, db
}

// queryFailure reports a query that failed where a privilege check
// expected an answer.
func queryFailure(name string, t target, what string, err error) Check {
	return fail(name, t.redact.Redact(fmt.Sprintf("%s: %v", what, err)), "run etl doctor again; if it persists, check the server's log")
}

// rawChecks checks the raw schema and its tables.
func rawChecks(ctx context.Context, pool *pgxpool.Pool, t target, schema string) []Check {
	name := SchemaCheckName(schema)
	var exists, usage, create, createDB bool
	err := pool.QueryRow(ctx, `
		SELECT n.oid IS NOT NULL,
		       coalesce(has_schema_privilege(n.oid, 'USAGE'), false),
		       coalesce(has_schema_privilege(n.oid, 'CREATE'), false),
		       has_database_privilege(current_database(), 'CREATE')
		FROM (SELECT 1) AS one LEFT JOIN pg_namespace n ON n.nspname = $1`, schema).Scan(&exists, &usage, &create, &createDB)
	if err != nil {
		return []Check{queryFailure(name, t, "reading the privileges on schema "+schema, err)}
	}
	var out []Check
	switch {
	case !exists && createDB:
		out = append(out, fail(name, fmt.Sprintf("schema %s does not exist", schema),
			"run etl migrate (it creates the schema and its tables)"))
	case !exists:
		out = append(out, fail(name, fmt.Sprintf("schema %s does not exist, and user %s may not create it", schema, t.user),
			fmt.Sprintf("as an administrator: CREATE SCHEMA %s AUTHORIZATION %s; then run etl migrate", pgx.Identifier{schema}.Sanitize(), t.role())))
	case !usage || !create:
		missing := missingPrivileges([]string{"USAGE", "CREATE"}, []bool{usage, create})
		out = append(out, fail(name, fmt.Sprintf("user %s lacks %s on schema %s", t.user, strings.Join(missing, " and "), schema),
			fmt.Sprintf("GRANT %s ON SCHEMA %s TO %s;", strings.Join(missing, ", "), pgx.Identifier{schema}.Sanitize(), t.role())))
	default:
		out = append(out, ok(name, fmt.Sprintf("exists; user %s has USAGE and CREATE on it", t.user)))
	}
	for _, table := range RawTables {
		if !exists {
			out = append(out, skip(TableCheckName(schema, table), "schema "+schema+" does not exist", ""))
			continue
		}
		out = append(out, tableCheck(ctx, pool, t, schema, table, create))
	}
	return out
}

// tableCheck checks the privileges a run needs on one raw table.
func tableCheck(ctx context.Context, pool *pgxpool.Pool, t target, schema, table string, canCreate bool) Check {
	name := TableCheckName(schema, table)
	privs := []string{"SELECT", "INSERT", "UPDATE"}
	have := make([]bool, len(privs))
	err := pool.QueryRow(ctx, `
		SELECT has_table_privilege(c.oid, 'SELECT'), has_table_privilege(c.oid, 'INSERT'), has_table_privilege(c.oid, 'UPDATE')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`, schema, table).Scan(&have[0], &have[1], &have[2])
	qualified := pgx.Identifier{schema, table}.Sanitize()
	switch {
	case errors.Is(err, pgx.ErrNoRows) && canCreate:
		return warn(name, "table does not exist yet", "run etl migrate (a run would also create it)")
	case errors.Is(err, pgx.ErrNoRows):
		return fail(name, fmt.Sprintf("table does not exist, and user %s may not create it", t.user),
			"run etl migrate as a role with CREATE on schema "+schema+", then GRANT SELECT, INSERT, UPDATE ON "+qualified+" TO "+t.role()+";")
	case err != nil:
		return queryFailure(name, t, "reading the privileges on "+schema+"."+table, err)
	}
	if missing := missingPrivileges(privs, have); len(missing) > 0 {
		return fail(name, fmt.Sprintf("user %s lacks %s on %s.%s", t.user, strings.Join(missing, ", "), schema, table),
			fmt.Sprintf("GRANT %s ON %s TO %s;", strings.Join(missing, ", "), qualified, t.role()))
	}
	return ok(name, fmt.Sprintf("user %s has SELECT, INSERT and UPDATE", t.user))
}

// tempCheck checks that the role may create temporary tables: each page
// is staged in one before it is merged into the raw table.
func tempCheck(ctx context.Context, pool *pgxpool.Pool, t target) Check {
	var temp bool
	if err := pool.QueryRow(ctx, "SELECT has_database_privilege(current_database(), 'TEMPORARY')").Scan(&temp); err != nil {
		return queryFailure(CheckTemp, t, "reading the TEMPORARY privilege", err)
	}
	if !temp {
		return fail(CheckTemp, fmt.Sprintf("user %s may not create temporary tables in database %s (runs stage each page in one)", t.user, t.database),
			fmt.Sprintf("GRANT TEMPORARY ON DATABASE %s TO %s;", pgx.Identifier{t.database}.Sanitize(), t.role()))
	}
	return ok(CheckTemp, fmt.Sprintf("user %s may create temporary tables", t.user))
}

// lz4Check reports whether the server compresses jsonb with lz4.
func lz4Check(ctx context.Context, pool *pgxpool.Pool, t target) Check {
	var lz4 bool
	err := pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM pg_settings
		               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals))`).Scan(&lz4)
	if err != nil {
		return queryFailure(CheckLZ4, t, "reading default_toast_compression", err)
	}
	if lz4 {
		return ok(CheckLZ4, "available: raw payloads are compressed with lz4")
	}
	return ok(CheckLZ4, "not available (the server was built without it): raw payloads are compressed with pglz, which is slower")
}

// missingPrivileges returns the privileges whose have is false.
func missingPrivileges(privs []string, have []bool) []string {
	var out []string
	for i, p := range privs {
		if !have[i] {
			out = append(out, p)
		}
	}
	return out
}

package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/etl-engine/etl/connectors/postgres"
)

// migrateFix is what to do when migrations remain to be applied.
const migrateFix = "run etl migrate (etl run also applies them when it starts, if its role may)"

// stateChecks checks the etl schema: migrations and privileges.
func stateChecks(ctx context.Context, pool *pgxpool.Pool, t target) []Check {
	grantAll := fmt.Sprintf("GRANT USAGE ON SCHEMA etl TO %s; GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA etl TO %s;", t.role(), t.role())
	out := []Check{versionCheck(ctx, pool, t, grantAll)}

	var exists, usage bool
	err := pool.QueryRow(ctx, `
		SELECT n.oid IS NOT NULL, coalesce(has_schema_privilege(n.oid, 'USAGE'), false)
		FROM (SELECT 1) AS one LEFT JOIN pg_namespace n ON n.nspname = $1`, postgres.MigrationsSchema).Scan(&exists, &usage)
	if err != nil {
		return append(out, queryFailure(CheckStateTables, t, "reading the privileges on schema etl", err))
	}
	if !exists {
		return append(out, skip(CheckStateTables, "schema etl does not exist yet", migrateFix))
	}
	rows, _ := pool.Query(ctx, `
		SELECT c.relname, has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'INSERT') AND has_table_privilege(c.oid, 'UPDATE')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname`, postgres.MigrationsSchema)
	type tablePriv struct {
		Name string
		OK   bool
	}
	tables, err := pgx.CollectRows(rows, pgx.RowToStructByPos[tablePriv])
	if err != nil {
		return append(out, queryFailure(CheckStateTables, t, "reading the privileges on the etl tables", err))
	}
	var lacking []string
	if !usage {
		lacking = append(lacking, "USAGE on schema etl")
	}
	for _, tp := range tables {
		if !tp.OK {
			lacking = append(lacking, "etl."+tp.Name)
		}
	}
	if len(lacking) > 0 {
		return append(out, fail(CheckStateTables,
			fmt.Sprintf("user %s lacks %s (runs need SELECT, INSERT and UPDATE on every etl table)", t.user, strings.Join(lacking, ", ")),
			grantAll))
	}
	return append(out, ok(CheckStateTables, fmt.Sprintf("user %s has SELECT, INSERT and UPDATE on the %d etl tables", t.user, len(tables))))
}

// versionCheck compares the applied migrations with this binary's.
func versionCheck(ctx context.Context, pool *pgxpool.Pool, t target, grantAll string) Check {
	v, err := postgres.CurrentSchemaVersion(ctx, pool)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == pgerrcode.InsufficientPrivilege {
		return fail(CheckStateSchema, t.redact.Redact(fmt.Sprintf("user %s may not read %s.%s: %s", t.user,
			postgres.MigrationsSchema, postgres.MigrationsTable, pgErr.Message)), grantAll)
	}
	if err != nil {
		return queryFailure(CheckStateSchema, t, "reading the schema version", err)
	}
	switch {
	case v.Dirty:
		return fail(CheckStateSchema, fmt.Sprintf("migration %d is marked dirty: an earlier attempt to apply it failed half-way", v.Current),
			(&postgres.DirtyError{Version: v.Current}).Error())
	case v.Current == 0:
		return warn(CheckStateSchema, fmt.Sprintf("no migration applied yet (this etl's schema is version %d)", v.Latest), migrateFix)
	case v.Current < v.Latest:
		return warn(CheckStateSchema, fmt.Sprintf("at version %d, behind this etl's version %d", v.Current, v.Latest), migrateFix)
	case v.Current > v.Latest:
		return fail(CheckStateSchema, fmt.Sprintf("at version %d, newer than this etl's version %d: a newer etl migrated the database", v.Current, v.Latest),
			fmt.Sprintf("use the etl release that applied migration %d, or a newer one", v.Current))
	}
	return ok(CheckStateSchema, fmt.Sprintf("migrations current (version %d)", v.Current))
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/golang-migrate/migrate/v4"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/etl-engine/etl/migrations"
)

// Where golang-migrate keeps the applied version.
const (
	MigrationsSchema = "etl"
	MigrationsTable  = "schema_migrations"
)

// migrateLockTimeout bounds the wait for another process's migration.
const migrateLockTimeout = 2 * time.Minute

// DirtyError says a migration failed half-way in an earlier attempt: the
// schema needs a look before anything runs on it.
type DirtyError struct {
	Version uint
}

func (e *DirtyError) Error() string {
	return fmt.Sprintf("database schema is dirty at migration %d: an earlier attempt to apply it failed half-way. "+
		"Check the schema against migrations/%04d_*.up.sql and repair it by hand, then mark it clean with "+
		"UPDATE %s.%s SET version = <last version fully applied>, dirty = false; and run etl migrate again",
		e.Version, e.Version, MigrationsSchema, MigrationsTable)
}

// SchemaVersion is the state of the database schema.
type SchemaVersion struct {
	// Current is the version applied (0 when none).
	Current uint
	Dirty   bool
	// Latest is the newest version embedded in this binary.
	Latest uint
}

// Behind reports whether migrations remain to be applied.
func (v SchemaVersion) Behind() bool { return v.Current < v.Latest }

// Migrate applies the embedded migrations (package migrations) up to the
// latest version with golang-migrate. It is safe to run twice and from
// several processes at once: golang-migrate holds a PostgreSQL advisory
// lock while it reads and changes the version. A dirty version is reported
// as a *DirtyError and nothing is applied.
func Migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, closeAll, err := newMigrator(ctx, pool, logger)
	if err != nil {
		return err
	}
	defer closeAll()

	// This read, outside golang-migrate's lock, is only for the log line:
	// a dirty flag seen here may be another process's migration in
	// progress (golang-migrate marks the version dirty while it applies
	// one). m.Up re-reads the version under the lock and reports a
	// migration that really failed half-way as ErrDirty.
	before, _, err := m.Version()
	switch {
	case errors.Is(err, migrate.ErrNilVersion):
		before = 0
	case err != nil:
		return classify(fmt.Errorf("migrate: reading schema version: %w", err))
	}

	stop := context.AfterFunc(ctx, func() { m.GracefulStop <- true })
	defer stop()
	err = m.Up()
	if errors.Is(err, migrate.ErrNoChange) {
		logger.Debug("database schema is up to date", "version", before)
		return nil
	}
	if dirtyErr, ok := errors.AsType[migrate.ErrDirty](err); ok {
		return &DirtyError{Version: uint(dirtyErr.Version)}
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("migrate: stopped: %w (%v)", context.Cause(ctx), err)
		}
		return classify(fmt.Errorf("migrate: %w", err))
	}
	after, _, _ := m.Version()
	logger.Info("database schema migrated", "from", before, "to", after)
	return nil
}

// CurrentSchemaVersion reads the applied and latest schema versions without
// changing anything.
func CurrentSchemaVersion(ctx context.Context, pool *pgxpool.Pool) (SchemaVersion, error) {
	latest, err := LatestSchemaVersion()
	if err != nil {
		return SchemaVersion{}, err
	}
	v := SchemaVersion{Latest: latest}
	q := "SELECT version, dirty FROM " + pgx.Identifier{MigrationsSchema, MigrationsTable}.Sanitize() + " LIMIT 1"
	var version int64
	err = pool.QueryRow(ctx, q).Scan(&version, &v.Dirty)
	switch {
	case errors.Is(err, pgx.ErrNoRows), isUndefinedTable(err):
		return v, nil
	case err != nil:
		return SchemaVersion{}, classify(fmt.Errorf("reading schema version: %w", err))
	}
	v.Current = uint(version)
	return v, nil
}

// LatestSchemaVersion returns the newest migration version embedded.
func LatestSchemaVersion() (uint, error) {
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		return 0, fmt.Errorf("reading embedded migrations: %w", err)
	}
	var latest uint
	for _, e := range entries {
		var v uint
		if _, err := fmt.Sscanf(e.Name(), "%d_", &v); err == nil && strings.HasSuffix(e.Name(), ".up.sql") {
			latest = max(latest, v)
		}
	}
	return latest, nil
}

// newMigrator builds a golang-migrate instance over the pool. The version
// table lives in the etl schema, which is created first.
func newMigrator(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (*migrate.Migrate, func(), error) {
	if err := ensureMigrationsSchema(ctx, pool); err != nil {
		return nil, nil, err
	}
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return nil, nil, fmt.Errorf("migrate: reading embedded migrations: %w", err)
	}
	// golang-migrate takes a dedicated connection from this *sql.DB and,
	// when preparing its version table fails (its session was terminated,
	// say), returns without giving it back. So the *sql.DB opens
	// connections of its own, with the pool's settings, instead of
	// borrowing the pool's: a connection it keeps cannot make pool.Close
	// wait forever (the run would hang instead of failing resumably).
	// Closing this *sql.DB does not close the pool.
	sqlDB := stdlib.OpenDB(*pool.Config().ConnConfig)
	drv, err := pgxmigrate.WithInstance(sqlDB, &pgxmigrate.Config{
		SchemaName:      MigrationsSchema,
		MigrationsTable: MigrationsTable,
	})
	if err != nil {
		_ = src.Close()
		_ = sqlDB.Close()
		return nil, nil, classify(fmt.Errorf("migrate: opening database driver: %w", err))
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
	if err != nil {
		_ = src.Close()
		_ = drv.Close()
		return nil, nil, fmt.Errorf("migrate: %w", err)
	}
	m.LockTimeout = migrateLockTimeout
	m.Log = migrateLogger{logger}
	return m, func() { _, _ = m.Close() }, nil
}

// ensureMigrationsSchema creates the etl schema if needed, under a
// transaction-level advisory lock: concurrent CREATE SCHEMA IF NOT EXISTS
// can otherwise fail on a unique violation.
func ensureMigrationsSchema(ctx context.Context, pool *pgxpool.Pool) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('etl.create_schema', 0))"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{MigrationsSchema}.Sanitize())
		return err
	})
	if err != nil {
		return classify(fmt.Errorf("migrate: creating schema %s: %w", MigrationsSchema, err))
	}
	return nil
}

// migrateLogger sends golang-migrate's messages to slog at debug level.
type migrateLogger struct{ log *slog.Logger }

func (l migrateLogger) Printf(format string, v ...any) {
	l.log.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)), "component", "migrate")
}

func (l migrateLogger) Verbose() bool { return false }

func isUndefinedTable(err error) bool {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	return ok && pgErr.Code == pgerrcode.UndefinedTable
}

// Package pgtest gives each test a fresh PostgreSQL database.
//
// Databases live on one throwaway cluster per test binary (internal/pgcluster),
// started on first use and stopped by Main, or on the server named by
// ETL_TEST_DATABASE_URL when it is set (its role needs CREATEDB). Each New
// creates a database of its own and drops it when the test ends.
//
// When PostgreSQL is unavailable, New fails the test with the way to fix it;
// it never skips, so a green run always means the database tests ran.
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		db := pgtest.New(t)
//		exp, err := postgres.Open(ctx, db.Settings(), nil)
//		...
//	}
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/secret"
	"github.com/etl-engine/etl/internal/pgcluster"
)

// EnvDatabaseURL names a server to use instead of a throwaway cluster, e.g.
// postgres://etl:secret@localhost:5432/postgres?sslmode=disable.
const EnvDatabaseURL = "ETL_TEST_DATABASE_URL"

// EnvBinDir names the folder of the PostgreSQL server programs to use
// (initdb, pg_ctl, postgres) instead of searching PATH and
// /usr/lib/postgresql/*/bin.
const EnvBinDir = "ETL_TEST_PG_BINDIR"

// server is what the databases are created on: the shared cluster, or the
// server of EnvDatabaseURL.
type server struct {
	cluster *pgcluster.Cluster // nil for an external server
	admin   *pgx.ConnConfig    // connects to a maintenance database
}

// shared is the per-binary server, started once on first use.
var shared struct {
	mu  sync.Mutex
	srv *server
	err error
	seq atomic.Int64
}

// Main runs the tests, then stops the cluster if one was started, and
// exits. Call it from TestMain.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main without the exit, for a TestMain that has its own clean-up:
// it returns the tests' exit code.
func Run(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	if shared.srv != nil && shared.srv.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := shared.srv.cluster.Stop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stopping the test cluster:", err)
		}
		cancel()
	}
	shared.mu.Unlock()
	return code
}

// getServer starts the cluster (or reads EnvDatabaseURL) once.
func getServer(ctx context.Context) (*server, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil || shared.err != nil {
		return shared.srv, shared.err
	}
	shared.srv, shared.err = startServer(ctx)
	return shared.srv, shared.err
}

func startServer(ctx context.Context) (*server, error) {
	if url := os.Getenv(EnvDatabaseURL); url != "" {
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			// The URL may hold a password: do not echo the parser's message.
			return nil, fmt.Errorf("pgtest: %s is not a valid PostgreSQL URL", EnvDatabaseURL)
		}
		return &server{admin: cfg}, nil
	}
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	c, err := pgcluster.Start(ctx, pgcluster.Options{
		BinDir: os.Getenv(EnvBinDir),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		return nil, fmt.Errorf("pgtest: PostgreSQL is needed for this test and could not be started: %w", err)
	}
	cfg, err := c.ConnConfig("postgres")
	if err != nil {
		_ = c.Stop(ctx)
		return nil, err
	}
	return &server{cluster: c, admin: cfg}, nil
}

// DB is one test's database.
type DB struct {
	tb   testing.TB
	srv  *server
	name string
	// Pool is a superuser pool on the database, for setup and assertions.
	Pool *pgxpool.Pool
	conn *pgx.ConnConfig
}

// New creates a fresh database for tb, dropped when tb ends. It fails tb
// (never skips) when PostgreSQL is unavailable.
func New(tb testing.TB) *DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := getServer(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	name := dbName(tb.Name(), shared.seq.Add(1))
	if err := srv.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	cfg := srv.admin.Copy()
	cfg.Database = name
	poolCfg, err := pgxpool.ParseConfig("")
	if err != nil {
		tb.Fatal(err)
	}
	poolCfg.ConnConfig = cfg
	poolCfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		tb.Fatalf("pgtest: connecting to %s: %v", name, err)
	}
	db := &DB{tb: tb, srv: srv, name: name, Pool: pool, conn: cfg}
	tb.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Logf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return db
}

// Name is the database's name.
func (db *DB) Name() string { return db.name }

// Host is the server's host.
func (db *DB) Host() string { return db.conn.Host }

// Port is the server's port.
func (db *DB) Port() int { return int(db.conn.Port) }

// User is the role the database is used with.
func (db *DB) User() string { return db.conn.User }

// Password is that role's password.
func (db *DB) Password() string { return db.conn.Password }

// Settings returns connection settings for the postgres.upsert exporter: a
// new map each call (add "table" before use), with the password as a secret
// value, TLS disabled and schema raw.
func (db *DB) Settings() component.Settings {
	return maps.Clone(component.Settings{
		"host":     db.conn.Host,
		"port":     int64(db.conn.Port),
		"database": db.name,
		"user":     db.conn.User,
		"password": secret.New("POSTGRES_PASSWORD", db.conn.Password),
		"sslmode":  "disable",
		"schema":   "raw",
	})
}

// Cluster returns the throwaway cluster, or nil when the tests use the
// server of ETL_TEST_DATABASE_URL.
func (db *DB) Cluster() *pgcluster.Cluster { return db.srv.cluster }

// Restart restarts the server (immediate: as in a crash). It skips the test
// when the tests run on an external server, which cannot be restarted.
func (db *DB) Restart(ctx context.Context, immediate bool) {
	db.tb.Helper()
	if db.srv.cluster == nil {
		db.tb.Skipf("pgtest: %s is set: the server cannot be restarted by the tests", EnvDatabaseURL)
	}
	if err := db.srv.cluster.Restart(ctx, immediate); err != nil {
		db.tb.Fatalf("pgtest: restarting the server: %v", err)
	}
}

// Terminate ends the sessions of this database whose application_name is
// appName (pg_terminate_backend) and returns how many there were.
func (db *DB) Terminate(ctx context.Context, appName string) (int, error) {
	var n int
	err := db.Pool.QueryRow(ctx, `
		SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = $1 AND application_name = $2 AND pid <> pg_backend_pid()`, db.name, appName).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("pgtest: terminating %q sessions: %w", appName, err)
	}
	return n, nil
}

// exec runs sql on the maintenance database.
func (s *server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.ConnectConfig(ctx, s.admin)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// dbName builds a database name from a test name: readable, unique, at
// most 63 bytes.
func dbName(test string, seq int64) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	suffix := fmt.Sprintf("_%d_%s", seq, hex.EncodeToString(b))
	base := strings.Trim(unsafeChars.ReplaceAllString(strings.ToLower(test), "_"), "_")
	base = "t_" + base
	if maxBase := 63 - len(suffix); len(base) > maxBase {
		base = base[:maxBase]
	}
	return base + suffix
}

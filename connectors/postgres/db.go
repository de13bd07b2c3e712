package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/secret"
)

// FieldWindowConcurrency is an optional setting, not written in pipeline
// files, through which the engine tells Open how many windows it writes at
// once; the pool holds that many connections plus two (state updates and
// the lease heartbeat). It defaults to DefaultWindowConcurrency.
const FieldWindowConcurrency = "window_concurrency"

// DefaultWindowConcurrency is the engine's default number of windows in
// flight.
const DefaultWindowConcurrency = 2

// ApplicationName is the application_name of every connection, as seen in
// pg_stat_activity.
const ApplicationName = "etl"

// Connection tuning.
const (
	connectTimeout    = 10 * time.Second
	keepAliveIdle     = 30 * time.Second
	keepAliveInterval = 10 * time.Second
	keepAliveCount    = 3
)

// SSL modes accepted in the sslmode setting.
var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// DB is a connection pool to the database that holds the raw tables and the
// engine's state.
type DB struct {
	pool     *pgxpool.Pool
	log      *slog.Logger
	where    string // host:port/database, for messages
	password string // scrubbed from errors
	store    *Store
}

// Open connects to the database described by settings (the postgres.upsert
// fields; user and password each as a string or a secret.Value). The pool
// configuration is built field by field: no connection string ever holds
// the password, and no error Open returns contains it.
func Open(ctx context.Context, s component.Settings, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, where, password, err := poolConfig(s)
	if err != nil {
		return nil, scrub(err, password)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, scrub(fmt.Errorf("postgres %s: %w", where, err), password)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, scrub(classify(fmt.Errorf("connecting to postgres %s: %w", where, err)), password)
	}
	db := &DB{pool: pool, log: logger.With("db", where), where: where, password: password}
	db.store = newStore(db)
	return db, nil
}

// Pool returns the connection pool.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// State returns the engine's state store kept in this database.
func (db *DB) State() *Store { return db.store }

// Migrate applies the embedded migrations (see Migrate).
func (db *DB) Migrate(ctx context.Context) error { return Migrate(ctx, db.pool, db.log) }

// Close closes the pool. Leases still held are not released.
func (db *DB) Close() { db.pool.Close() }

// poolConfig builds the pool configuration from settings. It also returns a
// description of the server for messages and the password, to scrub.
func poolConfig(s component.Settings) (cfg *pgxpool.Config, where, password string, err error) {
	host := s.String(FieldHost)
	if host == "" {
		host = "localhost"
	}
	port := s.Int(FieldPort)
	if port == 0 {
		port = 5432
	}
	database := s.String(FieldDatabase)
	user := secretString(s, FieldUser)
	password = secretString(s, FieldPassword)
	mode := s.String(FieldSSLMode)
	if mode == "" {
		mode = "prefer"
	}
	where = net.JoinHostPort(host, strconv.FormatInt(port, 10)) + "/" + database

	var errs []error
	if port < 1 || port > 65535 {
		errs = append(errs, fmt.Errorf("%s %d is not a TCP port", FieldPort, port))
	}
	if database == "" {
		errs = append(errs, fmt.Errorf("%s is not set", FieldDatabase))
	}
	if user == "" {
		errs = append(errs, fmt.Errorf("%s is not set", FieldUser))
	}
	if !slices.Contains(sslModes, mode) {
		errs = append(errs, fmt.Errorf("%s %q is not one of %s", FieldSSLMode, mode, strings.Join(sslModes, ", ")))
	}
	if strings.ContainsAny(host, "'\\\x00") {
		errs = append(errs, fmt.Errorf("%s %q contains a quote, a backslash or NUL", FieldHost, host))
	}
	if len(errs) > 0 {
		return nil, where, password, fmt.Errorf("postgres settings: %w", errors.Join(errs...))
	}

	// Only the host, port and TLS mode go through the parser, so that it
	// derives the TLS configuration and its fallbacks (sslmode=prefer tries
	// TLS, then plain). Database, user and password are set as fields.
	cfg, err = pgxpool.ParseConfig(fmt.Sprintf("host='%s' port=%d sslmode=%s", host, port, mode))
	if err != nil {
		return nil, where, password, fmt.Errorf("postgres settings for %s: %w", where, err)
	}
	cc := cfg.ConnConfig
	cc.Database = database
	cc.User = user
	cc.Password = password
	cc.ConnectTimeout = connectTimeout
	cc.RuntimeParams = map[string]string{"application_name": ApplicationName}
	dialer := &net.Dialer{
		Timeout: connectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{
			Enable:   true,
			Idle:     keepAliveIdle,
			Interval: keepAliveInterval,
			Count:    keepAliveCount,
		},
	}
	cc.DialFunc = dialer.DialContext

	concurrency := int(s.Int(FieldWindowConcurrency))
	if concurrency <= 0 {
		concurrency = DefaultWindowConcurrency
	}
	cfg.MaxConns = int32(concurrency + 2)
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 30 * time.Second
	return cfg, where, password, nil
}

// secretString reads a setting that is normally a secret.Value but may be a
// plain string (tests, tools).
func secretString(s component.Settings, name string) string {
	switch v := s[name].(type) {
	case secret.Value:
		return v.Reveal()
	case string:
		return v
	}
	return ""
}

// Environment variables read by SettingsFromEnv.
const (
	EnvHost     = "POSTGRES_HOST"
	EnvPort     = "POSTGRES_PORT"
	EnvDatabase = "POSTGRES_DB"
	EnvUser     = "POSTGRES_USER"
	EnvPassword = "POSTGRES_PASSWORD"
	EnvSSLMode  = "POSTGRES_SSLMODE"
)

// SettingsFromEnv builds connection settings for commands that run without
// a pipeline (etl migrate, etl status): host, port, database and TLS mode
// from POSTGRES_HOST (default localhost), POSTGRES_PORT (5432), POSTGRES_DB
// (etl) and POSTGRES_SSLMODE (prefer); user and password resolved from the
// secret sources (POSTGRES_USER, POSTGRES_PASSWORD: environment, NAME_FILE,
// or /run/secrets), the user as a plain string (it is not a secret), the
// password as a secret.Value. The schema is raw. A nil resolver reads the
// real environment.
func SettingsFromEnv(r *secret.Resolver) (component.Settings, error) {
	if r == nil {
		r = &secret.Resolver{}
	}
	lookup := r.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	get := func(name, def string) string {
		if v, ok := lookup(name); ok && v != "" {
			return v
		}
		return def
	}
	var errs []error
	s := component.Settings{
		FieldHost:     get(EnvHost, "localhost"),
		FieldDatabase: get(EnvDatabase, "etl"),
		FieldSSLMode:  get(EnvSSLMode, "prefer"),
		FieldSchema:   "raw",
	}
	portText := get(EnvPort, "5432")
	port, err := strconv.ParseInt(portText, 10, 64)
	if err != nil || port < 1 || port > 65535 {
		errs = append(errs, fmt.Errorf("%s=%q is not a TCP port", EnvPort, portText))
	}
	s[FieldPort] = port
	if !slices.Contains(sslModes, s.String(FieldSSLMode)) {
		errs = append(errs, fmt.Errorf("%s=%q is not one of %s", EnvSSLMode, s.String(FieldSSLMode), strings.Join(sslModes, ", ")))
	}
	for _, f := range []struct{ field, env string }{{FieldUser, EnvUser}, {FieldPassword, EnvPassword}} {
		v, _, err := r.Lookup(f.env)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if f.field == FieldUser {
			s[f.field] = v.Reveal()
		} else {
			s[f.field] = v
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

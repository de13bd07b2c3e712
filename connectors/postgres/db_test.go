package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/retry"
	"github.com/etl-engine/etl/engine/secret"
	"github.com/etl-engine/etl/engine/state"
	"github.com/etl-engine/etl/internal/pgtest"
)

// TestPasswordNeverInErrors connects in ways that fail and checks that no
// error carries the password.
func TestPasswordNeverInErrors(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.New(t)
	const canary = "Canary-Pw-7f3a9c'%S\\"
	tests := []struct {
		name      string
		change    func(component.Settings)
		retryable bool
	}{
		{"wrong password", func(s component.Settings) { s["password"] = secret.New("POSTGRES_PASSWORD", canary) }, false},
		{"nothing listening", func(s component.Settings) {
			s["password"] = secret.New("POSTGRES_PASSWORD", canary)
			s["port"] = int64(freePort(t))
		}, true},
		{"tls required", func(s component.Settings) {
			s["password"] = secret.New("POSTGRES_PASSWORD", canary)
			s["sslmode"] = "require"
		}, false},
		{"bad settings", func(s component.Settings) {
			s["password"] = canary
			s["sslmode"] = "sometimes"
			s["port"] = int64(70000)
		}, false},
		{"real password, unknown database", func(s component.Settings) { s["database"] = "no_such_db" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := pg.Settings()
			tc.change(s)
			ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			db, err := Open(ctx, s, testLogger())
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			msg := fmt.Sprintf("%v %+v %#v", err, err, err)
			t.Logf("error: %v", err)
			for _, pw := range []string{canary, pg.Password()} {
				if strings.Contains(msg, pw) {
					t.Errorf("error contains a password: %s", msg)
				}
			}
			if got := retry.ClassOf(err) == retry.Network; got != tc.retryable {
				t.Errorf("retryable = %v, want %v (%v)", got, tc.retryable, err)
			}
		})
	}
}

func TestScrub(t *testing.T) {
	base := retry.Mark(retry.Network, errors.New("dial user=x password=hunter2-pw failed"))
	err := scrub(base, "hunter2-pw")
	if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), secret.Redacted) {
		t.Errorf("scrub: %v", err)
	}
	if retry.ClassOf(err) != retry.Network {
		t.Error("scrub lost the error class")
	}
	if scrub(base, "") != base || scrub(nil, "x") != nil {
		t.Error("scrub changed an error without the password")
	}
}

func TestPoolConfig(t *testing.T) {
	s := component.Settings{
		"host": "db.internal", "port": int64(6543), "database": "etl", "sslmode": "disable",
		"user": "etl_user", "password": secret.New("POSTGRES_PASSWORD", "pw-123456"),
		FieldWindowConcurrency: int64(3),
	}
	cfg, where, _, err := poolConfig(s)
	if err != nil {
		t.Fatal(err)
	}
	cc := cfg.ConnConfig
	if cc.Host != "db.internal" || cc.Port != 6543 || cc.Database != "etl" || cc.User != "etl_user" ||
		cc.Password != "pw-123456" || cc.TLSConfig != nil || cc.RuntimeParams["application_name"] != "etl" || cc.DialFunc == nil {
		t.Errorf("conn config: host %s port %d db %s user %s tls %v params %v", cc.Host, cc.Port, cc.Database, cc.User, cc.TLSConfig != nil, cc.RuntimeParams)
	}
	if cfg.MaxConns != 5 {
		t.Errorf("MaxConns = %d, want window concurrency 3 + 2", cfg.MaxConns)
	}
	if strings.Contains(cfg.ConnString(), "pw-123456") || strings.Contains(cfg.ConnString(), "etl_user") {
		t.Errorf("connection string holds a secret: %s", cfg.ConnString())
	}
	if where != "db.internal:6543/etl" {
		t.Errorf("where = %s", where)
	}
	delete(s, FieldWindowConcurrency)
	s["sslmode"] = "prefer"
	cfg, _, _, err = poolConfig(s)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConns != 4 || cfg.ConnConfig.TLSConfig == nil || len(cfg.ConnConfig.Fallbacks) != 1 || cfg.ConnConfig.Fallbacks[0].Port != 6543 {
		t.Errorf("prefer: MaxConns %d, tls %v, fallbacks %d", cfg.MaxConns, cfg.ConnConfig.TLSConfig != nil, len(cfg.ConnConfig.Fallbacks))
	}
}

func TestSettingsFromEnv(t *testing.T) {
	envs := map[string]string{
		"POSTGRES_HOST": "pg", "POSTGRES_PORT": "5433", "POSTGRES_DB": "warehouse",
		"POSTGRES_USER": "etl", "POSTGRES_PASSWORD_FILE": "/secrets/pw",
	}
	r := &secret.Resolver{
		LookupEnv: func(k string) (string, bool) { v, ok := envs[k]; return v, ok },
		ReadFile: func(p string) ([]byte, error) {
			if p == "/secrets/pw" {
				return []byte("from-file-pw\n"), nil
			}
			return nil, fmt.Errorf("open %s: %w", p, errors.New("no such file"))
		},
	}
	s, err := SettingsFromEnv(r)
	if err != nil {
		t.Fatal(err)
	}
	if s.String("host") != "pg" || s.Int("port") != 5433 || s.String("database") != "warehouse" ||
		s.String("sslmode") != "prefer" || s.String("schema") != "raw" ||
		s.String("user") != "etl" || s.Secret("password").Reveal() != "from-file-pw" {
		t.Errorf("settings = %v", s)
	}
	delete(envs, "POSTGRES_USER")
	envs["POSTGRES_PORT"] = "http"
	_, err = SettingsFromEnv(r)
	if err == nil || !strings.Contains(err.Error(), "POSTGRES_USER") || !strings.Contains(err.Error(), `POSTGRES_PORT="http"`) {
		t.Errorf("missing user and bad port: %v", err)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want retry.Class
	}{
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, retry.Network},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, retry.Network},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, retry.Network},
		{"connection failure", &pgconn.PgError{Code: "08006"}, retry.Network},
		{"serialization", &pgconn.PgError{Code: "40001"}, retry.Network},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, retry.Network},
		{"unique violation", &pgconn.PgError{Code: "23505"}, retry.Permanent},
		{"invalid json", &pgconn.PgError{Code: "22P02"}, retry.Permanent},
		{"undefined table", &pgconn.PgError{Code: "42P01"}, retry.Permanent},
		{"eof", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), retry.Network},
		{"reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, retry.Network},
		{"lease lost", fmt.Errorf("x: %w", state.ErrLeaseLost), retry.Permanent},
		{"canceled", context.Canceled, retry.Permanent},
		{"deadline", context.DeadlineExceeded, retry.Timeout},
		{"plain", errors.New("boom"), retry.Permanent},
	}
	for _, tc := range tests {
		if got := retry.ClassOf(classify(fmt.Errorf("window 1: %w", tc.err))); got != tc.want {
			t.Errorf("%s: class %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestRegisteredExporter builds postgres.upsert as the engine does.
func TestRegisteredExporter(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.New(t)
	reg, ok := component.Lookup(Name)
	if !ok {
		t.Fatalf("%s is not registered", Name)
	}
	s := pg.Settings()
	s["table"] = "qb_invoices"
	exp, err := reg.NewExporter(ctx, component.BuildContext{Pipeline: "qb_invoices_backfill", Logger: testLogger()}, s)
	if err != nil {
		t.Fatalf("factory: %v", err)
	}
	defer exp.Close()
	se, ok := exp.(component.StatefulExporter)
	if !ok {
		t.Fatal("postgres.upsert is not a StatefulExporter")
	}
	st := se.State()
	lease, err := st.Acquire(ctx, "qb_invoices_backfill", "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)
	run, err := st.StartRun(ctx, lease, state.RunSpec{PlanKey: "k", Windows: windows(1)})
	if err != nil {
		t.Fatal(err)
	}
	w := windows(1)[0]
	stats, err := tryWindow(exp.(*Exporter), run.RunRef, w, page(w, 1, rec("1", t1, 0, "a")))
	if err != nil || stats.Inserted != 1 {
		t.Fatalf("window: %+v, %v", stats, err)
	}
	must(t, st.FinishRun(ctx, run.RunRef, state.RunCompleted, ""))

	// The factory refuses a hostile table name before connecting.
	s["table"] = `x"; DROP SCHEMA raw CASCADE; --`
	if _, err := reg.NewExporter(ctx, component.BuildContext{}, s); err == nil {
		t.Error("hostile table name accepted")
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

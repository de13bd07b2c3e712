package doctor

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/etl-engine/etl/connectors/postgres"
	"github.com/etl-engine/etl/engine/secret"
	"github.com/etl-engine/etl/internal/pgtest"
)

func TestDatabaseHealthy(t *testing.T) {
	pg := migrated(t)
	checks := database(t, pg.Settings())
	for _, c := range checks {
		if c.Status != StatusOK {
			t.Errorf("%s: %s %s (fix: %s)", c.Name, c.Status, c.Detail, c.Fix)
		}
	}
	want := []string{CheckConnection, CheckVersion, "postgres schema raw", "postgres raw.qb_customers", "postgres raw.qb_invoices",
		"postgres raw.qb_items", CheckTemp, CheckStateSchema, CheckStateTables, CheckLZ4}
	if len(checks) != len(want) {
		t.Fatalf("%d checks, want %d:%s", len(checks), len(want), dump(checks))
	}
	for i, name := range want {
		if checks[i].Name != name {
			t.Errorf("check %d is %q, want %q", i, checks[i].Name, name)
		}
	}
	if c := checks[0]; !strings.Contains(c.Detail, fmt.Sprintf("%s:%d/%s as user %s", pg.Host(), pg.Port(), pg.Name(), pg.User())) {
		t.Errorf("connection detail: %q", c.Detail)
	}
	if c := checks[1]; !strings.HasPrefix(c.Detail, "PostgreSQL 1") {
		t.Errorf("version detail: %q", c.Detail)
	}
	assertNoSecret(t, checks, pg.Password())
}

func TestDatabaseConnectFailures(t *testing.T) {
	pg := migrated(t)
	const wrong = "Wrong-Password-4711"
	tests := []struct {
		name   string
		edit   func(s map[string]any)
		detail []string
		fix    string
	}{
		{"wrong password", func(s map[string]any) { s[postgres.FieldPassword] = secret.New("POSTGRES_PASSWORD", wrong) },
			[]string{"password authentication failed", "28P01", "as user " + pg.User()}, "check POSTGRES_PASSWORD"},
		{"unknown database", func(s map[string]any) { s[postgres.FieldDatabase] = "no_such_db" },
			[]string{"does not exist", "/no_such_db as user"}, "CREATE DATABASE \"no_such_db\""},
		{"nothing listening", func(s map[string]any) { s[postgres.FieldPort] = int64(1) },
			[]string{"connection refused", ":1/"}, "POSTGRES_HOST and POSTGRES_PORT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := pg.Settings()
			tt.edit(s)
			checks, db := Database(context.Background(), s)
			if db != nil {
				db.Close()
				t.Fatal("connected")
			}
			if len(checks) != 1 {
				t.Fatalf("want only the connection check:%s", dump(checks))
			}
			c := checks[0]
			if c.Name != CheckConnection || c.Status != StatusFail {
				t.Fatalf("got %+v", c)
			}
			for _, want := range append(tt.detail, pg.Host(), s.String(postgres.FieldDatabase)) {
				if !strings.Contains(c.Detail, want) {
					t.Errorf("detail %q lacks %q", c.Detail, want)
				}
			}
			if !strings.Contains(c.Fix, tt.fix) {
				t.Errorf("fix %q lacks %q", c.Fix, tt.fix)
			}
			assertNoSecret(t, checks, wrong, pg.Password())
		})
	}
}

// TestDatabasePrivileges connects as a role without privileges, checks
// that each missing privilege fails with its GRANT, then runs the GRANTs
// as the administrator and checks that everything passes.
func TestDatabasePrivileges(t *testing.T) {
	ctx := context.Background()
	pg := migrated(t)
	s, password := newRole(t, pg)
	role := s.String(postgres.FieldUser)
	if _, err := pg.Pool.Exec(ctx, "REVOKE TEMPORARY ON DATABASE "+quote(pg.Name())+" FROM PUBLIC"); err != nil {
		t.Fatal(err)
	}
	checks := database(t, s)
	tests := []struct {
		check  string
		detail string
		fix    string
	}{
		{"postgres schema raw", "lacks USAGE and CREATE on schema raw", fmt.Sprintf(`GRANT USAGE, CREATE ON SCHEMA "raw" TO "%s";`, role)},
		{"postgres raw.qb_customers", "lacks SELECT, INSERT, UPDATE", fmt.Sprintf(`GRANT SELECT, INSERT, UPDATE ON "raw"."qb_customers" TO "%s";`, role)},
		{"postgres raw.qb_items", "lacks SELECT, INSERT, UPDATE", fmt.Sprintf(`GRANT SELECT, INSERT, UPDATE ON "raw"."qb_items" TO "%s";`, role)},
		{CheckTemp, "may not create temporary tables", fmt.Sprintf(`GRANT TEMPORARY ON DATABASE "%s" TO "%s";`, pg.Name(), role)},
		{CheckStateSchema, "may not read etl.schema_migrations", fmt.Sprintf(`GRANT USAGE ON SCHEMA etl TO "%s";`, role)},
		{CheckStateTables, "lacks USAGE on schema etl, etl.credentials", "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA etl"},
	}
	for _, tt := range tests {
		c := byName(t, checks, tt.check)
		if c.Status != StatusFail || !strings.Contains(c.Detail, tt.detail) || !strings.Contains(c.Fix, tt.fix) {
			t.Errorf("%s: got %s %q (fix %q), want fail with %q and fix %q", tt.check, c.Status, c.Detail, c.Fix, tt.detail, tt.fix)
		}
	}
	if c := byName(t, checks, CheckConnection); c.Status != StatusOK {
		t.Errorf("connection: %+v", c)
	}
	assertNoSecret(t, checks, password, pg.Password())

	// The fixes, as printed, are what it takes.
	seen := map[string]bool{}
	for _, c := range checks {
		if c.Status == StatusFail && !seen[c.Fix] {
			seen[c.Fix] = true
			if _, err := pg.Pool.Exec(ctx, c.Fix); err != nil {
				t.Fatalf("running the fix of %s, %q: %v", c.Name, c.Fix, err)
			}
		}
	}
	checks = database(t, s)
	for _, c := range checks {
		if c.Status != StatusOK {
			t.Errorf("after the GRANTs, %s: %s %s", c.Name, c.Status, c.Detail)
		}
	}
}

// TestDatabaseMissingSchema covers a database nobody migrated: a role that
// may create schemas is told to run etl migrate; one that may not gets the
// CREATE SCHEMA to ask for.
func TestDatabaseMissingSchema(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.New(t)
	checks := database(t, pg.Settings())
	if c := byName(t, checks, "postgres schema raw"); c.Status != StatusFail || !strings.Contains(c.Fix, "etl migrate") {
		t.Errorf("superuser, no schema: %+v", c)
	}
	if c := byName(t, checks, "postgres raw.qb_items"); c.Status != StatusSkip {
		t.Errorf("table of a missing schema: %+v", c)
	}
	if c := byName(t, checks, CheckStateSchema); c.Status != StatusWarn || !strings.Contains(c.Detail, "no migration applied") || !strings.Contains(c.Fix, "etl migrate") {
		t.Errorf("not migrated: %+v", c)
	}
	if c := byName(t, checks, CheckStateTables); c.Status != StatusSkip {
		t.Errorf("etl tables of a missing schema: %+v", c)
	}

	s, _ := newRole(t, pg)
	if _, err := pg.Pool.Exec(ctx, "REVOKE CREATE ON DATABASE "+quote(pg.Name())+" FROM PUBLIC"); err != nil {
		t.Fatal(err)
	}
	checks = database(t, s)
	c := byName(t, checks, "postgres schema raw")
	want := fmt.Sprintf(`CREATE SCHEMA "raw" AUTHORIZATION "%s";`, s.String(postgres.FieldUser))
	if c.Status != StatusFail || !strings.Contains(c.Detail, "may not create it") || !strings.Contains(c.Fix, want) {
		t.Errorf("role without CREATE: %+v, want fix %q", c, want)
	}
}

// TestDatabaseSchemaVersion covers migrations behind, dirty and ahead.
func TestDatabaseSchemaVersion(t *testing.T) {
	ctx := context.Background()
	latest, err := postgres.LatestSchemaVersion()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		sql    string
		status Status
		detail string
		fix    string
	}{
		{"current", "", StatusOK, fmt.Sprintf("migrations current (version %d)", latest), ""},
		{"behind", "UPDATE etl.schema_migrations SET version = 1", StatusWarn, fmt.Sprintf("at version 1, behind this etl's version %d", latest), "etl migrate"},
		{"dirty", "UPDATE etl.schema_migrations SET dirty = true", StatusFail, "marked dirty", "mark it clean"},
		{"ahead", "UPDATE etl.schema_migrations SET version = 99", StatusFail, "at version 99, newer than", "migration 99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pg := migrated(t)
			if tt.sql != "" {
				if _, err := pg.Pool.Exec(ctx, tt.sql); err != nil {
					t.Fatal(err)
				}
			}
			c := byName(t, database(t, pg.Settings()), CheckStateSchema)
			if c.Status != tt.status || !strings.Contains(c.Detail, tt.detail) || !strings.Contains(c.Fix, tt.fix) {
				t.Errorf("got %+v, want %s with %q and fix %q", c, tt.status, tt.detail, tt.fix)
			}
		})
	}
}

// TestDatabaseMissingTable: a raw table that does not exist yet is a
// warning when the role may create it (the first run does).
func TestDatabaseMissingTable(t *testing.T) {
	pg := migrated(t)
	if _, err := pg.Pool.Exec(context.Background(), "DROP TABLE raw.qb_invoices"); err != nil {
		t.Fatal(err)
	}
	c := byName(t, database(t, pg.Settings()), "postgres raw.qb_invoices")
	if c.Status != StatusWarn || !strings.Contains(c.Detail, "does not exist") || !strings.Contains(c.Fix, "etl migrate") {
		t.Errorf("got %+v", c)
	}
}

func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

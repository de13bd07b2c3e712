package doctor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	_ "github.com/etl-engine/etl/connectors/all"
	"github.com/etl-engine/etl/connectors/postgres"
	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/config"
	"github.com/etl-engine/etl/engine/secret"
	"github.com/etl-engine/etl/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// pipelineYAML is a pipeline like the shipped ones; %s is the entity and
// %s the table.
const pipelineYAML = `version: 1
name: %s
parameters:
  fecha_inicio: {type: timestamp, required: true}
  fecha_fin: {type: timestamp, required: true}
segmentation:
  cursor_field: MetaData.LastUpdatedTime
  start: ${params.fecha_inicio}
  end: ${params.fecha_fin}
  step: 1y
loader:
  use: qbo.query
  with:
    entity: %s
    realm_id: ${secret:QBO_REALM_ID}
    client_id: ${secret:QBO_CLIENT_ID}
    client_secret: ${secret:QBO_CLIENT_SECRET}
    refresh_token: ${secret:QBO_REFRESH_TOKEN}
    environment: ${env:QBO_ENV:-production}
    base_url: ${env:QBO_BASE_URL:-}
    token_url: ${env:QBO_TOKEN_URL}
exporter:
  use: postgres.upsert
  with:
    host: ${env:POSTGRES_HOST:-localhost}
    database: etl
    user: ${secret:POSTGRES_USER}
    password: ${secret:POSTGRES_PASSWORD}
    schema: raw
    table: %s
`

// writePipeline writes a pipeline file into dir and returns its path.
func writePipeline(t *testing.T, dir, name, entity, table string) string {
	t.Helper()
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, fmt.Appendf(nil, pipelineYAML, name, entity, table), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testPipelines returns two checked pipelines sharing one QBO connection.
func testPipelines(t *testing.T) []*config.Pipeline {
	t.Helper()
	dir := t.TempDir()
	writePipeline(t, dir, "customers", "Customer", "qb_customers")
	writePipeline(t, dir, "items", "Item", "qb_items")
	ps, c := LoadPipelines(dir)
	if c.Status != StatusOK || len(ps) != 2 {
		t.Fatalf("LoadPipelines: %+v", c)
	}
	return ps
}

// envMap is a lookup over a map.
func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// resolverFor resolves secrets from m only (no /run/secrets).
func resolverFor(t *testing.T, m map[string]string) *secret.Resolver {
	return &secret.Resolver{LookupEnv: envMap(m), SecretsDir: t.TempDir()}
}

// byName returns the check called name, failing the test when absent.
func byName(t *testing.T, checks []Check, name string) Check {
	t.Helper()
	for _, c := range checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %s", name, dump(checks))
	return Check{}
}

func dump(checks []Check) string {
	var b strings.Builder
	for _, c := range checks {
		fmt.Fprintf(&b, "\n  %-4s %s: %s", c.Status, c.Name, c.Detail)
		if c.Fix != "" {
			fmt.Fprintf(&b, " [fix: %s]", c.Fix)
		}
	}
	return b.String()
}

// assertNoSecret fails when any check holds one of values.
func assertNoSecret(t *testing.T, checks []Check, values ...string) {
	t.Helper()
	for _, c := range checks {
		for _, v := range values {
			if v != "" && (strings.Contains(c.Name, v) || strings.Contains(c.Detail, v) || strings.Contains(c.Fix, v)) {
				t.Errorf("check %q shows a secret value: %+v", c.Name, c)
			}
		}
	}
}

// migrated returns a fresh database with the embedded migrations applied.
func migrated(t testing.TB) *pgtest.DB {
	t.Helper()
	pg := pgtest.New(t)
	db, err := postgres.Open(context.Background(), pg.Settings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return pg
}

// newRole creates a login role with a random name and password, dropped
// when the test ends, and returns settings that connect as it.
func newRole(t *testing.T, pg *pgtest.DB) (component.Settings, string) {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	role := "doctor_" + hex.EncodeToString(b)
	password := "pw-" + hex.EncodeToString(b) + "-Secret"
	if _, err := pg.Pool.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", pgx.Identifier{role}.Sanitize(), password)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Grants in the test database depend on the role: drop them first.
		_, _ = pg.Pool.Exec(ctx, "DROP OWNED BY "+pgx.Identifier{role}.Sanitize())
		if _, err := pg.Pool.Exec(ctx, "DROP ROLE "+pgx.Identifier{role}.Sanitize()); err != nil {
			t.Logf("dropping role %s: %v", role, err)
		}
	})
	s := pg.Settings()
	s[postgres.FieldUser] = role
	s[postgres.FieldPassword] = secret.New("POSTGRES_PASSWORD", password)
	return s, password
}

// database runs Database and closes what it opened.
func database(t *testing.T, s component.Settings) []Check {
	t.Helper()
	checks, db := Database(context.Background(), s)
	if db != nil {
		db.Close()
	}
	return checks
}

package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/etl-engine/etl/connectors/postgres"
	"github.com/etl-engine/etl/connectors/qbo"
	"github.com/etl-engine/etl/connectors/qbo/sandbox"
	"github.com/etl-engine/etl/engine/config"
	"github.com/etl-engine/etl/engine/secret"
	"github.com/etl-engine/etl/engine/state"
	"github.com/etl-engine/etl/internal/pgtest"
)

// qboEnv is a sandbox served over HTTP and the variables that point the
// test pipelines at it.
type qboEnv struct {
	srv     *sandbox.Server
	url     string
	initial string // the refresh token the sandbox started with
	vars    map[string]string
}

func newQBOEnv(t *testing.T) *qboEnv {
	t.Helper()
	srv, err := sandbox.New(sandbox.Options{Seed: 1, Customers: 1, Items: 1, Invoices: 1, RefreshToken: "initial-refresh-token-value"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &qboEnv{srv: srv, url: hs.URL, initial: srv.RefreshToken(), vars: map[string]string{
		"QBO_ENV": "sandbox", "QBO_BASE_URL": hs.URL, "QBO_TOKEN_URL": hs.URL + "/oauth2/v1/tokens/bearer",
		"QBO_REALM_ID": srv.RealmID(), "QBO_CLIENT_ID": srv.ClientID(), "QBO_CLIENT_SECRET": srv.ClientSecret(),
		"QBO_REFRESH_TOKEN": srv.RefreshToken(),
	}}
}

// config resolves the test pipelines' QBO connection against e, with
// overrides.
func (e *qboEnv) config(t *testing.T, overrides map[string]string, unset ...string) QBOConfig {
	t.Helper()
	vars := map[string]string{}
	for k, v := range e.vars {
		vars[k] = v
	}
	for k, v := range overrides {
		vars[k] = v
	}
	for _, k := range unset {
		delete(vars, k)
	}
	cs := QBOConfigs(testPipelines(t), resolverFor(t, vars), envMap(vars))
	if len(cs) != 1 {
		t.Fatalf("%d QBO configurations, want 1 shared by both pipelines", len(cs))
	}
	return cs[0]
}

// credentials returns the credential store of a migrated database.
func credentials(t *testing.T, pg *pgtest.DB) state.CredentialStore {
	t.Helper()
	db, err := postgres.Open(context.Background(), pg.Settings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db.State().Credentials()
}

// storedRefreshToken reads the refresh token the store holds for realm.
func storedRefreshToken(t *testing.T, store state.CredentialStore, realm string) (string, bool) {
	t.Helper()
	v, ok, err := store.Get(context.Background(), "qbo/"+realm)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return "", false
	}
	var st struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(v, &st); err != nil {
		t.Fatal(err)
	}
	return st.RefreshToken, true
}

func TestQBORefreshRotatesAndStores(t *testing.T) {
	ctx := context.Background()
	e := newQBOEnv(t)
	store := credentials(t, migrated(t))
	c := e.config(t, nil)
	for i := 1; i <= 2; i++ {
		// The second time, the store holds a valid access token: doctor
		// refreshes anyway, as only a refresh proves the refresh token.
		red := &secret.Redactor{}
		check := QBORefresh(ctx, c, store, RefreshOptions{Redactor: red})
		if check.Status != StatusOK || check.Name != "qbo refresh realm "+e.srv.RealmID() {
			t.Fatalf("refresh %d: %+v", i, check)
		}
		for _, want := range []string{"rotated refresh token stored in etl.credentials (qbo/" + e.srv.RealmID() + ")", "used by customers, items"} {
			if !strings.Contains(check.Detail, want) {
				t.Errorf("detail %q lacks %q", check.Detail, want)
			}
		}
		if got := e.srv.Stats().Refreshes; got != int64(i) {
			t.Errorf("after doctor run %d the sandbox saw %d refreshes", i, got)
		}
		stored, ok := storedRefreshToken(t, store, e.srv.RealmID())
		if !ok || stored != e.srv.RefreshToken() || stored == e.initial {
			t.Errorf("run %d: the store does not hold the sandbox's current refresh token (stored %t)", i, ok)
		}
		if red.Redact(e.srv.RefreshToken()) != secret.Redacted {
			t.Error("the rotated refresh token was not given to the redactor")
		}
		assertNoSecret(t, []Check{check}, e.initial, e.srv.RefreshToken(), e.srv.ClientSecret())
	}
}

func TestQBORefreshFailures(t *testing.T) {
	ctx := context.Background()
	e := newQBOEnv(t)
	tests := []struct {
		name      string
		overrides map[string]string
		unset     []string
		pg        func(testing.TB) *pgtest.DB
		status    Status
		detail    []string
		fix       []string
	}{
		{name: "invalid_grant", overrides: map[string]string{"QBO_REFRESH_TOKEN": "revoked-refresh-token-value"}, pg: migrated,
			status: StatusFail, detail: []string{"HTTP 400", "invalid_grant", "realm " + e.srv.RealmID()},
			fix: []string{"re-authorise the app", "QBO_REFRESH_TOKEN", "exit with code 3", "docs/SECRETS.md"}},
		{name: "invalid_client", overrides: map[string]string{"QBO_CLIENT_SECRET": "wrong-client-secret-value"}, pg: migrated,
			status: StatusFail, detail: []string{"HTTP 401", "invalid_client"}, fix: []string{"QBO_CLIENT_ID and QBO_CLIENT_SECRET", "QBO_ENV"}},
		{name: "token endpoint unreachable", overrides: map[string]string{"QBO_TOKEN_URL": "http://127.0.0.1:1/token"}, pg: migrated,
			status: StatusFail, detail: []string{"token refresh", "connection refused"}, fix: []string{"QBO_TOKEN_URL"}},
		{name: "credential store not migrated", pg: pgtest.New,
			status: StatusFail, detail: []string{"cannot read the stored token", "no refresh attempted"}, fix: []string{"etl migrate"}},
		{name: "missing secret", unset: []string{"QBO_CLIENT_SECRET"}, pg: migrated,
			status: StatusFail, detail: []string{"cannot be resolved", "QBO_CLIENT_SECRET"}, fix: []string{"secret and env checks"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.srv.Stats().Refreshes
			c := e.config(t, tt.overrides, tt.unset...)
			store := credentials(t, tt.pg(t))
			check := QBORefresh(ctx, c, store, RefreshOptions{})
			if check.Status != tt.status {
				t.Fatalf("got %+v", check)
			}
			for _, want := range tt.detail {
				if !strings.Contains(check.Detail, want) {
					t.Errorf("detail %q lacks %q", check.Detail, want)
				}
			}
			for _, want := range tt.fix {
				if !strings.Contains(check.Fix, want) {
					t.Errorf("fix %q lacks %q", check.Fix, want)
				}
			}
			assertNoSecret(t, []Check{check}, "revoked-refresh-token-value", "wrong-client-secret-value", e.srv.RefreshToken(), e.srv.ClientSecret())
			if tt.name != "invalid_grant" && tt.name != "invalid_client" && e.srv.Stats().Refreshes != before {
				t.Error("the sandbox saw a refresh")
			}
			if e.srv.RefreshToken() != e.initial {
				t.Error("a failed check rotated the sandbox's refresh token")
			}
		})
	}
	if c := QBORefresh(ctx, e.config(t, nil), nil, RefreshOptions{}); c.Status != StatusSkip || !strings.Contains(c.Detail, "would lose the rotated refresh token") {
		t.Errorf("without a store: %+v", c)
	}
}

func TestQBOConfigs(t *testing.T) {
	vars := map[string]string{"QBO_REALM_ID": "4620816365", "QBO_CLIENT_ID": "client-id-value", "QBO_CLIENT_SECRET": "client-secret-value",
		"QBO_REFRESH_TOKEN": "refresh-token-value", "QBO_TOKEN_URL": "http://127.0.0.1:9/token"}
	pipelines := testPipelines(t)
	cs := QBOConfigs(pipelines, resolverFor(t, vars), envMap(vars))
	if len(cs) != 1 {
		t.Fatalf("%d configurations, want 1", len(cs))
	}
	c := cs[0]
	if c.Err != nil || c.Realm != "4620816365" || c.Environment != "production" || c.BaseURL != qbo.ProductionBaseURL ||
		c.TokenURL != "http://127.0.0.1:9/token" || c.ClientSecret.Reveal() != "client-secret-value" ||
		strings.Join(c.Pipelines, ",") != "customers,items" {
		t.Errorf("resolved: %+v (err %v)", c, c.Err)
	}

	vars["QBO_ENV"] = "sandbox"
	if c := QBOConfigs(pipelines, resolverFor(t, vars), envMap(vars))[0]; c.BaseURL != qbo.SandboxBaseURL {
		t.Errorf("sandbox base URL: %q", c.BaseURL)
	}
	vars["QBO_BASE_URL"] = "http://127.0.0.1:8089/"
	if c := QBOConfigs(pipelines, resolverFor(t, vars), envMap(vars))[0]; c.BaseURL != "http://127.0.0.1:8089" {
		t.Errorf("base URL override: %q", c.BaseURL)
	}

	delete(vars, "QBO_REFRESH_TOKEN")
	delete(vars, "QBO_TOKEN_URL")
	c = QBOConfigs(pipelines, resolverFor(t, vars), envMap(vars))[0]
	if c.Err == nil || !strings.Contains(c.Err.Error(), "QBO_REFRESH_TOKEN") || !strings.Contains(c.Err.Error(), "QBO_TOKEN_URL is not set") {
		t.Errorf("missing secret and variable: %v", c.Err)
	}
	if c.BaseURL != "http://127.0.0.1:8089" {
		t.Errorf("the base URL should resolve without the secrets: %q", c.BaseURL)
	}

	src := strings.NewReplacer("realm_id: ${secret:QBO_REALM_ID}", "realm_id: ${params.realm}",
		"  fecha_fin:", "  realm: {type: string, default: x}\n  fecha_fin:").Replace(pipelineYAML)
	p, ds := config.ParsePipeline("param.yaml", fmt.Appendf(nil, src, "param", "Customer", "qb_customers"))
	if p == nil || ds.HasErrors() {
		t.Fatalf("parameterised pipeline: %v", ds)
	}
	c = QBOConfigs([]*config.Pipeline{p}, resolverFor(t, vars), envMap(vars))[0]
	if c.Err == nil || !strings.Contains(c.Err.Error(), "depends on the parameter realm") {
		t.Errorf("parameterised realm: %v", c.Err)
	}
}

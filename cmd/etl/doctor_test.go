package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/etl-engine/etl/connectors/postgres"
	"github.com/etl-engine/etl/connectors/qbo/sandbox"
	"github.com/etl-engine/etl/engine/doctor"
	"github.com/etl-engine/etl/engine/secret"
	"github.com/etl-engine/etl/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// doctorEnv is a migrated database and a QBO sandbox, with the variables
// that point the shipped pipelines at them.
type doctorEnv struct {
	pg      *pgtest.DB
	srv     *sandbox.Server
	initial string // the sandbox's first refresh token
	env     map[string]string
}

func newDoctorEnv(t *testing.T) *doctorEnv {
	t.Helper()
	ctx := context.Background()
	pg := pgtest.New(t)
	db, err := postgres.Open(ctx, pg.Settings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Migrate(ctx)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sandbox.New(sandbox.Options{Seed: 1, Customers: 1, Items: 1, Invoices: 1,
		ClientSecret: "doctor-client-secret-value", RefreshToken: "doctor-refresh-token-value"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	env := map[string]string{
		"POSTGRES_HOST": pg.Host(), "POSTGRES_PORT": strconv.Itoa(pg.Port()), "POSTGRES_DB": pg.Name(),
		"POSTGRES_USER": pg.User(), "POSTGRES_PASSWORD": pg.Password(), "POSTGRES_SSLMODE": "disable",
		"QBO_ENV": "sandbox", "QBO_BASE_URL": hs.URL, "QBO_TOKEN_URL": hs.URL + "/oauth2/v1/tokens/bearer",
		"QBO_REALM_ID": srv.RealmID(), "QBO_CLIENT_ID": srv.ClientID(), "QBO_CLIENT_SECRET": srv.ClientSecret(),
		"QBO_REFRESH_TOKEN": srv.RefreshToken(),
	}
	// The overlay cannot unset variables: clear the ones of the real
	// environment that would interfere.
	for name := range env {
		for _, v := range []string{name, name + "_FILE"} {
			t.Setenv(v, "")
			os.Unsetenv(v)
		}
	}
	return &doctorEnv{pg: pg, srv: srv, initial: srv.RefreshToken(), env: env}
}

// secrets are the values that must never be printed.
func (e *doctorEnv) secrets() []string {
	return []string{e.pg.Password(), e.srv.ClientSecret(), e.srv.ClientID(), e.initial, e.srv.RefreshToken()}
}

// doctorRun is the outcome of one etl command.
type doctorRun struct {
	stdout, stderr string
	code           int
	err            error
	app            *app
}

// runDoctor runs etl with args through newRootCmd, as main does, with the
// overlay env and stdin.
func runDoctor(t *testing.T, env map[string]string, stdin string, args ...string) doctorRun {
	t.Helper()
	a := &app{redactor: &secret.Redactor{}, envOverlay: env}
	cmd := newRootCmd(a)
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return doctorRun{stdout: out.String(), stderr: errOut.String(), code: exitCode(err), err: err, app: a}
}

func (r doctorRun) assertNoSecrets(t *testing.T, values ...string) {
	t.Helper()
	all := r.stdout + r.stderr
	if r.err != nil {
		all += r.err.Error()
	}
	for _, v := range values {
		if v != "" && strings.Contains(all, v) {
			t.Errorf("the output shows a secret value (%d bytes)", len(v))
		}
	}
}

func (r doctorRun) assertLines(t *testing.T, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(r.stdout, l) {
			t.Errorf("output lacks %q:\n%s", l, r.stdout)
		}
	}
}

var shippedPipelines = filepath.Join(repoRoot, "pipelines")

func TestDoctorPasses(t *testing.T) {
	e := newDoctorEnv(t)
	r := runDoctor(t, e.env, "", "doctor", "--pipelines", shippedPipelines)
	if r.code != exitOK {
		t.Fatalf("exit %d (%v)\n%s\n%s", r.code, r.err, r.stdout, r.stderr)
	}
	r.assertLines(t,
		"ok    pipelines ",
		"ok    secret QBO_CLIENT_SECRET ",
		"ok    postgres connection ",
		"ok    postgres schema raw ",
		"ok    postgres schema etl ",
		"ok    clock vs postgres ",
		"ok    clock vs qbo ",
		"skip  qbo refresh realm "+e.srv.RealmID(),
		"fix: run etl doctor --qbo-refresh",
		" 0 failed, 1 skipped\n",
	)
	r.assertNoSecrets(t, e.secrets()...)
	if e.srv.Stats().Refreshes != 0 {
		t.Error("the token was refreshed without --qbo-refresh")
	}
	if r.app.redactor.Redact(e.srv.ClientSecret()) != secret.Redacted || r.app.redactor.Redact(e.pg.Password()) != secret.Redacted {
		t.Error("the secrets were not given to the redactor")
	}
}

func TestDoctorQBORefreshJSON(t *testing.T) {
	e := newDoctorEnv(t)
	r := runDoctor(t, e.env, "", "doctor", "--pipelines", shippedPipelines, "--qbo-refresh", "--yes", "--format", "json")
	if r.code != exitOK {
		t.Fatalf("exit %d (%v)\n%s\n%s", r.code, r.err, r.stdout, r.stderr)
	}
	var rep doctor.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	if !rep.OK || rep.Counts.Fail != 0 || rep.Counts.Skip != 0 {
		t.Errorf("report: %+v", rep)
	}
	var refresh *doctor.Check
	for i, c := range rep.Checks {
		if strings.HasPrefix(c.Name, "qbo refresh") {
			refresh = &rep.Checks[i]
		}
	}
	if refresh == nil || refresh.Status != doctor.StatusOK {
		t.Fatalf("refresh check: %+v", refresh)
	}
	if e.srv.Stats().Refreshes != 1 || e.srv.RefreshToken() == e.initial {
		t.Errorf("the sandbox saw %d refreshes", e.srv.Stats().Refreshes)
	}
	// The rotated token is where runs read it.
	var stored string
	err := e.pg.Pool.QueryRow(context.Background(), "SELECT value::jsonb->>'refresh_token' FROM etl.credentials WHERE key = $1",
		"qbo/"+e.srv.RealmID()).Scan(&stored)
	if err != nil || stored != e.srv.RefreshToken() {
		t.Errorf("etl.credentials does not hold the rotated refresh token (%v)", err)
	}
	r.assertNoSecrets(t, e.secrets()...)
}

func TestDoctorFails(t *testing.T) {
	e := newDoctorEnv(t)
	const wrong = "Wrong-Doctor-Password-9"
	e.env["POSTGRES_PASSWORD"] = wrong
	delete(e.env, "QBO_CLIENT_SECRET")
	for _, format := range []string{"text", "json"} {
		r := runDoctor(t, e.env, "", "doctor", "--pipelines", shippedPipelines, "--format", format)
		if r.code != exitFailed {
			t.Fatalf("%s: exit %d, want 1 (%v)\n%s", format, r.code, r.err, r.stdout)
		}
		if format == "text" {
			r.assertLines(t,
				"FAIL  secret QBO_CLIENT_SECRET ",
				"fix: set QBO_CLIENT_SECRET or QBO_CLIENT_SECRET_FILE or /run/secrets/qbo_client_secret",
				"FAIL  postgres connection ",
				"as user "+e.pg.User()+": password authentication failed",
				"skip  clock vs postgres ",
				"ok    clock vs qbo ",
				"fix the FAIL lines above",
			)
		}
		r.assertNoSecrets(t, append(e.secrets(), wrong)...)
	}
}

func TestDoctorUsageAndPrompt(t *testing.T) {
	e := newDoctorEnv(t)
	args := []string{"doctor", "--pipelines", shippedPipelines, "--qbo-refresh"}

	r := runDoctor(t, e.env, "", "doctor", "--format", "xml")
	if r.code != exitConfig {
		t.Errorf("--format xml: exit %d", r.code)
	}
	r = runDoctor(t, e.env, "y\n", args...)
	if r.code != exitConfig || r.err == nil || !strings.Contains(r.err.Error(), "not a terminal: add --yes") || r.stdout != "" {
		t.Errorf("--qbo-refresh without a terminal: exit %d, %v\n%s", r.code, r.err, r.stdout)
	}

	orig := stdinIsTerminal
	t.Cleanup(func() { stdinIsTerminal = orig })
	stdinIsTerminal = func(io.Reader) bool { return true }
	r = runDoctor(t, e.env, "n\n", args...)
	if r.code != exitOK || !strings.Contains(r.stderr, qboRefreshPrompt) {
		t.Errorf("answered n: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r.assertLines(t, "skip  qbo refresh realm "+e.srv.RealmID(), "declined at the prompt")
	if e.srv.Stats().Refreshes != 0 {
		t.Error("refreshed after n")
	}
	r = runDoctor(t, e.env, "y\n", args...)
	if r.code != exitOK {
		t.Errorf("answered y: exit %d\n%s", r.code, r.stdout)
	}
	r.assertLines(t, "ok    qbo refresh realm "+e.srv.RealmID())
	if e.srv.Stats().Refreshes != 1 {
		t.Errorf("answered y: %d refreshes", e.srv.Stats().Refreshes)
	}
	r.assertNoSecrets(t, e.secrets()...)
}

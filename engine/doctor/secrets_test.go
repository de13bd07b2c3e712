package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etl-engine/etl/engine/secret"
)

func TestSecrets(t *testing.T) {
	pipelines := testPipelines(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "client_secret")
	if err := os.WriteFile(file, []byte("from-a-file-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dockerDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dockerDir, "qbo_refresh_token"), []byte("docker-refresh-value"), 0o600); err != nil {
		t.Fatal(err)
	}
	values := []string{"env-client-id-value", "from-a-file-value", "docker-refresh-value", "env-password-value"}
	base := map[string]string{
		"QBO_CLIENT_ID":          "env-client-id-value",
		"QBO_CLIENT_SECRET_FILE": file,
		"QBO_REALM_ID":           "123145",
		"POSTGRES_USER":          "etl",
		"POSTGRES_PASSWORD":      "env-password-value",
	}
	tests := []struct {
		name   string
		env    map[string]string
		docker bool // secrets dir holds qbo_refresh_token
		check  string
		status Status
		detail []string // substrings of Detail; {dir} is the secrets dir
		fix    []string // substrings of Fix; {dir} is the secrets dir
	}{
		{name: "missing secret", check: "secret QBO_REFRESH_TOKEN", status: StatusFail,
			detail: []string{"not set", "used by all 2 pipelines"},
			fix:    []string{"set QBO_REFRESH_TOKEN or QBO_REFRESH_TOKEN_FILE or {dir}/qbo_refresh_token"}},
		{name: "present via _FILE", check: "secret QBO_CLIENT_SECRET", status: StatusOK,
			detail: []string{"file named by QBO_CLIENT_SECRET_FILE"}},
		{name: "present in the environment", check: "secret QBO_CLIENT_ID", status: StatusOK,
			detail: []string{"environment variable QBO_CLIENT_ID"}},
		{name: "present as a docker secret", docker: true, check: "secret QBO_REFRESH_TOKEN", status: StatusOK,
			detail: []string{"Docker secret in {dir}"}},
		{name: "both NAME and NAME_FILE", env: map[string]string{"QBO_CLIENT_SECRET": "also-in-env-value"}, check: "secret QBO_CLIENT_SECRET",
			status: StatusFail, detail: []string{"both QBO_CLIENT_SECRET and QBO_CLIENT_SECRET_FILE are set"}, fix: []string{"set exactly one of"}},
		{name: "empty", env: map[string]string{"QBO_CLIENT_ID": ""}, check: "secret QBO_CLIENT_ID",
			status: StatusFail, detail: []string{"set but empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			r := &secret.Resolver{LookupEnv: envMap(env), SecretsDir: t.TempDir()}
			if tt.docker {
				r.SecretsDir = dockerDir
			}
			red := &secret.Redactor{}
			checks := Secrets(pipelines, r, red)
			if len(checks) != 6 {
				t.Errorf("%d checks, want one per distinct secret (6):%s", len(checks), dump(checks))
			}
			c := byName(t, checks, tt.check)
			if c.Status != tt.status {
				t.Errorf("status %s, want %s: %+v", c.Status, tt.status, c)
			}
			for _, s := range tt.detail {
				if s = strings.ReplaceAll(s, "{dir}", r.SecretsDir); !strings.Contains(c.Detail, s) {
					t.Errorf("detail %q lacks %q", c.Detail, s)
				}
			}
			for _, s := range tt.fix {
				if s = strings.ReplaceAll(s, "{dir}", r.SecretsDir); !strings.Contains(c.Fix, s) {
					t.Errorf("fix %q lacks %q", c.Fix, s)
				}
			}
			assertNoSecret(t, checks, append(values, "also-in-env-value")...)
		})
	}
}

// TestSecretsRedactor checks that the values of secret fields reach the
// redactor, and identifiers (realm id, user) do not.
func TestSecretsRedactor(t *testing.T) {
	env := map[string]string{
		"QBO_CLIENT_ID": "client-id-value", "QBO_CLIENT_SECRET": "client-secret-value", "QBO_REFRESH_TOKEN": "refresh-token-value",
		"QBO_REALM_ID": "realm-123456", "POSTGRES_USER": "etl_writer", "POSTGRES_PASSWORD": "password-value",
	}
	red := &secret.Redactor{}
	checks := Secrets(testPipelines(t), resolverFor(t, env), red)
	if Failed(checks) {
		t.Fatalf("all set, yet:%s", dump(checks))
	}
	for _, v := range []string{"client-id-value", "client-secret-value", "refresh-token-value", "password-value"} {
		if got := red.Redact("x " + v + " x"); got != "x "+secret.Redacted+" x" {
			t.Errorf("%s not registered with the redactor: %q", v, got)
		}
	}
	for _, v := range []string{"realm-123456", "etl_writer"} {
		if got := red.Redact(v); got != v {
			t.Errorf("identifier %s redacted: %q", v, got)
		}
	}
}

func TestEnvironment(t *testing.T) {
	pipelines := testPipelines(t)
	tests := []struct {
		name   string
		env    map[string]string
		check  string
		status Status
		detail string
	}{
		{"unset without default", nil, "env QBO_TOKEN_URL", StatusFail, "not set and has no default"},
		{"set", map[string]string{"QBO_TOKEN_URL": "http://127.0.0.1:9/token"}, "env QBO_TOKEN_URL", StatusOK, `set to "http://127.0.0.1:9/token"`},
		{"unset with default", nil, "env QBO_ENV", StatusOK, `the default "production" applies`},
		{"unset with empty default", nil, "env QBO_BASE_URL", StatusOK, "the component's default applies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checks := Environment(pipelines, envMap(tt.env))
			if len(checks) != 4 {
				t.Errorf("%d checks, want 4:%s", len(checks), dump(checks))
			}
			c := byName(t, checks, tt.check)
			if c.Status != tt.status || !strings.Contains(c.Detail, tt.detail) {
				t.Errorf("got %+v, want %s with %q", c, tt.status, tt.detail)
			}
			if c.Status == StatusFail && !strings.Contains(c.Fix, "${env:QBO_TOKEN_URL:-value}") {
				t.Errorf("fix: %q", c.Fix)
			}
		})
	}
	// A nil lookup means nothing is set, not the process environment.
	t.Setenv("QBO_TOKEN_URL", "http://from-the-process")
	if c := byName(t, Environment(pipelines, nil), "env QBO_TOKEN_URL"); c.Status != StatusFail {
		t.Errorf("nil lookup read the process environment: %+v", c)
	}
}

func TestLoadPipelines(t *testing.T) {
	ps, c := LoadPipelines(filepath.Join(t.TempDir(), "none"))
	if ps != nil || c.Status != StatusFail || !strings.Contains(c.Detail, "does not exist") {
		t.Errorf("missing folder: %+v", c)
	}
	_, c = LoadPipelines(t.TempDir())
	if c.Status != StatusFail || !strings.Contains(c.Detail, "no *.yaml") {
		t.Errorf("empty folder: %+v", c)
	}
	dir := t.TempDir()
	writePipeline(t, dir, "customers", "Customer", "qb_customers")
	if err := os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("version: 1\nname: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ps, c = LoadPipelines(dir)
	if len(ps) != 1 || c.Status != StatusFail || !strings.Contains(c.Detail, "broken.yaml") || !strings.Contains(c.Fix, "etl lint "+dir) {
		t.Errorf("broken file: %d pipelines, %+v", len(ps), c)
	}
}

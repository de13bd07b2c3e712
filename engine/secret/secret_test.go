package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// env returns a LookupEnv over a fixed map.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLookup(t *testing.T) {
	const value = "s3cr3t-Value_42"
	files := t.TempDir()
	secrets := t.TempDir() // stands for /run/secrets
	writeFile(t, secrets, "docker_lower", value+"\n")
	writeFile(t, secrets, "Docker_Exact", value)
	writeFile(t, secrets, "docker_empty", "\n")

	tests := []struct {
		name    string
		lookup  string
		vars    map[string]string
		want    string
		source  Source
		errText string // substring of the error; "" means success
		notErr  error  // when set, the error must not wrap it
		isErr   error  // when set, the error must wrap it
	}{
		{name: "from env", lookup: "DB_PASS", vars: map[string]string{"DB_PASS": value}, want: value, source: FromEnv},
		{name: "env keeps spaces and newlines", lookup: "DB_PASS", vars: map[string]string{"DB_PASS": " " + value + "\n"}, want: " " + value + "\n", source: FromEnv},
		{name: "file, one newline trimmed", lookup: "DB_PASS", vars: map[string]string{"DB_PASS_FILE": writeFile(t, files, "lf", value+"\n")}, want: value, source: FromFileEnv},
		{name: "file, CRLF trimmed", lookup: "DB_PASS", vars: map[string]string{"DB_PASS_FILE": writeFile(t, files, "crlf", value+"\r\n")}, want: value, source: FromFileEnv},
		{name: "file, only one newline trimmed", lookup: "DB_PASS", vars: map[string]string{"DB_PASS_FILE": writeFile(t, files, "lflf", value+"\n\n")}, want: value + "\n", source: FromFileEnv},
		{name: "file, no newline", lookup: "DB_PASS", vars: map[string]string{"DB_PASS_FILE": writeFile(t, files, "bare", value)}, want: value, source: FromFileEnv},
		{name: "file, leading spaces kept", lookup: "DB_PASS", vars: map[string]string{"DB_PASS_FILE": writeFile(t, files, "sp", "  "+value+"\n")}, want: "  " + value, source: FromFileEnv},
		{name: "docker secret, lower-case name", lookup: "DOCKER_LOWER", want: value, source: FromDockerSecret},
		{name: "docker secret, exact name", lookup: "Docker_Exact", want: value, source: FromDockerSecret},
		{name: "env wins over docker secret", lookup: "DOCKER_LOWER", vars: map[string]string{"DOCKER_LOWER": "from-env"}, want: "from-env", source: FromEnv},
		{name: "both NAME and NAME_FILE", lookup: "DB_PASS", vars: map[string]string{"DB_PASS": value, "DB_PASS_FILE": writeFile(t, files, "both", value)},
			errText: "both DB_PASS and DB_PASS_FILE are set; set only one"},
		{name: "env empty", lookup: "DB_PASS", vars: map[string]string{"DB_PASS": ""}, errText: "environment variable is set but empty"},
		{name: "file empty", lookup: "DB_PASS", vars: map[string]string{"DB_PASS_FILE": writeFile(t, files, "empty", "")}, errText: "is empty"},
		{name: "file only a newline", lookup: "DB_PASS", vars: map[string]string{"DB_PASS_FILE": writeFile(t, files, "nl", "\r\n")}, errText: "is empty"},
		{name: "file missing", lookup: "DB_PASS", vars: map[string]string{"DB_PASS_FILE": filepath.Join(files, "nope")}, errText: "no such file or directory", notErr: ErrNotFound},
		{name: "docker secret empty", lookup: "DOCKER_EMPTY", errText: "is empty"},
		{name: "set nowhere", lookup: "DB_PASS", errText: "looked for environment variable DB_PASS, DB_PASS_FILE, and " + filepath.Join(secrets, "db_pass"), isErr: ErrNotFound},
		{name: "bad name", lookup: "db-pass", errText: `secret name "db-pass"`},
		{name: "empty name", lookup: "", errText: `secret name ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Resolver{LookupEnv: env(tt.vars), SecretsDir: secrets}
			got, src, err := r.Lookup(tt.lookup)
			if tt.errText == "" {
				if err != nil {
					t.Fatalf("Lookup(%s): %v", tt.lookup, err)
				}
				if got.Reveal() != tt.want || src != tt.source || got.Name() != tt.lookup {
					t.Errorf("Lookup(%s) = %q from %q named %q, want %q from %q", tt.lookup, got.Reveal(), src, got.Name(), tt.want, tt.source)
				}
				return
			}
			if err == nil {
				t.Fatalf("Lookup(%s) = %q, want an error containing %q", tt.lookup, got.Reveal(), tt.errText)
			}
			if !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("error %q does not contain %q", err, tt.errText)
			}
			if strings.Contains(err.Error(), value) {
				t.Errorf("error %q shows the secret value", err)
			}
			if tt.isErr != nil && !errors.Is(err, tt.isErr) {
				t.Errorf("error %q does not wrap %v", err, tt.isErr)
			}
			if tt.notErr != nil && errors.Is(err, tt.notErr) {
				t.Errorf("error %q wraps %v", err, tt.notErr)
			}
			if !got.IsZero() {
				t.Errorf("Lookup returned a value with its error")
			}
		})
	}
}

// TestLookupErrorsNeverShowValue sets the secret to values that could show
// up in error text (the path, a name) and checks every failure.
func TestLookupErrorsNeverShowValue(t *testing.T) {
	dir := t.TempDir()
	const value = "hunter2-very-secret"
	both := &Resolver{LookupEnv: env(map[string]string{"PW": value, "PW_FILE": writeFile(t, dir, "pw", value)}), SecretsDir: dir}
	if _, _, err := both.Lookup("PW"); err == nil || strings.Contains(err.Error(), value) {
		t.Errorf("both set: error %v", err)
	}
	unreadable := &Resolver{LookupEnv: env(map[string]string{"PW_FILE": dir}), SecretsDir: dir} // a folder
	if _, _, err := unreadable.Lookup("PW"); err == nil || strings.Contains(err.Error(), value) {
		t.Errorf("unreadable: error %v", err)
	}
}

func TestZeroResolverReadsTheEnvironment(t *testing.T) {
	t.Setenv("ETL_SECRET_TEST_VALUE", "from-the-real-env")
	var r *Resolver // nil works too
	v, src, err := r.Lookup("ETL_SECRET_TEST_VALUE")
	if err != nil || v.Reveal() != "from-the-real-env" || src != FromEnv {
		t.Fatalf("Lookup = %q, %q, %v", v.Reveal(), src, err)
	}
	if (&Resolver{}).secretsDir() != "/run/secrets" {
		t.Error("the default secrets folder is not /run/secrets")
	}
}

func TestValueNeverPrints(t *testing.T) {
	const value = "p@ss-w0rd-123"
	v := New("DB_PASS", value)
	type holder struct {
		Password Value
		Ptr      *Value
	}
	h := holder{Password: v, Ptr: &v}
	outputs := map[string]string{
		"%v":         fmt.Sprintf("%v", v),
		"%s":         fmt.Sprintf("%s", v),
		"%+v":        fmt.Sprintf("%+v", v),
		"%#v":        fmt.Sprintf("%#v", v),
		"%q":         fmt.Sprintf("%q", v),
		"%x":         fmt.Sprintf("%x", v),
		"%d":         fmt.Sprintf("%d", v),
		"Sprint":     fmt.Sprint(v),
		"Sprintln":   fmt.Sprintln(v),
		"String":     v.String(),
		"GoString":   v.GoString(),
		"struct %v":  fmt.Sprintf("%v", h),
		"struct %+v": fmt.Sprintf("%+v", h),
		"struct %#v": fmt.Sprintf("%#v", h),
		"slice %v":   fmt.Sprintf("%v", []Value{v}),
		"map %v":     fmt.Sprintf("%v", map[string]Value{"k": v}),
		"error %w":   fmt.Errorf("connect: %v", v).Error(),
	}
	j, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(j)
	text, _ := v.MarshalText()
	outputs["MarshalText"] = string(text)
	mj, _ := json.Marshal(map[Value]int{v: 1}) // as a map key, through MarshalText
	outputs["json map key"] = string(mj)
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		var handler slog.Handler = slog.NewTextHandler(&buf, nil)
		if format == "json" {
			handler = slog.NewJSONHandler(&buf, nil)
		}
		logger := slog.New(handler)
		logger.Info("connecting", "password", v, slog.Any("any", v), slog.Group("g", "p", v))
		logger.Info("struct", "holder", h)
		outputs["slog "+format] = buf.String()
	}
	for name, out := range outputs {
		if strings.Contains(out, value) {
			t.Errorf("%s prints the value: %s", name, out)
		}
		if !strings.Contains(out, Redacted) {
			t.Errorf("%s does not print %s: %s", name, Redacted, out)
		}
	}
	if v.Reveal() != value || v.Name() != "DB_PASS" || v.IsZero() {
		t.Error("Reveal, Name or IsZero is wrong")
	}
	if !(Value{}).IsZero() {
		t.Error("the zero Value is not zero")
	}
}

func TestRedactor(t *testing.T) {
	const value = "s3cr/t+v@lue=="
	r := &Redactor{}
	r.Add(value, "", "short") // empty and short values are ignored
	forms := map[string]string{
		"raw":                value,
		"query escaped":      url.QueryEscape(value),
		"path escaped":       url.PathEscape(value),
		"base64":             base64.StdEncoding.EncodeToString([]byte(value)),
		"base64 raw url":     base64.RawURLEncoding.EncodeToString([]byte(value)),
		"in a URL":           "https://db.example/?password=" + url.QueryEscape(value) + "&x=1",
		"in a Basic header":  "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(value)),
		"twice in a message": "first " + value + " then " + value,
	}
	for name, in := range forms {
		out := r.Redact(in)
		if strings.Contains(out, value) || strings.Contains(out, url.QueryEscape(value)) ||
			strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(value))) {
			t.Errorf("%s: %q is not redacted: %q", name, in, out)
		}
		if !strings.Contains(out, Redacted) {
			t.Errorf("%s: %q has no %s: %q", name, in, Redacted, out)
		}
	}
	if got := r.Redact("port 5432, user short"); got != "port 5432, user short" {
		t.Errorf("short values are redacted: %q", got)
	}
	// A value containing another is replaced whole, not left half visible.
	r.Add("token-abc", "token-abc-def-ghi")
	if got := r.Redact("t=token-abc-def-ghi"); got != "t="+Redacted {
		t.Errorf("longer value not replaced whole: %q", got)
	}
	var nilR *Redactor
	if nilR.Redact("x") != "x" || (&Redactor{}).Redact("x") != "x" {
		t.Error("a nil or empty Redactor changes text")
	}
}

func TestRedactorConcurrent(t *testing.T) {
	r := &Redactor{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			r.Add(fmt.Sprintf("secret-%06d", i))
		}
	}()
	for range 200 {
		_ = r.Redact("secret-000001 and more")
	}
	<-done
	if got := r.Redact("secret-000199"); got != Redacted {
		t.Errorf("got %q", got)
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etl-engine/etl/engine/secret"
)

// repoRoot is the repository root, from the package folder where tests
// start.
var repoRoot = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Join(wd, "..", "..")
}()

// runEtl runs the etl command with args, as main does, from the repository
// root, and returns its standard output and exit code.
func runEtl(t *testing.T, args ...string) (string, int) {
	t.Helper()
	t.Chdir(repoRoot)
	cmd := newRootCmd(&app{redactor: &secret.Redactor{}})
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), exitCode(err)
}

func TestLintShippedFilesAreClean(t *testing.T) {
	out, code := runEtl(t, "lint", "pipelines", "triggers")
	if code != 0 {
		t.Fatalf("etl lint pipelines triggers: exit %d\n%s", code, out)
	}
	if !strings.HasSuffix(out, "files checked, no problems\n") {
		t.Errorf("output: %q", out)
	}
	out, code = runEtl(t, "lint", "--strict", "pipelines", "triggers")
	if code != 0 {
		t.Errorf("--strict on the shipped files: exit %d\n%s", code, out)
	}
}

func TestLintExitCodes(t *testing.T) {
	const (
		broken   = "testdata/lint/pipelines/duplicate_keys.yaml"
		warnOnly = "testdata/lint/pipelines/rate_limit_qbo.yaml"
		clean    = "testdata/lint/pipelines/valid_items.yaml"
	)
	tests := []struct {
		name string
		args []string
		code int
		out  string // a line the output must hold
	}{
		{"clean file", []string{"lint", clean}, 0, "1 file checked, no problems"},
		{"errors", []string{"lint", broken}, 1, broken + `:29:3: error: duplicate key "step" (first defined at line 28)`},
		{"errors and a clean file", []string{"lint", clean, broken}, 1, "2 errors, 0 warnings in 2 files checked"},
		{"warnings only", []string{"lint", warnOnly}, 0, "0 errors, 2 warnings in 1 file checked"},
		{"warnings only, strict", []string{"lint", "--strict", warnOnly}, 1, "0 errors, 2 warnings in 1 file checked"},
		{"errors, strict", []string{"lint", "--strict", broken}, 1, "2 errors, 0 warnings"},
		{"json, errors", []string{"lint", "--format", "json", broken}, 1, `"errors": 2`},
		{"json, clean", []string{"lint", "--format=json", clean}, 0, `"errors": 0`},
		{"missing path", []string{"lint", "no/such/dir"}, 1, "no/such/dir: error: no such file or folder"},
		{"bad format", []string{"lint", "--format", "xml", clean}, 2, ""},
		{"unknown flag", []string{"lint", "--fix", clean}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runEtl(t, tt.args...)
			if code != tt.code {
				t.Errorf("etl %s: exit %d, want %d\n%s", strings.Join(tt.args, " "), code, tt.code, out)
			}
			if tt.out != "" && !strings.Contains(out, tt.out) {
				t.Errorf("etl %s: output lacks %q:\n%s", strings.Join(tt.args, " "), tt.out, out)
			}
		})
	}
}

// lintJSON mirrors the documented --format json output.
type lintJSON struct {
	Files       []string `json:"files"`
	Errors      int      `json:"errors"`
	Warnings    int      `json:"warnings"`
	Diagnostics []struct {
		File     string `json:"file"`
		Line     int    `json:"line"`
		Col      int    `json:"col"`
		Severity string `json:"severity"`
		Path     string `json:"path"`
		Message  string `json:"message"`
		Hint     string `json:"hint"`
	} `json:"diagnostics"`
}

func TestLintJSON(t *testing.T) {
	const file = "testdata/lint/pipelines/unknown_keys.yaml"
	out, code := runEtl(t, "lint", "--format", "json", file)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var res lintJSON
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("output is not the documented JSON: %v\n%s", err, out)
	}
	if dec.More() {
		t.Error("more than one JSON value in the output")
	}
	if len(res.Files) != 1 || res.Files[0] != file || res.Errors != 4 || res.Warnings != 0 || len(res.Diagnostics) != 4 {
		t.Fatalf("unexpected result: %+v", res)
	}
	d := res.Diagnostics[0]
	if d.File != file || d.Line != 24 || d.Col != 1 || d.Severity != "error" || d.Path != "/segmentaton" ||
		d.Message != `unknown key "segmentaton" in the top level` || d.Hint != `did you mean "segmentation"?` {
		t.Errorf("first diagnostic: %+v", d)
	}
	d = res.Diagnostics[1]
	if d.Line != 35 || d.Col != 5 || d.Path != "/loader/with/page_sise" || d.Hint != `did you mean "page_size"?` {
		t.Errorf("second diagnostic: %+v", d)
	}

	// The text and JSON outputs agree, diagnostic for diagnostic.
	text, _ := runEtl(t, "lint", file)
	for _, d := range res.Diagnostics {
		line := d.File + ":" + itoa(d.Line) + ":" + itoa(d.Col) + ": " + d.Severity + ": " + d.Message
		if !strings.Contains(text, line+"\n") {
			t.Errorf("text output lacks %q", line)
		}
	}

	// A clean run still prints a complete object, with empty lists.
	out, code = runEtl(t, "lint", "--format", "json", "pipelines")
	if code != 0 {
		t.Errorf("exit %d on the shipped pipelines", code)
	}
	if !strings.Contains(out, `"diagnostics": []`) {
		t.Errorf("clean output has no empty diagnostics list:\n%s", out)
	}
	var clean lintJSON
	if err := json.Unmarshal([]byte(out), &clean); err != nil || clean.Errors != 0 || len(clean.Files) != 3 {
		t.Errorf("clean output: %v %+v", err, clean)
	}
}

// TestLintWarningOnlyFromEnvironment checks the one environment-dependent
// finding: an unset variable without default is a warning, not an error,
// and disappears once the variable is set.
func TestLintWarningOnlyFromEnvironment(t *testing.T) {
	const file = "testdata/lint/pipelines/env_unset.yaml"
	t.Setenv("ETL_TESTDATA_UNSET_ENV", "")
	os.Unsetenv("ETL_TESTDATA_UNSET_ENV")
	out, code := runEtl(t, "lint", file)
	if code != 0 || !strings.Contains(out, "warning: environment variable ETL_TESTDATA_UNSET_ENV is not set and has no default") {
		t.Errorf("unset: exit %d\n%s", code, out)
	}
	if _, code := runEtl(t, "lint", "--strict", file); code != 1 {
		t.Errorf("unset, --strict: exit %d, want 1", code)
	}
	t.Setenv("ETL_TESTDATA_UNSET_ENV", "sandbox")
	out, code = runEtl(t, "lint", "--strict", file)
	if code != 0 || !strings.Contains(out, "no problems") {
		t.Errorf("set: exit %d\n%s", code, out)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	_ "github.com/etl-engine/etl/connectors/all"
	"github.com/etl-engine/etl/engine/config"
	"github.com/etl-engine/etl/engine/diag"
)

// addSeeds adds the shipped files and the lint corpus to the seed corpus,
// plus a few inputs that once tripped the loader.
func addSeeds(f *testing.F, globs ...string) {
	f.Helper()
	n := 0
	for _, g := range globs {
		files, err := filepath.Glob(filepath.Join("..", "..", g))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
			n++
		}
	}
	if n == 0 {
		f.Fatalf("no seed file matches %v", globs)
	}
	for _, s := range []string{
		"", "\n", "---\n", "~", "[]", "a: 1\n---\nb: [\n", "a: &x [*x]\n", "a: *nope\n",
		"<<: {a: 1}\n", "? [a]\n: 1\n", "a:\n\t- b\n", "a: !!binary aGk=\n", "a: !!int x\n",
		"a: 99999999999999999999999\n", "a: .inf\n", "\"unterminated\n", "a: {b: [c, {d: e}\n",
		"version: 1\nname: x\nsegmentation: {start: '${params.a', end: '${secret:X}', step: 1m}\n",
		"pipeline: /dev/null\nparams: {a: [1]}\n",
		strings.Repeat("[", 200), strings.Repeat("- ", 100) + "x\n",
	} {
		f.Add([]byte(s))
	}
}

// checkDiags asserts what every diagnostic must have: the file it was
// given, a line and column that are not negative (0 only for the file as a
// whole), a severity and a message; and, for diagnostics on src, a
// position inside it. (yaml.v3 also breaks lines at a lone CR, NEL, LS and
// PS, so such inputs are spared the last check.)
func checkDiags(t *testing.T, file string, src []byte, ds diag.List) {
	t.Helper()
	lines := strings.Split(string(src), "\n")
	exact := utf8.Valid(src) && !strings.ContainsAny(strings.ReplaceAll(string(src), "\r\n", "\n"), "\r\u0085\u2028\u2029")
	for _, d := range ds {
		if d.File == "" {
			t.Errorf("diagnostic without a file: %+v", d)
		}
		if d.File != file && d.File != "command line" {
			t.Errorf("diagnostic names file %q, want %q: %+v", d.File, file, d)
		}
		if d.Line < 0 || d.Col < 0 || (d.Line > 0 && d.Col == 0) {
			t.Errorf("diagnostic has position %d:%d: %+v", d.Line, d.Col, d)
		}
		if d.Message == "" || (d.Severity != diag.Error && d.Severity != diag.Warning) {
			t.Errorf("diagnostic without message or severity: %+v", d)
		}
		if exact && d.File == file && d.Line > 0 {
			if d.Line > len(lines) {
				t.Errorf("line %d is past the end (%d lines): %s", d.Line, len(lines), d)
			} else if w := utf8.RuneCountInString(strings.TrimSuffix(lines[d.Line-1], "\r")); d.Col > w+1 {
				t.Errorf("column %d is past the end of line %d (%d characters): %s", d.Col, d.Line, w, d)
			}
		}
	}
}

func FuzzParsePipeline(f *testing.F) {
	addSeeds(f, "pipelines/*.yaml", "testdata/lint/pipelines/*.yaml")
	f.Fuzz(func(t *testing.T, src []byte) {
		const file = "fuzz.yaml"
		p, ds := config.ParsePipeline(file, src)
		checkDiags(t, file, src, ds)
		if p == nil || ds.HasErrors() {
			return
		}
		// A pipeline that passed its checks must bind (or say why) without
		// panicking, with its defaults and with values for every parameter.
		b := &config.Binder{Mode: config.BindCheck, LookupEnv: func(string) (string, bool) { return "", false }}
		_, bds := b.Bind(p, nil)
		checkDiags(t, file, src, bds)
		params := map[string]config.ParamValue{}
		for _, ps := range p.Params {
			params[ps.Name] = config.ParamValue{Value: "2024-01-01T00:00:00Z"}
		}
		if bound, bds := b.Bind(p, params); bound != nil {
			checkDiags(t, file, src, bds)
			if len(bound.PlanKey) != 16 {
				t.Errorf("plan key %q", bound.PlanKey)
			}
		}
	})
}

func FuzzParseTrigger(f *testing.F) {
	addSeeds(f, "triggers/*.yaml", "testdata/lint/triggers/*.yaml")
	pipelineSrc, err := os.ReadFile(filepath.Join("..", "..", "pipelines", "qb_items_backfill.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	p, ds := config.ParsePipeline("qb_items_backfill.yaml", pipelineSrc)
	if p == nil || ds.HasErrors() {
		f.Fatalf("shipped pipeline: %v", ds)
	}
	// The trigger's params are checked against a fixed pipeline, whatever
	// file it names: fuzzing must not read arbitrary paths.
	load := func(string) (*config.Pipeline, diag.List) { return p, nil }
	f.Fuzz(func(t *testing.T, src []byte) {
		const file = "triggers/fuzz.yaml"
		tr, ds := config.ParseTrigger(file, src)
		checkDiags(t, file, src, ds)
		if tr == nil || tr.PipelinePath == "" {
			return
		}
		tr.PipelinePath = filepath.Join("..", "..", "pipelines", "qb_items_backfill.yaml")
		_, cds := config.CheckTrigger(tr, load)
		checkDiags(t, file, src, cds)
	})
}

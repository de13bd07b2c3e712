package lint

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	_ "github.com/etl-engine/etl/connectors/all"
	"github.com/etl-engine/etl/engine/diag"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/lint from the current output")

// corpus is the folder of broken files, relative to the repository root.
const corpus = "testdata/lint"

// atRepoRoot moves the test to the repository root, so that file names in
// the output read as they would for `etl lint testdata/lint/...` run there,
// and clears every environment variable the corpus refers to, so that the
// output does not depend on the machine.
func atRepoRoot(t testing.TB) {
	t.Helper()
	t.Chdir(filepath.Join("..", ".."))
	envRef := regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)`)
	seen := map[string]bool{}
	for _, dir := range []string{corpus, "pipelines", "triggers"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range envRef.FindAllStringSubmatch(string(src), -1) {
				if !seen[m[1]] {
					seen[m[1]] = true
					t.Setenv(m[1], "") // restored after the test
					os.Unsetenv(m[1])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// corpusFiles lists the .yaml files of the corpus, sorted.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(corpus, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".yaml") {
			files = append(files, filepath.ToSlash(path))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

// TestGolden lints each file of testdata/lint on its own and compares the
// text output, byte for byte, with the .golden file beside it. Run
// `go test ./engine/lint -run TestGolden -update` to rewrite them, then
// review every change.
func TestGolden(t *testing.T) {
	atRepoRoot(t)
	files := corpusFiles(t)
	if len(files) < 35 {
		t.Fatalf("%s holds %d files; the corpus needs at least 35", corpus, len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(file, corpus+"/"), ".yaml")
		t.Run(name, func(t *testing.T) {
			res := Run([]string{file})
			var out bytes.Buffer
			WriteText(&out, res)
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("etl lint %s differs from %s\n--- got\n%s--- want\n%s", file, golden, out.Bytes(), want)
			}
			checkPositions(t, file, res.Diagnostics)
		})
	}
}

// checkPositions asserts that every diagnostic points inside the file it
// names: an existing line, and a column on it (or just past its end).
func checkPositions(t *testing.T, file string, ds diag.List) {
	t.Helper()
	for _, d := range ds {
		if d.Line == 0 {
			continue // no position: the file as a whole, or the command line
		}
		src, err := os.ReadFile(d.File)
		if err != nil {
			t.Errorf("%s: diagnostic names a file that cannot be read: %v", d, err)
			continue
		}
		lines := strings.Split(string(src), "\n")
		if d.Line < 1 || d.Line > len(lines) {
			t.Errorf("%s: line %d is outside the file (%d lines)", d, d.Line, len(lines))
			continue
		}
		if width := utf8.RuneCountInString(lines[d.Line-1]); d.Col < 1 || d.Col > width+1 {
			t.Errorf("%s: column %d is outside line %d (%d characters)", d, d.Col, d.Line, width)
		}
	}
}

// TestCorpusCovers guards the breadth of the corpus: each check that the
// issue asks for must show up in at least one golden file, so that removing
// a case or losing a check is noticed.
func TestCorpusCovers(t *testing.T) {
	atRepoRoot(t)
	var all strings.Builder
	for _, f := range corpusFiles(t) {
		b, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".golden")
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	text := all.String()
	for _, want := range []string{
		"YAML syntax: found a tab character",
		"YAML syntax: unclosed list",
		"file is empty",
		"top level must be a mapping",
		"YAML aliases (*zone) are not supported",
		"YAML merge keys (<<) are not supported",
		"file holds more than one YAML document",
		"duplicate key",
		"unknown key",
		`did you mean "segmentation"?`,
		"expected integer, got string",
		"missing required key",
		"is not a duration",
		"is not a timestamp",
		"has no UTC offset",
		"must be after",
		"is above the maximum 1000",
		"unknown loader",
		"is an exporter, not a loader",
		"contains quotes, semicolons or comment markers",
		"is 64 bytes long",
		"must be lower-case",
		"is a secret field and holds a literal value",
		"looks like a secret and holds a literal value",
		"warning: environment variable ETL_TESTDATA_UNSET_ENV is not set and has no default",
		"cannot be part of a longer string",
		"cannot have a default",
		"unknown reference",
		"reference to undeclared parameter",
		"parameter page_size default",
		`invalid step "1m"`,
		`invalid step "P1D"`,
		"unknown time zone",
		"is longer than retry.max_backoff",
		"warning: rate_limit.requests_per_minute 600 is above QBO's limit of 500",
		"does not exist",
		`has no parameter "page_sise"`,
		"5000 is out of range 1..1000",
		`schedule "61 * * * *"`,
		`unknown time zone "Mars/Olympus"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no golden file of %s shows %q", corpus, want)
		}
	}
}

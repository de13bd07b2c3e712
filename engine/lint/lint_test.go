package lint

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/etl-engine/etl/engine/diag"
)

// TestRunFolderEqualsFiles lints the whole corpus at once (in parallel,
// with the pipeline cache shared by triggers) and checks that it finds
// exactly what linting each file on its own finds.
func TestRunFolderEqualsFiles(t *testing.T) {
	atRepoRoot(t)
	files := corpusFiles(t)
	var want diag.List
	for _, f := range files {
		want = append(want, Run([]string{f}).Diagnostics...)
	}
	want = want.Sort()
	for range 3 { // a few times, for the race detector
		got := Run([]string{corpus + "/triggers", corpus + "/pipelines"})
		if len(got.Files) != len(files) {
			t.Fatalf("linted %d files, want %d", len(got.Files), len(files))
		}
		if !slices.Equal(got.Diagnostics, want) {
			t.Fatalf("folder lint differs from file-by-file lint:\n got %d diagnostics\nwant %d", len(got.Diagnostics), len(want))
		}
	}
}

func TestCollectSkipsHiddenAndTestdata(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.yaml", "b.yml", "c.json", "sub/d.yaml", ".git/e.yaml", "testdata/f.yaml", "sub/testdata/g.yaml"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := collect(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yml"), filepath.Join(dir, "sub", "d.yaml")}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("collect = %v, want %v", got, want)
	}
	// Named explicitly, a testdata folder is linted.
	got, err = collect(filepath.Join(dir, "testdata"))
	if err != nil || len(got) != 1 {
		t.Errorf("collect(testdata) = %v, %v", got, err)
	}
	res := Run([]string{filepath.Join(dir, "missing")})
	if res.Errors != 1 || res.Diagnostics[0].Message != "no such file or folder" {
		t.Errorf("missing path: %+v", res)
	}
}

func TestLintRefusesDevices(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Fatalf("this test needs /dev/zero (Linux): %v", err)
	}
	res := Run([]string{"/dev/zero"})
	if res.Errors != 1 || res.Diagnostics[0].Message != "cannot read: is not a regular file" {
		t.Errorf("/dev/zero: %+v", res.Diagnostics)
	}
}

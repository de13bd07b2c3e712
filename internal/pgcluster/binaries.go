package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// InstallHint tells a user how to make PostgreSQL available.
const InstallHint = "install with `apt-get install -y postgresql`, or set ETL_TEST_DATABASE_URL"

// ErrNotInstalled is returned when the PostgreSQL server binaries cannot be
// found. Its message carries InstallHint.
var ErrNotInstalled = errors.New("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: " + InstallHint)

// DefaultSearchGlob is where distribution packages install versioned server
// binaries.
const DefaultSearchGlob = "/usr/lib/postgresql/*/bin"

// Binaries are the server programs of one PostgreSQL installation.
type Binaries struct {
	// Dir holds initdb, pg_ctl and postgres.
	Dir      string
	Initdb   string
	PgCtl    string
	Postgres string
}

// FindBinaries locates initdb, pg_ctl and postgres: first through PATH, then
// in the highest version under DefaultSearchGlob. The three must live in one
// folder, since initdb runs the postgres beside it.
func FindBinaries() (Binaries, error) {
	return findBinaries(exec.LookPath, DefaultSearchGlob)
}

// binaries returns the programs in dir, or those FindBinaries finds when
// dir is empty.
func binaries(dir string) (Binaries, error) {
	if dir == "" {
		return FindBinaries()
	}
	if b, ok := binariesIn(dir); ok {
		return b, nil
	}
	return Binaries{}, fmt.Errorf("%w (no initdb, pg_ctl and postgres in %s)", ErrNotInstalled, dir)
}

func findBinaries(lookPath func(string) (string, error), glob string) (Binaries, error) {
	if p, err := lookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			if b, ok := binariesIn(filepath.Dir(real)); ok {
				return b, nil
			}
		}
	}
	dirs, _ := filepath.Glob(glob)
	// Highest version first: /usr/lib/postgresql/15/bin before .../9.6/bin.
	slices.SortFunc(dirs, func(a, b string) int { return compareVersions(versionOf(b), versionOf(a)) })
	for _, d := range dirs {
		if b, ok := binariesIn(d); ok {
			return b, nil
		}
	}
	return Binaries{}, fmt.Errorf("%w (searched PATH and %s)", ErrNotInstalled, glob)
}

func binariesIn(dir string) (Binaries, bool) {
	b := Binaries{
		Dir:      dir,
		Initdb:   filepath.Join(dir, "initdb"),
		PgCtl:    filepath.Join(dir, "pg_ctl"),
		Postgres: filepath.Join(dir, "postgres"),
	}
	for _, p := range []string{b.Initdb, b.PgCtl, b.Postgres} {
		st, err := os.Stat(p)
		if err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
			return Binaries{}, false
		}
	}
	return b, true
}

// versionOf extracts the version folder of /usr/lib/postgresql/<v>/bin.
func versionOf(binDir string) []int {
	var out []int
	for _, part := range strings.Split(filepath.Base(filepath.Dir(binDir)), ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil
		}
		out = append(out, n)
	}
	return out
}

func compareVersions(a, b []int) int { return slices.Compare(a, b) }

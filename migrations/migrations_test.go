package migrations

import (
	"fmt"
	"io/fs"
	"regexp"
	"testing"
)

var fileName = regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.(up|down)\.sql$`)

// TestFiles checks the golang-migrate naming: numbered from 1 without gaps,
// each up file with its down file.
func TestFiles(t *testing.T) {
	entries, err := fs.ReadDir(FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	ups, downs := map[int]string{}, map[int]string{}
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			t.Errorf("%s: not NNNN_name.up.sql or NNNN_name.down.sql", e.Name())
			continue
		}
		var n int
		fmt.Sscan(m[1], &n)
		if m[2] == "up" {
			ups[n] = e.Name()
		} else {
			downs[n] = e.Name()
		}
	}
	if len(ups) == 0 {
		t.Fatal("no migrations embedded")
	}
	for n := 1; n <= len(ups); n++ {
		if ups[n] == "" {
			t.Errorf("migration %04d is missing", n)
		}
		if downs[n] == "" {
			t.Errorf("migration %04d has no down file", n)
		}
	}
}

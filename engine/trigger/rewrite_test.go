package trigger

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestRewriteCompletesKeepingEveryOtherByte(t *testing.T) {
	src, err := os.ReadFile("testdata/once_active.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Rewrite(src, Edit{
		Set: []KeyValue{
			{Key: "status", Value: "completed"},
			{Key: "completed_at", Value: "2026-12-04T23:59:41Z"},
			{Key: "run_id", Value: "20261204T235900Z-a1b2c3"},
		},
		Remove: []string{"last_error"},
	})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "once_completed.golden.yaml", out)
	// Every line of the input except the changed keys is in the output, in order.
	var kept []string
	for _, l := range strings.Split(string(src), "\n") {
		if !strings.HasPrefix(l, "status:") && !strings.HasPrefix(l, "last_error:") {
			kept = append(kept, l)
		}
	}
	var rest []string
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(l, "status:") && !strings.HasPrefix(l, "completed_at:") && !strings.HasPrefix(l, "run_id:") {
			rest = append(rest, l)
		}
	}
	if strings.Join(kept, "\n") != strings.Join(rest, "\n") {
		t.Fatalf("lines outside the changed keys moved or changed:\n%s", out)
	}
	if !strings.Contains(string(out), "status: completed    # flipped by the scheduler") {
		t.Fatalf("the status line lost its comment:\n%s", out)
	}
}

func TestRewriteSetsQuotedErrorAndReplacesExisting(t *testing.T) {
	src := []byte("name: x\nlast_error: 'old ''quoted'' one'  # c\nstatus: active\n")
	out, err := Rewrite(src, Edit{Set: []KeyValue{{Key: "last_error", Value: `window 2: "boom" # not a comment`, Quote: true}}})
	if err != nil {
		t.Fatal(err)
	}
	want := "name: x\nlast_error: \"window 2: \\\"boom\\\" # not a comment\"  # c\nstatus: active\n"
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	out2, err := Rewrite(out, Edit{Set: []KeyValue{{Key: "last_error", Value: "second", Quote: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if string(out2) != "name: x\nlast_error: \"second\"  # c\nstatus: active\n" {
		t.Fatalf("got\n%s", out2)
	}
}

func TestRewriteAddsKeysAtTheEndWithoutStatus(t *testing.T) {
	out, err := Rewrite([]byte("name: x\n"), Edit{Set: []KeyValue{{Key: "status", Value: "completed"}}})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "name: x\nstatus: completed\n" {
		t.Fatalf("got %q", out)
	}
}

func TestRewriteRefusesMultiLineValues(t *testing.T) {
	_, err := Rewrite([]byte("name: x\nstatus: |\n  active\n"), Edit{Set: []KeyValue{{Key: "status", Value: "completed"}}})
	if err == nil || !strings.Contains(err.Error(), "single-line") {
		t.Fatalf("err = %v", err)
	}
}

func TestWriteFileAtomicKeepsMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.yaml")
	if err := os.WriteFile(p, []byte("a: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(p, []byte("a: 2\n")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if fi.Mode().Perm() != 0o600 || string(b) != "a: 2\n" {
		t.Fatalf("mode %v content %q", fi.Mode().Perm(), b)
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %d entries", len(entries))
	}
}

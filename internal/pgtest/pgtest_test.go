package pgtest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/etl-engine/etl/engine/secret"
)

func TestMain(m *testing.M) { Main(m) }

func TestNewGivesFreshDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := New(t), New(t)
	if a.Name() == b.Name() {
		t.Fatalf("two databases share the name %s", a.Name())
	}
	if _, err := a.Pool.Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.Pool.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname = 'only_in_a'").Scan(&n); err != nil || n != 0 {
		t.Errorf("table of database a visible in b: n=%d err=%v", n, err)
	}
	s := a.Settings()
	if s.String("database") != a.Name() || s.String("sslmode") != "disable" || s.String("schema") != "raw" || s.Int("port") == 0 {
		t.Errorf("settings: %v", s)
	}
	if pw, ok := s["password"].(secret.Value); !ok || pw.Reveal() != a.Password() {
		t.Errorf("password setting is not the secret value")
	}
}

func TestDBName(t *testing.T) {
	for _, tc := range []struct{ test, prefix string }{
		{"TestX", "t_testx_"},
		{"TestA/sub case#1", "t_testa_sub_case_1_"},
		{strings.Repeat("TestLong", 20), "t_testlong"},
	} {
		got := dbName(tc.test, 12)
		if !strings.HasPrefix(got, tc.prefix) || len(got) > 63 {
			t.Errorf("dbName(%q) = %q (%d bytes), want prefix %q and <= 63 bytes", tc.test, got, len(got), tc.prefix)
		}
	}
}

func TestTerminate(t *testing.T) {
	ctx := context.Background()
	db := New(t)
	n, err := db.Terminate(ctx, "nobody")
	if err != nil || n != 0 {
		t.Errorf("Terminate(nobody) = %d, %v", n, err)
	}
}

// TestFailsWithoutPostgres runs a test in a child process where no server
// programs can be found, and checks that it fails (not skips) with the
// install hint.
func TestFailsWithoutPostgres(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		New(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFailsWithoutPostgres$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "PGTEST_CHILD=1", EnvBinDir+"="+t.TempDir(), EnvDatabaseURL+"=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("child test passed without PostgreSQL:\n%s", out)
	}
	for _, want := range []string{"--- FAIL: TestFailsWithoutPostgres", "install with `apt-get install -y postgresql`, or set ETL_TEST_DATABASE_URL"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Errorf("child skipped instead of failing:\n%s", out)
	}
}

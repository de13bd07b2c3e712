package pgcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestFindBinariesMissing(t *testing.T) {
	notFound := func(string) (string, error) { return "", exec.ErrNotFound }
	_, err := findBinaries(notFound, filepath.Join(t.TempDir(), "*", "bin"))
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("err = %v, want ErrNotInstalled", err)
	}
	for _, want := range []string{"install with `apt-get install -y postgresql`", "or set ETL_TEST_DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestFindBinariesHighestVersion(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9.6", "13", "16", "17"} {
		dir := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		progs := []string{"initdb", "pg_ctl", "postgres"}
		if v == "17" {
			progs = progs[:2] // incomplete installation: skipped
		}
		for _, p := range progs {
			if err := os.WriteFile(filepath.Join(dir, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	notFound := func(string) (string, error) { return "", exec.ErrNotFound }
	b, err := findBinaries(notFound, filepath.Join(root, "*", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "16", "bin"); b.Dir != want {
		t.Errorf("Dir = %s, want %s", b.Dir, want)
	}
}

// TestStartRestartStop runs a real cluster. It fails (never skips) when
// PostgreSQL is not installed.
func TestStartRestartStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Password: "s3cret-Pw"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	dir := filepath.Dir(c.DataDir())
	defer c.Stop(context.Background())

	if c.Port() == 0 || c.Host() != "127.0.0.1" || c.SuperUser() != "postgres" || c.Password() != "s3cret-Pw" {
		t.Fatalf("accessors: host %s port %d user %s", c.Host(), c.Port(), c.SuperUser())
	}
	if _, err := os.Stat(filepath.Join(dir, ".pwfile")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("password file left behind: %v", err)
	}
	if err := c.CreateDatabase(ctx, "select"); err != nil {
		t.Fatalf("CreateDatabase: %v", err)
	}
	if err := c.ExecAsSuperuser(ctx, `CREATE TABLE t (x int); INSERT INTO t VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx, true); err != nil {
		t.Fatalf("Restart(immediate): %v", err)
	}
	conn, err := c.connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	var x int
	if err := conn.QueryRow(ctx, "SELECT x FROM t").Scan(&x); err != nil || x != 42 {
		t.Errorf("after restart: x = %d, err %v; want 42", x, err)
	}
	var auth string
	if err := conn.QueryRow(ctx, "SELECT current_setting('password_encryption')").Scan(&auth); err != nil || auth != "scram-sha-256" {
		t.Errorf("password_encryption = %q, %v", auth, err)
	}
	conn.Close(ctx)

	// A wrong password is refused over TCP.
	cfg, _ := c.ConnConfig("postgres")
	cfg.Password = "wrong"
	if conn, err := pgx.ConnectConfig(ctx, cfg); err == nil {
		conn.Close(ctx)
		t.Error("connected with a wrong password")
	}
	if err := c.DropDatabase(ctx, "select"); err != nil {
		t.Errorf("DropDatabase: %v", err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary cluster folder %s not removed: %v", dir, err)
	}
}

// TestServerDiesWithParent kills a process that started a cluster and checks
// that the server goes away too.
func TestServerDiesWithParent(t *testing.T) {
	if os.Getenv("PGCLUSTER_HELPER") == "1" {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldCluster$", "-test.v")
	cmd.Env = append(os.Environ(), "PGCLUSTER_HELPER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var port int
	var dir string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if n, _ := fmt.Sscanf(sc.Text(), "CLUSTER %d %s", &port, &dir); n == 2 {
			break
		}
	}
	if port == 0 {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("helper did not start a cluster")
	}
	defer os.RemoveAll(dir)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			return // the server is gone
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("server on port %d still accepts connections 20 s after its parent died", port)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHelperHoldCluster is the child process of TestServerDiesWithParent.
func TestHelperHoldCluster(t *testing.T) {
	if os.Getenv("PGCLUSTER_HELPER") != "1" {
		t.Skip("helper process for TestServerDiesWithParent")
	}
	c, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("CLUSTER %d %s\n", c.Port(), filepath.Dir(c.DataDir()))
	time.Sleep(time.Minute)
}

// TestReuseDir starts a cluster in a given folder twice: the data survives,
// and a wrong password is reported at once.
func TestReuseDir(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "etl-pgreuse-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	c, err := Start(ctx, Options{Dir: dir, Password: "first-pw"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CreateDatabase(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); err != nil {
		t.Fatalf("Stop removed a caller's folder: %v", err)
	}

	started := time.Now()
	if c, err := Start(ctx, Options{Dir: dir, Password: "other-pw"}); err == nil {
		c.Stop(ctx)
		t.Fatal("started with another password")
	} else if !strings.Contains(err.Error(), "refused the password") || time.Since(started) > 20*time.Second {
		t.Errorf("wrong password: %v (after %s)", err, time.Since(started))
	}

	c, err = Start(ctx, Options{Dir: dir, Password: "first-pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	cfg, err := c.ConnConfig("kept")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("database created before the restart is gone: %v", err)
	}
	conn.Close(ctx)
}

// Package triggers_test drives `etl triggers` as real processes against a
// throwaway PostgreSQL and the QBO sandbox: a crash between the run's
// commit and the trigger file's rewrite, and two schedulers on the same
// files and database.
package triggers_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etl-engine/etl/connectors/qbo/sandbox"
	"github.com/etl-engine/etl/engine/config"
	"github.com/etl-engine/etl/internal/pgtest"
)

var etlBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "etl-triggers-e2e-")
	if err != nil {
		panic(err)
	}
	etlBin = filepath.Join(dir, "etl")
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(here), "..", "..")
	build := exec.Command("go", "build", "-o", etlBin, "./cmd/etl")
	build.Dir = root
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building etl:", err)
		os.Exit(1)
	}
	code := pgtest.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// stack is one test's sandbox, database, and folders of pipelines and
// triggers.
type stack struct {
	t    *testing.T
	srv  *sandbox.Server
	http *httptest.Server
	db   *pgtest.DB
	root string
	env  []string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	srv, err := sandbox.New(sandbox.Options{Seed: 3, Customers: 40, Items: 300, Invoices: 5,
		DataStart: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), DataEnd: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		RequestsPerMinute: -1, MaxInFlight: -1})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, srv: srv, http: httptest.NewServer(srv.Handler()), db: pgtest.New(t), root: t.TempDir()}
	t.Cleanup(s.http.Close)
	for _, d := range []string{"pipelines", "triggers"} {
		if err := os.MkdirAll(filepath.Join(s.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_, here, _, _ := runtime.Caller(0)
	src, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "pipelines", "qb_items_backfill.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Against the local sandbox the QBO rate limit is pointless.
	src = bytes.Replace(src, []byte("requests_per_minute: 450"), []byte("requests_per_minute: 100000"), 1)
	if err := os.WriteFile(filepath.Join(s.root, "pipelines", "qb_items_backfill.yaml"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	s.env = append(os.Environ(),
		"POSTGRES_HOST="+s.db.Host(), "POSTGRES_PORT="+strconv.Itoa(s.db.Port()), "POSTGRES_DB="+s.db.Name(),
		"POSTGRES_USER="+s.db.User(), "POSTGRES_PASSWORD="+s.db.Password(), "POSTGRES_SSLMODE=disable",
		"QBO_ENV=sandbox", "QBO_BASE_URL="+s.http.URL, "QBO_TOKEN_URL="+s.http.URL+"/oauth2/v1/tokens/bearer",
		"QBO_REALM_ID="+srv.RealmID(), "QBO_CLIENT_ID="+srv.ClientID(), "QBO_CLIENT_SECRET="+srv.ClientSecret(),
		"QBO_REFRESH_TOKEN="+srv.RefreshToken(),
	)
	return s
}

// writeTrigger writes a one-time trigger due an hour ago.
func (s *stack) writeTrigger(name string) string {
	s.t.Helper()
	body := fmt.Sprintf(`# Kept byte for byte by the scheduler.
version: 1
name: %s
type: once
pipeline: ../pipelines/qb_items_backfill.yaml
# %s in America/Guayaquil
run_at: %s
params:
  fecha_inicio: 2020-01-01T00:00:00Z
  fecha_fin: 2024-01-01T00:00:00Z
status: active
`, name, "an hour ago", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	p := filepath.Join(s.root, "triggers", name+".yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		s.t.Fatal(err)
	}
	return p
}

type proc struct {
	cmd    *exec.Cmd
	out    *bytes.Buffer
	done   chan struct{}
	status int
}

func (s *stack) start(extraEnv []string, args ...string) *proc {
	s.t.Helper()
	cmd := exec.Command(etlBin, args...)
	cmd.Dir = s.root
	cmd.Env = append(append([]string{}, s.env...), extraEnv...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	p := &proc{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		p.status = cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.status = 128 + int(ws.Signal())
		}
		close(p.done)
	}()
	s.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) stop(t *testing.T) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("process did not stop after SIGTERM:\n%s", p.out)
	}
	return p.status
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *stack) trigger(path string) *config.Trigger {
	s.t.Helper()
	tr, ds := config.LoadTrigger(path)
	if ds.HasErrors() {
		s.t.Fatal(ds.Err())
	}
	return tr
}

func (s *stack) runsOf(trigger string) (n int, runID string) {
	s.t.Helper()
	ctx := context.Background()
	if err := s.db.Pool.QueryRow(ctx, "SELECT count(*), coalesce(max(run_id), '') FROM etl.runs WHERE trigger = $1", trigger).Scan(&n, &runID); err != nil {
		s.t.Fatal(err)
	}
	return n, runID
}

func (s *stack) items() int {
	s.t.Helper()
	var n int
	if err := s.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM raw.qb_items").Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

func TestCrashBetweenCommitAndFileRewriteDoesNotRunTwice(t *testing.T) {
	s := newStack(t)
	path := s.writeTrigger("items_once")
	before, _ := os.ReadFile(path)

	crashing := s.start([]string{"ETL_FAILPOINT=after_run_commit"}, "triggers", "serve", "--dir", "triggers", "--poll", "200ms")
	select {
	case <-crashing.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the failpoint did not fire:\n%s", crashing.out)
	}
	if crashing.status != 128+int(syscall.SIGKILL) {
		t.Fatalf("scheduler exit status %d, want killed by SIGKILL:\n%s", crashing.status, crashing.out)
	}
	// The run committed and recorded the completion; the file was not touched.
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatalf("the file changed before the crash:\n%s", after)
	}
	n, runID := s.runsOf("items_once")
	if n != 1 || s.items() != 300 {
		t.Fatalf("runs %d, items %d after the crash; want 1 and 300", n, s.items())
	}
	requests := s.srv.Stats().DataRequests

	// The next start finishes the flip instead of running again.
	sched := s.start(nil, "triggers", "serve", "--dir", "triggers", "--poll", "200ms")
	waitFor(t, "the file flip", 30*time.Second, func() bool { return s.trigger(path).Status == config.StatusCompleted })
	if code := sched.stop(t); code != 0 {
		t.Fatalf("scheduler exit %d:\n%s", code, sched.out)
	}
	tr := s.trigger(path)
	if tr.RunID != runID || tr.CompletedAt.IsZero() {
		t.Fatalf("file run_id %q (want %q), completed_at %v", tr.RunID, runID, tr.CompletedAt)
	}
	if n, _ := s.runsOf("items_once"); n != 1 {
		t.Fatalf("the back-fill ran again: %d runs", n)
	}
	if got := s.srv.Stats().DataRequests; got != requests {
		t.Fatalf("the restarted scheduler sent %d QBO requests", got-requests)
	}
	after, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(after), "# Kept byte for byte by the scheduler.\n") || !strings.Contains(string(after), "# an hour ago in America/Guayaquil\n") {
		t.Fatalf("comments lost:\n%s", after)
	}
}

func TestTwoSchedulersFireATriggerOnce(t *testing.T) {
	s := newStack(t)
	path := s.writeTrigger("items_twice")
	a := s.start(nil, "triggers", "serve", "--dir", "triggers", "--poll", "100ms")
	b := s.start(nil, "triggers", "serve", "--dir", "triggers", "--poll", "100ms")
	waitFor(t, "the trigger to complete", 60*time.Second, func() bool { return s.trigger(path).Status == config.StatusCompleted })
	// Give the other scheduler time to act on its own view.
	time.Sleep(2 * time.Second)
	for _, p := range []*proc{a, b} {
		if code := p.stop(t); code != 0 {
			t.Fatalf("scheduler exit %d:\n%s", code, p.out)
		}
	}
	n, runID := s.runsOf("items_twice")
	if n != 1 {
		t.Fatalf("%d runs for one trigger, want 1\n--- a\n%s\n--- b\n%s", n, a.out, b.out)
	}
	if tr := s.trigger(path); tr.RunID != runID {
		t.Fatalf("file names run %q, the database %q", tr.RunID, runID)
	}
	if s.items() != 300 {
		t.Fatalf("items = %d", s.items())
	}
}

func TestFireAndResetFromTheCommandLine(t *testing.T) {
	s := newStack(t)
	path := s.writeTrigger("items_manual")
	fire := s.start(nil, "triggers", "fire", path, "--progress", "none")
	<-fire.done
	if fire.status != 0 {
		t.Fatalf("fire exit %d:\n%s", fire.status, fire.out)
	}
	if tr := s.trigger(path); tr.Status != config.StatusCompleted {
		t.Fatalf("status after fire: %s", tr.Status)
	}
	again := s.start(nil, "triggers", "fire", path)
	<-again.done
	if again.status != 2 || !strings.Contains(again.out.String(), "etl triggers reset") {
		t.Fatalf("firing a completed trigger: exit %d:\n%s", again.status, again.out)
	}
	reset := s.start(nil, "triggers", "reset", path, "--yes")
	<-reset.done
	if reset.status != 0 {
		t.Fatalf("reset exit %d:\n%s", reset.status, reset.out)
	}
	tr := s.trigger(path)
	if tr.Status != config.StatusActive || tr.RunID != "" || !tr.CompletedAt.IsZero() {
		t.Fatalf("after reset: status %s run_id %q completed_at %v", tr.Status, tr.RunID, tr.CompletedAt)
	}
	var completions int
	_ = s.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM etl.trigger_completions WHERE trigger = 'items_manual'").Scan(&completions)
	if completions != 0 {
		t.Fatal("reset left the completion record")
	}
	list := s.start(nil, "triggers", "list", "--dir", "triggers")
	<-list.done
	if list.status != 0 || !strings.Contains(list.out.String(), "items_manual") || !strings.Contains(list.out.String(), " -05:00") {
		t.Fatalf("list exit %d:\n%s", list.status, list.out)
	}
}

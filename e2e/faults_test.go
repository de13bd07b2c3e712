package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	migratedb "github.com/golang-migrate/migrate/v4/database"

	"github.com/etl-engine/etl/connectors/qbo/sandbox"
)

// TestPostgresSessionsTerminatedMidWindow ends every etl session on the
// server (pg_terminate_backend, as an administrator or a failover would)
// twice while windows are being loaded. The run retries the windows whose
// transaction was lost and completes with the exact result.
func TestPostgresSessionsTerminatedMidWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{
		Seed: 41, Customers: 30, Items: 10, Invoices: 4000,
		Faults: sandbox.Faults{Latency: 10 * time.Millisecond},
	})
	p := e.start(e.runArgs(invoicesPipe.path(), rangeStart, rangeEnd, "--param", "page_size=10")...)

	terminated := 0
	for round := range 2 {
		// A window is being paged: its transaction is open on its own
		// session, and more pages are on their way.
		served := e.srv.Stats().RecordsServed
		if !waitFor(10*time.Second, func() bool {
			return e.runningWindows() > 0 && e.srv.Stats().RecordsServed > served+50
		}) {
			t.Fatalf("round %d: no window in flight (exited %v)\n%s", round, p.exited(), tail(p.stderr.String(), 20))
		}
		n, err := e.db.Terminate(e.ctx(), "etl")
		if err != nil {
			t.Fatal(err)
		}
		terminated += n
		t.Logf("round %d: terminated %d etl sessions", round, n)
		time.Sleep(700 * time.Millisecond)
	}
	r := p.wait()
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", r.code, tail(r.stderr, 30))
	}
	if terminated < 2 {
		t.Errorf("only %d sessions were terminated; the test proves little", terminated)
	}
	rep := r.report(t)
	checkReportPassed(t, rep)
	retried := 0
	for _, w := range rep.Windows {
		if w.Attempts > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Errorf("no window has more than one attempt: the terminated transactions were not retried")
	}
	if !strings.Contains(r.stderr, "window failed, retrying it") {
		t.Errorf("no \"window failed, retrying it\" in the log")
	}
	t.Logf("%d sessions terminated, %d windows retried", terminated, retried)
	e.checkRows(t, invoicesPipe, mustTime(rangeStart), mustTime(rangeEnd))
}

// runningWindows counts windows marked running (0 before the schema exists).
func (e *env) runningWindows() int {
	var n int
	err := e.db.Pool.QueryRow(e.ctx(), "SELECT count(*) FROM etl.windows WHERE status = 'running'").Scan(&n)
	if err != nil {
		return 0
	}
	return n
}

func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// TestSIGTERMInterruptsAndResumes sends SIGTERM mid-run: the process exits
// 130, the run is recorded as interrupted, the lease is released (a new run
// takes it at once, without the stale-holder takeover), and running the
// same command again resumes the run and completes it exactly. A run
// started during the resume is refused (75) with the resumed run's id.
func TestSIGTERMInterruptsAndResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{
		Seed: 51, Customers: 20, Items: 10, Invoices: 3000,
		Faults: sandbox.Faults{Latency: 10 * time.Millisecond},
	})
	args := e.runArgs(invoicesPipe.path(), rangeStart, rangeEnd, "--param", "page_size=20")
	p := e.start(args...)
	committed := 0
	if !waitFor(20*time.Second, func() bool {
		committed = 0
		for _, l := range jsonLines(p.stderr.String()) {
			if l["msg"] == "window committed" {
				committed++
			}
		}
		return committed >= 5 || p.exited()
	}) || p.exited() {
		t.Fatalf("the run did not commit 5 windows while running\n%s", tail(p.stderr.String(), 20))
	}
	p.signal(syscall.SIGTERM)
	r := p.wait()
	if r.code != 130 {
		t.Fatalf("exit %d after SIGTERM, want 130\n%s", r.code, tail(r.stderr, 20))
	}
	runID, status := e.latestRun(invoicesPipe.name)
	if status != "interrupted" || runID == "" || runID != r.runID() {
		t.Errorf("etl.runs: run %s %s; stdout names %q; want it interrupted", runID, status, r.runID())
	}
	if rep := r.report(t); rep.Status != "interrupted" {
		t.Errorf("report of the interrupted run: status %q", rep.Status)
	}
	var released bool
	var leaseRun string
	if err := e.db.Pool.QueryRow(e.ctx(), "SELECT released_at IS NOT NULL, run_id FROM etl.leases WHERE pipeline = $1",
		invoicesPipe.name).Scan(&released, &leaseRun); err != nil {
		t.Fatal(err)
	}
	if !released || leaseRun != runID {
		t.Errorf("lease after SIGTERM: released %v, run %s; want released by %s", released, leaseRun, runID)
	}
	completed := 0
	for _, w := range e.windows(runID) {
		if w.status == "completed" {
			completed++
		}
		if w.status == "running" {
			t.Errorf("window %d is still marked running after the interrupted run ended", w.idx)
		}
	}
	if completed < 5 || completed == 84 {
		t.Errorf("%d windows completed when interrupted; want some but not all", completed)
	}

	resume := e.start(args...)
	// While the resumed run holds the lease, another run is refused with
	// the id of the run being resumed.
	if _, ok := resume.waitLog(30*time.Second, msgIs("window committed")); !ok {
		t.Fatalf("the resumed run committed no window\n%s", tail(resume.stderr.String(), 20))
	}
	other := e.run(args...)
	if other.code != 75 || !strings.Contains(other.stderr, runID) {
		t.Errorf("a run during the resume: exit %d, want 75 naming %s\n%s", other.code, runID, tail(other.stderr, 3))
	}
	r2 := resume.wait()
	if r2.code != 0 {
		t.Fatalf("rerun: exit %d\n%s", r2.code, tail(r2.stderr, 20))
	}
	if strings.Contains(r2.stderr, "taking over the lease") {
		t.Errorf("the rerun had to take the lease over: it was not released")
	}
	rep := r2.report(t)
	checkReportPassed(t, rep)
	if rep.RunID != runID || !rep.Resumed {
		t.Errorf("rerun is run %s (resumed %v), want the interrupted run %s resumed", rep.RunID, rep.Resumed, runID)
	}
	if l, ok := findLog(r2.stderr, "run started", "already_completed"); !ok || l["already_completed"] != float64(completed) {
		t.Errorf("rerun's run started line %v, want already_completed=%d", l, completed)
	}
	t.Logf("SIGTERM after %d committed windows; %d completed at exit; resumed in %s", committed, completed, r2.elapsed.Round(time.Millisecond))
	e.checkRows(t, invoicesPipe, mustTime(rangeStart), mustTime(rangeEnd))
}

// TestConcurrentRunsOfOnePipeline starts a second run of a pipeline while
// the first holds its lease: the second exits 75 at once, naming the
// holder's run id (the one the first run prints and reports), without
// touching QBO or the run state. When both start at the same instant on an
// empty database, exactly one runs.
func TestConcurrentRunsOfOnePipeline(t *testing.T) {
	t.Parallel()
	opts := sandbox.Options{Seed: 61, Customers: 1200, Items: 10, Faults: sandbox.Faults{Latency: 25 * time.Millisecond}}

	t.Run("second while first runs", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, opts)
		args := e.runArgs(customersPipe.path(), rangeStart, rangeEnd, "--param", "page_size=10")
		first := e.start(args...)
		// Once a window is committed, the first run holds the lease and
		// its token.
		l, ok := first.waitLog(30*time.Second, msgIs("window committed"))
		if !ok {
			t.Fatalf("first run did not start\n%s", tail(first.stderr.String(), 20))
		}
		holder, _ := l["run_id"].(string)
		tokenCalls := e.rec.counts().tokenCalls
		second := e.run(args...)
		if first.exited() {
			t.Fatalf("the first run ended before the second was refused; make it longer")
		}
		if second.code != 75 {
			t.Fatalf("second run: exit %d, want 75\n%s", second.code, tail(second.stderr, 20))
		}
		if holder == "" || !strings.Contains(second.stderr, holder) {
			t.Errorf("second run's stderr does not name the holder %q:\n%s", holder, tail(second.stderr, 5))
		}
		if !strings.Contains(second.stderr, "already running") {
			t.Errorf("second run's stderr does not say the pipeline is already running:\n%s", tail(second.stderr, 5))
		}
		if got := e.rec.counts().tokenCalls; got != tokenCalls {
			t.Errorf("the second run called the token endpoint (%d calls, had %d)", got, tokenCalls)
		}
		r := first.wait()
		if r.code != 0 {
			t.Fatalf("first run: exit %d\n%s", r.code, tail(r.stderr, 20))
		}
		if r.runID() != holder || r.report(t).RunID != holder {
			t.Errorf("first run printed %q and reported %q; the second was told %q", r.runID(), r.report(t).RunID, holder)
		}
		var runs int
		if err := e.db.Pool.QueryRow(e.ctx(), "SELECT count(*) FROM etl.runs").Scan(&runs); err != nil {
			t.Fatal(err)
		}
		if runs != 1 {
			t.Errorf("etl.runs holds %d runs, want only the first", runs)
		}
		e.checkTokens(t, customersPipe, mustTime(rangeStart), mustTime(rangeEnd))
	})

	t.Run("both at once on an empty database", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, opts)
		args := e.runArgs(customersPipe.path(), rangeStart, rangeEnd, "--param", "page_size=10")
		a, b := e.start(args...), e.start(args...)
		ra, rb := a.wait(), b.wait()
		winner, loser := ra, rb
		if ra.code != 0 {
			winner, loser = rb, ra
		}
		if winner.code != 0 || loser.code != 75 {
			t.Fatalf("exit codes %d and %d, want 0 and 75\nA:\n%s\nB:\n%s", ra.code, rb.code, tail(ra.stderr, 15), tail(rb.stderr, 15))
		}
		if id := winner.runID(); id == "" || !strings.Contains(loser.stderr, id) {
			t.Errorf("the refused run does not name the holder %q:\n%s", id, tail(loser.stderr, 5))
		}
		e.checkTokens(t, customersPipe, mustTime(rangeStart), mustTime(rangeEnd))
	})
}

// TestSessionTerminatedWhileMigratingExits ends the etl session while it
// prepares the schema: the test holds golang-migrate's advisory lock, so
// etl waits inside its version-table check, and then terminates that
// session. etl must fail promptly and resumably (exit 1), not hang; once
// the lock is gone, the same command completes.
//
// (Regression: golang-migrate keeps the dedicated connection it took for
// the check when the check fails; that connection came from the exporter's
// pool, whose Close then waited for it forever.)
func TestSessionTerminatedWhileMigratingExits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{Seed: 43, Customers: 50, Items: 5})
	lockID, err := migratedb.GenerateAdvisoryLockId(e.db.Name(), "etl", "schema_migrations")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := e.db.Pool.Acquire(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(e.ctx(), "SELECT pg_advisory_lock($1::bigint)", lockID); err != nil {
		t.Fatal(err)
	}
	args := e.runArgs(customersPipe.path(), rangeStart, rangeEnd)
	p := e.start(args...)
	waiting := func() bool {
		var n int
		_ = e.db.Pool.QueryRow(e.ctx(), `
			SELECT count(*) FROM pg_stat_activity
			WHERE datname = $1 AND application_name = 'etl' AND wait_event_type = 'Lock' AND query LIKE '%pg_advisory_lock%'`,
			e.db.Name()).Scan(&n)
		return n > 0
	}
	if !waitFor(20*time.Second, waiting) {
		t.Fatalf("etl never waited for the migration lock\n%s", tail(p.stderr.String(), 20))
	}
	if n, err := e.db.Terminate(e.ctx(), "etl"); err != nil || n == 0 {
		t.Fatalf("terminated %d sessions: %v", n, err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.signal(syscall.SIGQUIT) // the goroutine dump shows where it hangs
		r := p.wait()
		t.Fatalf("etl still runs 20s after its session was terminated while migrating: it hangs\n%s", tail(r.stderr, 60))
	}
	r := p.wait()
	if r.code != 1 {
		t.Errorf("exit %d, want 1 (resumable)\n%s", r.code, tail(r.stderr, 10))
	}
	if _, err := conn.Exec(e.ctx(), "SELECT pg_advisory_unlock($1::bigint)", lockID); err != nil {
		t.Fatal(err)
	}
	e.mustRun(0, customersPipe.path(), rangeStart, rangeEnd)
	e.checkTokens(t, customersPipe, mustTime(rangeStart), mustTime(rangeEnd))
}

// TestFirstRunsAtOnceOnEmptyDatabase starts the three pipelines at the same
// instant on empty databases, as a scheduler does on a first deployment:
// they migrate the schema concurrently, and all of them must complete.
//
// (Regression: Migrate read the schema version before taking
// golang-migrate's lock and took the dirty flag another process sets while
// it migrates for a failed migration: "schema is dirty, repair it by
// hand".)
func TestFirstRunsAtOnceOnEmptyDatabase(t *testing.T) {
	t.Parallel()
	for round := range 6 {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			e := newEnv(t, sandbox.Options{Seed: int64(100 + round), Customers: 40, Items: 20, Invoices: 100})
			procs := make([]*proc, len(allPipes))
			for i, p := range allPipes {
				procs[i] = e.start(e.runArgs(p.path(), rangeStart, rangeEnd)...)
			}
			for i, p := range allPipes {
				if r := procs[i].wait(); r.code != 0 {
					t.Errorf("%s: exit %d\n%s", p.name, r.code, tail(r.stderr, 3))
				}
			}
			if t.Failed() {
				return
			}
			for _, p := range allPipes {
				e.checkTokens(t, p, mustTime(rangeStart), mustTime(rangeEnd))
			}
		})
	}
}

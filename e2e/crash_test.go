package e2e

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/etl-engine/etl/connectors/qbo/sandbox"
)

// TestKill9ThenResume kills etl run (SIGKILL) at random points of an
// invoice back-fill, at least ten times, and resumes each time without
// --fresh. Every time, the result is exact (I1, and the (id, sync_token)
// set equals the sandbox's), and the windows completed before the kill are
// not fetched again: the sandbox's request log during the resume names
// exactly the windows that were not completed, and the completed ones keep
// their stored state (updated_at, attempts) untouched.
func TestKill9ThenResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{
		Seed: 31, Customers: 50, Items: 20, Invoices: 20000,
		Faults: sandbox.Faults{Latency: 3 * time.Millisecond},
	})
	from, to := mustTime(rangeStart), mustTime(rangeEnd)
	args := func(extra ...string) []string {
		return e.runArgs(invoicesPipe.path(), rangeStart, rangeEnd, append([]string{"--param", "page_size=100"}, extra...)...)
	}

	// A complete run first: it measures how long a run takes, and performs
	// the only token refresh of the test (later processes reuse the stored
	// access token).
	full := e.run(args("--fresh")...)
	if full.code != 0 {
		t.Fatalf("calibration run: exit %d\n%s", full.code, tail(full.stderr, 20))
	}
	e.checkTokens(t, invoicesPipe, from, to)
	n := int64(len(e.sandboxRecords(sandbox.EntityInvoice, from, to)))
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	t.Logf("full run %s; kill delays drawn with seed %d", full.elapsed.Round(time.Millisecond), seed)

	kills, skippedTotal, runLen := 0, 0, full.elapsed
	for iter := 0; kills < 10 && iter < 30; iter++ {
		if _, err := e.db.Pool.Exec(e.ctx(), "TRUNCATE raw.qb_invoices"); err != nil {
			t.Fatal(err)
		}
		mark := e.rec.counts().queries
		p := e.start(args("--fresh")...)
		delay := time.Duration(rng.Int64N(int64(runLen * 9 / 10)))
		select {
		case <-p.done:
		case <-time.After(delay):
		}
		p.signal(syscall.SIGKILL)
		res := p.wait() // reaped: the pid no longer exists for the lease check
		if res.code != -int(syscall.SIGKILL) {
			t.Logf("iteration %d: the run ended (exit %d, %s) before the kill at %s", iter, res.code, res.elapsed.Round(time.Millisecond), delay)
			if res.code != 0 {
				t.Fatalf("the run failed on its own:\n%s", tail(res.stderr, 20))
			}
			runLen = min(runLen, res.elapsed)
			continue
		}
		kills++
		// A COMMIT the process sent just before it died may still wait in
		// its server session's socket; the session processes it, then ends.
		// Read the state once every session of the killed process is gone.
		e.waitSessionsGone()

		// What the database says right after the kill.
		runID, status := e.latestRun(invoicesPipe.name)
		completed := map[int]winRow{}
		if status == "running" {
			for _, w := range e.windows(runID) {
				if w.status == "completed" {
					completed[w.idx] = w
				}
			}
		}
		killedQueries := len(e.rec.queriesSince(mark))

		mark = e.rec.counts().queries
		r := e.run(args()...)
		if r.code != 0 {
			t.Fatalf("kill %d (after %s): resume exit %d\n%s", kills, delay, r.code, tail(r.stderr, 20))
		}
		rep := r.report(t)
		checkReportPassed(t, rep)
		e.checkTokens(t, invoicesPipe, from, to)
		// The table was empty when the killed run started: the windows it
		// committed and those the resume loaded insert every record once.
		if tot := rep.Totals; tot.Inserted != n || tot.Updated != 0 || tot.Unchanged != 0 || tot.SourceCount != n {
			t.Errorf("kill %d: report totals inserted %d updated %d unchanged %d source %d, want %d/0/0/%d",
				kills, tot.Inserted, tot.Updated, tot.Unchanged, tot.SourceCount, n, n)
		}

		if status == "running" && rep.RunID != runID {
			t.Errorf("kill %d: the rerun is run %s, not the killed run %s", kills, rep.RunID, runID)
		}
		if status == "running" && !rep.Resumed {
			t.Errorf("kill %d: report of run %s does not say resumed", kills, rep.RunID)
		}
		started, ok := findLog(r.stderr, "run started", "already_completed")
		if !ok {
			t.Fatalf("kill %d: the rerun logged no \"run started\"", kills)
		}
		if got := started["already_completed"]; got != float64(len(completed)) {
			t.Errorf("kill %d: rerun says %v windows already completed, the database said %d right after the kill", kills, got, len(completed))
		}

		// The sandbox's log: the rerun asked for exactly the other windows.
		ends, err := windowEnds(e.rec.queriesSince(mark))
		if err != nil {
			t.Fatal(err)
		}
		after := e.windows(rep.RunID)
		if len(after) != 84 {
			t.Fatalf("kill %d: run %s has %d windows, want 84", kills, rep.RunID, len(after))
		}
		refetched, missed := 0, 0
		for _, w := range after {
			before, wasDone := completed[w.idx]
			switch {
			case wasDone && ends[w.end] > 0:
				refetched++
				if refetched <= 3 {
					t.Errorf("kill %d: window %d was completed before the kill but fetched again (%d requests)", kills, w.idx, ends[w.end])
				}
			case wasDone && (!w.updatedAt.Equal(before.updatedAt) || w.attempts != before.attempts || w.status != "completed"):
				t.Errorf("kill %d: completed window %d was touched by the rerun (updated_at %s→%s, attempts %d→%d)",
					kills, w.idx, before.updatedAt, w.updatedAt, before.attempts, w.attempts)
			case !wasDone && ends[w.end] == 0:
				missed++
				t.Errorf("kill %d: window %d was not completed before the kill and the rerun did not fetch it", kills, w.idx)
			}
			delete(ends, w.end)
		}
		if len(ends) > 0 {
			t.Errorf("kill %d: the rerun queried windows outside the plan: %v", kills, ends)
		}
		t.Logf("kill %2d at %-6s: %2d windows completed before the kill (%3d requests), %2d loaded by the resume, skipped %d",
			kills, delay.Round(time.Millisecond), len(completed), killedQueries, 84-len(completed), len(completed))
		skippedTotal += len(completed)
		if t.Failed() {
			t.FailNow()
		}
	}
	if kills < 10 {
		t.Fatalf("only %d kills landed while the run was running", kills)
	}
	if st := e.srv.Stats(); st.Refreshes != 1 {
		t.Errorf("the token endpoint rotated %d times, want 1: later processes should reuse the stored access token", st.Refreshes)
	}
	t.Logf("%d kills; %d completed windows skipped by the resumes in all", kills, skippedTotal)
}

// findLog returns the first JSON log line with message msg that has every
// attribute in keys.
func findLog(stderr, msg string, keys ...string) (map[string]any, bool) {
	for _, l := range jsonLines(stderr) {
		if l["msg"] != msg {
			continue
		}
		ok := true
		for _, k := range keys {
			_, has := l[k]
			ok = ok && has
		}
		if ok {
			return l, true
		}
	}
	return nil, false
}

// waitSessionsGone waits until the test database has no etl sessions.
func (e *env) waitSessionsGone() {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := e.db.Pool.QueryRow(e.ctx(), `
			SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'etl'`, e.db.Name()).Scan(&n); err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d etl sessions still open 10s after the process ended", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

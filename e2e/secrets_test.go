package e2e

import (
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etl-engine/etl/connectors/qbo/sandbox"
)

// TestSecretsNeverLeak runs the three back-fills at once, at debug log
// level, against a sandbox that throttles (429), fails (500/503), cuts
// bodies short and expires access tokens mid-run, so that every retry,
// refresh and error path writes what it writes. The canary client id,
// client secret, refresh token and database password, and every access
// and refresh token the sandbox issued (captured from the token endpoint's
// responses), must then appear nowhere: not in stdout, stderr, the
// evidence files, nor any table of schemas raw and etl but
// etl.credentials; also not URL-encoded or base64-encoded.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{
		Seed: 71, Customers: 700, Items: 200, Invoices: 2500,
		Faults: sandbox.Faults{Every429: 9, Every5xx: 13, EveryTruncated: 29, TokenExpiresAfterRequests: 40},
	})
	var wg sync.WaitGroup
	results := make([]result, len(allPipes))
	for i, p := range allPipes {
		file := e.variant(p, "fast_retry", fastRetry...)
		wg.Go(func() {
			results[i] = e.run(e.runArgs(file, rangeStart, rangeEnd, "--param", "page_size=25", "--log-level", "debug")...)
		})
	}
	wg.Wait()
	throttled, retries := 0, 0
	for i, p := range allPipes {
		r := results[i]
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", p.name, r.code, tail(r.stderr, 30))
		}
		rep := r.report(t)
		checkReportPassed(t, rep)
		throttled += rep.Totals.Throttled
		retries += rep.Totals.Retries
		if !strings.Contains(r.stderr, `"level":"DEBUG"`) {
			t.Errorf("%s: no debug line in its log: --log-level debug was not in effect", p.name)
		}
		e.checkRows(t, p, mustTime(rangeStart), mustTime(rangeEnd))
	}

	// The faults happened.
	st := e.srv.Stats()
	t.Logf("sandbox: %d data requests, %d×429, %d×5xx, %d×401, %d truncated, %d refreshes; reports: %d throttled, %d retries",
		st.DataRequests, st.Status429, st.Status5xx, st.Status401, st.Truncated, st.Refreshes, throttled, retries)
	if st.Status429 == 0 || st.Status5xx == 0 || st.Status401 == 0 || st.Truncated == 0 || st.Refreshes < 3 {
		t.Errorf("not every fault was injected: %+v", st)
	}
	if throttled == 0 || retries == 0 {
		t.Errorf("the reports count %d throttled and %d retried requests; want both above 0", throttled, retries)
	}

	// The search would find a leak: the live refresh token is where it
	// belongs, and the tokens were captured.
	issued := e.rec.issuedTokens()
	if len(issued) != 2*int(st.Refreshes) {
		t.Errorf("captured %d tokens from %d refreshes", len(issued), st.Refreshes)
	}
	var stored string
	if err := e.db.Pool.QueryRow(e.ctx(), "SELECT value FROM etl.credentials WHERE key = $1", "qbo/"+realmID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stored, e.srv.RefreshToken()) {
		t.Errorf("etl.credentials does not hold the sandbox's live refresh token")
	}
	hay, err := e.haystacks()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(hay); n < 3*2+3*3+5 {
		t.Errorf("only %d places searched", n)
	}
	// The global oracle (I4) runs the search when the test ends.
}

// TestInvalidGrantExits3 configures a refresh token QBO refuses: etl run
// exits 3 (a person must re-authorise), says which realm and why, shows no
// secret, and sends no data request; the run stays resumable, and once a
// valid token is configured the same command completes it.
func TestInvalidGrantExits3(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{Seed: 81, Customers: 300, Items: 10})
	good := e.vars["QBO_REFRESH_TOKEN"]
	wrong := canary("revoked-refresh")
	e.canaries["revoked refresh token"] = wrong
	e.vars["QBO_REFRESH_TOKEN"] = wrong

	args := e.runArgs(customersPipe.path(), rangeStart, rangeEnd, "--log-level", "debug")
	start := time.Now()
	r := e.run(args...)
	if r.code != 3 {
		t.Fatalf("exit %d, want 3\n%s", r.code, tail(r.stderr, 20))
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("took %s: invalid_grant must not be retried", time.Since(start).Round(time.Millisecond))
	}
	last := tail(r.stderr, 3)
	for _, want := range []string{realmID, "invalid_grant"} {
		if !strings.Contains(last, want) {
			t.Errorf("the error does not name %q:\n%s", want, last)
		}
	}
	t.Logf("etl's last words: %s", strings.TrimSpace(last[strings.LastIndex(last, "\netl: ")+1:]))
	st := e.srv.Stats()
	if st.DataRequests != 0 || st.RefreshFailures == 0 {
		t.Errorf("sandbox saw %d data requests and %d refused refreshes; want 0 and at least 1", st.DataRequests, st.RefreshFailures)
	}
	runID, status := e.latestRun(customersPipe.name)
	if status != "failed" {
		t.Errorf("run %s is %q, want failed", runID, status)
	}

	// A person re-authorises: the same command resumes and completes.
	e.vars["QBO_REFRESH_TOKEN"] = good
	r2 := e.mustRun(0, customersPipe.path(), rangeStart, rangeEnd)
	if rep := r2.report(t); rep.RunID != runID || !rep.Resumed {
		t.Errorf("after re-authorisation: run %s (resumed %v), want %s resumed", rep.RunID, rep.Resumed, runID)
	}
	e.checkTokens(t, customersPipe, mustTime(rangeStart), mustTime(rangeEnd))
}

// TestLeakOracleFindsLeaks checks the oracle behind TestSecretsNeverLeak:
// a client secret inside a base64 Basic authorization header stored in a
// table, and a URL-encoded refresh token in an evidence file, are found.
func TestLeakOracleFindsLeaks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{Seed: 1, Customers: 1, Items: 1})
	basic := base64.StdEncoding.EncodeToString([]byte(e.canaries["QBO_CLIENT_ID"] + ":" + e.canaries["QBO_CLIENT_SECRET"]))
	for _, sql := range []string{
		"CREATE SCHEMA raw",
		"CREATE TABLE raw.t (id text PRIMARY KEY, payload jsonb)",
	} {
		if _, err := e.db.Pool.Exec(e.ctx(), sql); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.db.Pool.Exec(e.ctx(), "INSERT INTO raw.t VALUES ('1', jsonb_build_object('headers', $1::text))", "Authorization: Basic "+basic); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(e.evidence, "report.md")
	if err := os.MkdirAll(e.evidence, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("token="+url.QueryEscape(e.canaries["QBO_REFRESH_TOKEN"]+"/x")), 0o600); err != nil {
		t.Fatal(err)
	}
	leaks, err := e.leaks()
	if err != nil {
		t.Fatal(err)
	}
	found := strings.Join(leaks, "\n")
	for _, want := range []string{"QBO_CLIENT_ID", "QBO_CLIENT_SECRET", "QBO_REFRESH_TOKEN"} {
		if !strings.Contains(found, "secret "+want+" ") {
			t.Errorf("the oracle misses %s:\n%s", want, found)
		}
	}
	if strings.Contains(found, "POSTGRES_PASSWORD") {
		t.Errorf("the oracle reports a leak that is not there:\n%s", found)
	}
	// Clean up, so that the oracle passes when the test ends.
	if _, err := e.db.Pool.Exec(e.ctx(), "DROP SCHEMA raw CASCADE"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
}

// TestWrongDatabasePasswordLeaksNothing gives etl a wrong database
// password (a canary too): the run fails before any QBO call, the error
// names the server and the user, the exit code is 2 (configuration), and
// neither password appears anywhere.
func TestWrongDatabasePasswordLeaksNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{Seed: 83, Customers: 10, Items: 10})
	wrong := canary("wrong-pgpw")
	e.canaries["wrong database password"] = wrong
	e.vars["POSTGRES_PASSWORD"] = wrong
	r := e.run(e.runArgs(customersPipe.path(), rangeStart, rangeEnd, "--log-level", "debug")...)
	if r.code != 2 {
		t.Fatalf("exit %d with a wrong database password, want 2 (configuration: running again cannot fix it)", r.code)
	}
	last := r.stderr[strings.LastIndex(r.stderr, "\netl: ")+1:]
	t.Logf("exit %d: %s", r.code, last)
	if !strings.Contains(last, e.db.Name()) || !strings.Contains(last, e.role) {
		t.Errorf("the error does not name the database %s and the user %s", e.db.Name(), e.role)
	}
	if n := e.rec.counts().requests; n != 0 {
		t.Errorf("the sandbox received %d requests", n)
	}
	// The global oracle (I4) searches every output for both passwords.
}

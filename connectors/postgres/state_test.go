package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/state"
)

var runIDPattern = regexp.MustCompile(`^\d{8}T\d{6}Z-[0-9a-f]{6}$`)

func TestNewRunID(t *testing.T) {
	a := NewRunID(time.Date(2026, 12, 3, 13, 5, 1, 0, time.UTC))
	if !strings.HasPrefix(a, "20261203T130501Z-") || !runIDPattern.MatchString(a) {
		t.Errorf("NewRunID = %s", a)
	}
	b := NewRunID(time.Date(2026, 12, 3, 14, 5, 2, 0, time.FixedZone("x", 3600)))
	if !(a < b) || !strings.HasPrefix(b, "20261203T130502Z-") {
		t.Errorf("run ids do not sort by UTC time: %s, %s", a, b)
	}
}

// TestRunLifecycle starts a run, fails it half-way, resumes it, and
// finishes it.
func TestRunLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	exp := e.exporter(t, "qb_customers")
	spec := state.RunSpec{
		Pipeline: "qb_customers_backfill", PlanKey: "k1", Windows: windows(3),
		Params: map[string]string{"fecha_inicio": "2024-01-01T00:00:00Z"}, Trigger: "once",
	}

	lease, err := e.store.Acquire(ctx, spec.Pipeline, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	run, err := e.store.StartRun(ctx, lease, spec)
	if err != nil {
		t.Fatal(err)
	}
	if run.Resumed || run.Status != state.RunRunning || !runIDPattern.MatchString(run.RunID) ||
		run.RunID != lease.Ref().RunID || run.Fence != lease.Ref().Fence || run.Params["fecha_inicio"] != "2024-01-01T00:00:00Z" ||
		run.Trigger != "once" || run.PlanKey != "k1" {
		t.Errorf("new run = %+v (lease %+v)", run, lease.Ref())
	}
	ws, err := e.store.Windows(ctx, run.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 3 || ws[2].Status != state.WindowPending || !ws[2].Start.Equal(day0.AddDate(0, 0, 2)) {
		t.Fatalf("windows = %+v", ws)
	}

	ws0 := windows(3)[0]
	must(t, e.store.MarkWindow(ctx, run.RunRef, 0, state.WindowRunning, ""))
	writeWindow(t, exp, run.RunRef, ws0, page(ws0, 1, rec("1", t1, 0, "a")))
	must(t, e.store.MarkWindow(ctx, run.RunRef, 1, state.WindowRunning, ""))
	must(t, e.store.MarkWindow(ctx, run.RunRef, 1, state.WindowFailed, "qbo: 503 after 6 attempts"))
	must(t, e.store.MarkWindow(ctx, run.RunRef, 0, state.WindowFailed, "late failure"))
	if err := e.store.MarkWindow(ctx, run.RunRef, 0, state.WindowCompleted, ""); err == nil {
		t.Error("MarkWindow(completed) accepted")
	}
	if err := e.store.MarkWindow(ctx, run.RunRef, 9, state.WindowRunning, ""); err == nil {
		t.Error("MarkWindow of a missing window accepted")
	}
	if err := e.store.FinishRun(ctx, run.RunRef, state.RunCompleted, ""); err == nil || !strings.Contains(err.Error(), "2 windows are not completed") {
		t.Errorf("FinishRun(completed) with open windows = %v", err)
	}
	must(t, e.store.FinishRun(ctx, run.RunRef, state.RunFailed, "window 1 failed"))
	must(t, lease.Release(ctx))

	got, err := e.store.Run(ctx, run.RunID)
	if err != nil || got.Status != state.RunFailed || got.Error != "window 1 failed" || got.FinishedAt == nil {
		t.Errorf("failed run = %+v, %v", got, err)
	}

	// A new process resumes the same plan.
	lease2, err := e.store.Acquire(ctx, spec.Pipeline, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer lease2.Release(ctx)
	resumed, err := e.store.StartRun(ctx, lease2, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !resumed.Resumed || resumed.RunID != run.RunID || resumed.Status != state.RunRunning || resumed.FinishedAt != nil ||
		resumed.Fence != lease2.Ref().Fence || lease2.Ref().RunID != run.RunID {
		t.Errorf("resumed run = %+v, lease %+v", resumed, lease2.Ref())
	}
	ws, _ = e.store.Windows(ctx, run.RunID)
	want := []struct {
		status   state.WindowStatus
		attempts int
		errMsg   string
	}{
		{state.WindowCompleted, 1, ""},
		{state.WindowPending, 1, "qbo: 503 after 6 attempts"},
		{state.WindowPending, 0, ""},
	}
	for i, w := range want {
		if ws[i].Status != w.status || ws[i].Attempts != w.attempts || ws[i].Error != w.errMsg {
			t.Errorf("window %d = %s/%d/%q, want %s/%d/%q", i, ws[i].Status, ws[i].Attempts, ws[i].Error, w.status, w.attempts, w.errMsg)
		}
	}
	if ws[0].Inserted != 1 {
		t.Errorf("completed window lost its counts: %+v", ws[0])
	}

	// The old run's ref is fenced out.
	if err := e.store.MarkWindow(ctx, run.RunRef, 1, state.WindowRunning, ""); !errors.Is(err, state.ErrLeaseLost) {
		t.Errorf("MarkWindow with the old fence = %v, want ErrLeaseLost", err)
	}

	for i := 1; i < 3; i++ {
		w := windows(3)[i]
		writeWindow(t, exp, resumed.RunRef, w, page(w, 1, rec(string(rune('a'+i)), t1, 0, "x")))
	}
	must(t, e.store.FinishRun(ctx, resumed.RunRef, state.RunCompleted, ""))

	// Completed runs are not resumed; Fresh never resumes.
	fresh, err := e.store.StartRun(ctx, lease2, spec)
	if err != nil || fresh.Resumed || fresh.RunID == run.RunID {
		t.Errorf("StartRun after completion = %+v, %v; want a new run", fresh, err)
	}
	spec.Fresh = true
	fresh2, err := e.store.StartRun(ctx, lease2, spec)
	if err != nil || fresh2.Resumed || fresh2.RunID == fresh.RunID {
		t.Errorf("StartRun(Fresh) = %+v, %v; want a new run", fresh2, err)
	}
	if lease2.Ref().RunID != fresh2.RunID {
		t.Errorf("lease covers %s, want %s", lease2.Ref().RunID, fresh2.RunID)
	}

	runs, err := e.store.Runs(ctx, spec.Pipeline, 10)
	if err != nil || len(runs) != 3 {
		t.Fatalf("Runs = %d, %v", len(runs), err)
	}
	if runs[0].RunID != fresh2.RunID || runs[2].RunID != run.RunID || runs[2].Status != state.RunCompleted {
		t.Errorf("runs not newest first: %s %s %s", runs[0].RunID, runs[1].RunID, runs[2].RunID)
	}
	if all, _ := e.store.Runs(ctx, "", 1); len(all) != 1 {
		t.Errorf("Runs(all, 1) = %d runs", len(all))
	}
	if _, err := e.store.Run(ctx, "nope"); !errors.Is(err, ErrRunNotFound) {
		t.Errorf("Run(nope) = %v", err)
	}
}

func TestStartRunRejectsBadSpecs(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	lease, err := e.store.Acquire(ctx, "p", "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)
	ws := windows(2)
	ws[1].Index = 5
	for name, spec := range map[string]state.RunSpec{
		"other pipeline": {Pipeline: "q", PlanKey: "k", Windows: windows(1)},
		"no plan key":    {Windows: windows(1)},
		"no windows":     {PlanKey: "k"},
		"bad index":      {PlanKey: "k", Windows: ws},
	} {
		if _, err := e.store.StartRun(ctx, lease, spec); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestEntityStats(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	empty, err := e.db.EntityStats(ctx, "raw", "qb_items")
	if err != nil || empty.Rows != 0 || empty.MinUpdatedAt != nil {
		t.Errorf("empty table: %+v, %v", empty, err)
	}
	exp := e.exporter(t, "qb_items")
	_, run := e.startRun(t, "p", 1)
	w := windows(1)[0]
	writeWindow(t, exp, run.RunRef, w, page(w, 1, rec("1", t1, 0, "a"), rec("2", t3, 4, "b"), rec("3", t2, 1, "c")))
	st, err := e.db.EntityStats(ctx, "raw", "qb_items")
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 3 || st.DistinctIDs != 3 || !st.MinUpdatedAt.Equal(t1) || !st.MaxUpdatedAt.Equal(t3) || len(st.Checksum) != 64 {
		t.Errorf("stats = %+v", st)
	}
	if sum := sha256.Sum256([]byte("1:0\n2:4\n3:1")); st.Checksum != hex.EncodeToString(sum[:]) {
		t.Errorf("checksum = %s, want sha256 of the sorted id:sync_token lines", st.Checksum)
	}
	if _, err := e.db.EntityStats(ctx, "raw", "Bad;"); err == nil {
		t.Error("bad identifier accepted")
	}
	writeWindow(t, exp, run.RunRef, w, page(w, 2, component.Record{ID: "9", UpdatedAt: t2, Payload: []byte(`[1, 2]`)}))
	ts, err := exp.TableStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := component.TableStats{Table: "raw.qb_items", Rows: 4, DistinctIDs: 4, MinUpdated: t1, MaxUpdated: t3, InvalidPayloads: 1}
	if ts != want {
		t.Errorf("TableStats = %+v\nwant %+v", ts, want)
	}
}

func TestCredentialsSingleFlight(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	creds := e.store.Credentials()

	if _, ok, err := creds.Get(ctx, "qbo/refresh"); ok || err != nil {
		t.Fatalf("Get of a missing key: ok=%v err=%v", ok, err)
	}
	// Two refreshes at once: the second sees the first one's result.
	inside := make(chan struct{})
	type result struct {
		saw string
		err error
	}
	results := make(chan result, 2)
	refresh := func(name string) {
		var saw string
		err := creds.Update(ctx, "qbo/refresh", func(cur []byte) ([]byte, error) {
			saw = string(cur)
			select {
			case inside <- struct{}{}:
			default:
			}
			time.Sleep(300 * time.Millisecond)
			if cur == nil {
				return []byte("token-1"), nil
			}
			return []byte(string(cur) + "+" + name), nil
		})
		results <- result{saw, err}
	}
	go refresh("a")
	<-inside // the first fn runs
	go refresh("b")
	r1, r2 := <-results, <-results
	if r1.err != nil || r2.err != nil {
		t.Fatal(r1.err, r2.err)
	}
	if r1.saw != "" || r2.saw != "token-1" {
		t.Errorf("fns saw %q then %q; want nothing, then the first one's token", r1.saw, r2.saw)
	}
	v, ok, err := creds.Get(ctx, "qbo/refresh")
	if err != nil || !ok || string(v) != "token-1+b" {
		t.Errorf("stored %q ok=%v err=%v", v, ok, err)
	}
	var version int64
	_ = e.pg.Pool.QueryRow(ctx, "SELECT version FROM etl.credentials WHERE key = 'qbo/refresh'").Scan(&version)
	if version != 2 {
		t.Errorf("version = %d, want 2", version)
	}

	// A failing fn stores nothing, nor does a nil result.
	boom := errors.New("invalid_grant")
	if err := creds.Update(ctx, "qbo/refresh", func([]byte) ([]byte, error) { return []byte("x"), boom }); !errors.Is(err, boom) {
		t.Errorf("Update with a failing fn = %v", err)
	}
	if err := creds.Update(ctx, "qbo/refresh", func([]byte) ([]byte, error) { return nil, nil }); err != nil {
		t.Errorf("Update with nil = %v", err)
	}
	if err := creds.Update(ctx, "qbo/refresh", func([]byte) ([]byte, error) { return []byte("a\x00b"), nil }); err == nil {
		t.Error("NUL byte accepted")
	}
	if v, _, _ := creds.Get(ctx, "qbo/refresh"); string(v) != "token-1+b" {
		t.Errorf("value changed to %q", v)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var _ component.StatefulExporter = (*Exporter)(nil)

// TestTriggerOnce: completing a run of a one-time trigger records the
// trigger; a later run of it is refused, a failed one records nothing.
func TestTriggerOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	exp := e.exporter(t, "qb_items")
	lease, err := e.store.Acquire(ctx, "p", "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)
	spec := state.RunSpec{PlanKey: "k", Windows: windows(1), Trigger: "backfill_2024", TriggerOnce: true}

	run, err := e.store.StartRun(ctx, lease, spec)
	if err != nil {
		t.Fatal(err)
	}
	must(t, e.store.FinishRun(ctx, run.RunRef, state.RunFailed, "boom"))
	var n int
	_ = e.pg.Pool.QueryRow(ctx, "SELECT count(*) FROM etl.trigger_completions").Scan(&n)
	if n != 0 {
		t.Fatalf("a failed run recorded its trigger")
	}

	run, err = e.store.StartRun(ctx, lease, spec) // resumes the failed run
	if err != nil || !run.Resumed {
		t.Fatalf("resume: %+v, %v", run, err)
	}
	w := windows(1)[0]
	writeWindow(t, exp, run.RunRef, w, page(w, 1, rec("1", t1, 0, "a")))
	must(t, e.store.FinishRun(ctx, run.RunRef, state.RunCompleted, ""))
	var runID string
	if err := e.pg.Pool.QueryRow(ctx, "SELECT run_id FROM etl.trigger_completions WHERE trigger = 'backfill_2024'").Scan(&runID); err != nil || runID != run.RunID {
		t.Fatalf("trigger completion: run %q, %v", runID, err)
	}

	_, err = e.store.StartRun(ctx, lease, spec)
	if !errors.Is(err, state.ErrTriggerCompleted) || !strings.Contains(err.Error(), run.RunID) {
		t.Errorf("StartRun of a completed one-time trigger = %v", err)
	}
	spec.Fresh = true
	if _, err := e.store.StartRun(ctx, lease, spec); !errors.Is(err, state.ErrTriggerCompleted) {
		t.Errorf("Fresh does not bypass a completed trigger: %v", err)
	}
	spec.TriggerOnce = false
	if _, err := e.store.StartRun(ctx, lease, spec); err != nil {
		t.Errorf("a recurring run of the same trigger: %v", err)
	}
}

// TestEngineDroppedCounted: records the engine dropped before the writer
// are counted as duplicates of the window.
func TestEngineDroppedCounted(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	exp := e.exporter(t, "qb_items")
	_, run := e.startRun(t, "p", 1)
	w := windows(1)[0]
	ww, err := exp.Begin(ctx, run.RunRef, w, testSource)
	if err != nil {
		t.Fatal(err)
	}
	must(t, ww.Write(ctx, page(w, 1, rec("1", t1, 0, "a"), rec("1", t2, 1, "b"))))
	st, err := ww.Commit(ctx, component.WindowOutcome{RunID: run.RunID, Window: w, Dropped: 5})
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := e.store.Windows(ctx, run.RunID)
	if st.DuplicatesDropped != 1 || ws[0].Duplicates != 6 {
		t.Errorf("writer duplicates %d, stored %d; want 1 and 1+5", st.DuplicatesDropped, ws[0].Duplicates)
	}
}

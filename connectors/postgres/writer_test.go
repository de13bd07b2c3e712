package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/retry"
	"github.com/etl-engine/etl/engine/state"
)

var (
	t1 = day0.Add(1 * time.Hour)
	t2 = day0.Add(2 * time.Hour)
	t3 = day0.Add(3 * time.Hour)
)

// TestUpsertOutcomes writes a window over preloaded rows and checks the
// counts and what is stored.
func TestUpsertOutcomes(t *testing.T) {
	type want struct {
		sync  string // stored sync token
		note  string // stored Note
		xmin0 bool   // row untouched by the window (same xmin as preloaded)
	}
	tests := []struct {
		name    string
		preload []component.Record
		pages   [][]component.Record
		stats   component.WriteStats
		rows    map[string]want
	}{
		{
			name:  "new rows are inserted",
			pages: [][]component.Record{{rec("1", t1, 0, "a"), rec("2", t1, 0, "b")}},
			stats: component.WriteStats{Received: 2, Inserted: 2},
			rows:  map[string]want{"1": {sync: "0", note: "a"}, "2": {sync: "0", note: "b"}},
		},
		{
			name:    "equal payload is unchanged and not touched",
			preload: []component.Record{rec("1", t1, 0, "a")},
			pages:   [][]component.Record{{rec("1", t1, 0, "a")}},
			stats:   component.WriteStats{Received: 1, Unchanged: 1},
			rows:    map[string]want{"1": {sync: "0", note: "a", xmin0: true}},
		},
		{
			name:    "newer changed payload is updated",
			preload: []component.Record{rec("1", t1, 0, "a")},
			pages:   [][]component.Record{{rec("1", t2, 1, "a2")}},
			stats:   component.WriteStats{Received: 1, Updated: 1},
			rows:    map[string]want{"1": {sync: "1", note: "a2"}},
		},
		{
			name:    "same time, changed payload is updated",
			preload: []component.Record{rec("1", t1, 0, "a")},
			pages:   [][]component.Record{{rec("1", t1, 1, "a2")}},
			stats:   component.WriteStats{Received: 1, Updated: 1},
			rows:    map[string]want{"1": {sync: "1", note: "a2"}},
		},
		{
			name:    "older version is stale and not written",
			preload: []component.Record{rec("1", t2, 3, "new")},
			pages:   [][]component.Record{{rec("1", t1, 2, "old")}},
			stats:   component.WriteStats{Received: 1, Stale: 1},
			rows:    map[string]want{"1": {sync: "3", note: "new", xmin0: true}},
		},
		{
			name:  "same id twice in a page keeps the newest, whatever the order",
			pages: [][]component.Record{{rec("1", t2, 1, "new"), rec("1", t1, 0, "old"), rec("2", t1, 0, "old"), rec("2", t2, 1, "new")}},
			stats: component.WriteStats{Received: 4, Inserted: 2, DuplicatesDropped: 2},
			rows:  map[string]want{"1": {sync: "1", note: "new"}, "2": {sync: "1", note: "new"}},
		},
		{
			name:  "same id on two pages: the newer version wins",
			pages: [][]component.Record{{rec("1", t1, 0, "old"), rec("2", t2, 1, "new")}, {rec("1", t2, 1, "new"), rec("2", t1, 0, "old")}},
			stats: component.WriteStats{Received: 4, Inserted: 2, DuplicatesDropped: 2},
			rows:  map[string]want{"1": {sync: "1", note: "new"}, "2": {sync: "1", note: "new"}},
		},
		{
			name:    "unchanged then updated on a later page counts as updated",
			preload: []component.Record{rec("1", t1, 0, "a")},
			pages:   [][]component.Record{{rec("1", t1, 0, "a")}, {rec("1", t3, 1, "b")}},
			stats:   component.WriteStats{Received: 2, Updated: 1, DuplicatesDropped: 1},
			rows:    map[string]want{"1": {sync: "1", note: "b"}},
		},
		{
			name:    "mixed page",
			preload: []component.Record{rec("keep", t1, 0, "k"), rec("chg", t1, 0, "c"), rec("old", t3, 5, "o")},
			pages: [][]component.Record{
				{rec("keep", t1, 0, "k"), rec("chg", t2, 1, "c2"), rec("old", t2, 4, "o-"), rec("new", t2, 0, "n")},
				{},
			},
			stats: component.WriteStats{Received: 4, Inserted: 1, Updated: 1, Unchanged: 1, Stale: 1},
			rows: map[string]want{
				"keep": {sync: "0", note: "k", xmin0: true}, "chg": {sync: "1", note: "c2"},
				"old": {sync: "5", note: "o", xmin0: true}, "new": {sync: "0", note: "n"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			exp := e.exporter(t, "qb_invoices")
			_, run := e.startRun(t, "p", 2)
			w0, w1 := windows(2)[0], windows(2)[1]
			if len(tc.preload) > 0 {
				writeWindow(t, exp, run.RunRef, w0, page(w0, 1, tc.preload...))
			}
			before := readRows(t, e, "qb_invoices")
			var pages []*component.Page
			for i, recs := range tc.pages {
				pages = append(pages, page(w1, i+1, recs...))
			}
			got := writeWindow(t, exp, run.RunRef, w1, pages...)
			if got != tc.stats {
				t.Errorf("stats = %+v\n want %+v", got, tc.stats)
			}
			rows := readRows(t, e, "qb_invoices")
			if len(rows) != len(tc.rows) {
				t.Errorf("%d rows stored, want %d", len(rows), len(tc.rows))
			}
			for id, w := range tc.rows {
				r, ok := rows[id]
				if !ok {
					t.Errorf("row %s missing", id)
					continue
				}
				var p struct{ Note string }
				if err := json.Unmarshal([]byte(r.Payload), &p); err != nil {
					t.Fatal(err)
				}
				if r.SyncToken != w.sync || p.Note != w.note {
					t.Errorf("row %s: sync %s note %s, want sync %s note %s", id, r.SyncToken, p.Note, w.sync, w.note)
				}
				if untouched := r.Xmin == before[id].Xmin; untouched != w.xmin0 {
					t.Errorf("row %s: untouched = %v, want %v", id, untouched, w.xmin0)
				}
			}
		})
	}
}

// TestRewriteWindowTouchesNothing re-runs a whole window: nothing is
// inserted or rewritten, and no row gets a new version.
func TestRewriteWindowTouchesNothing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	exp := e.exporter(t, "qb_invoices")
	_, run := e.startRun(t, "p", 1)
	w := windows(1)[0]
	var pages []*component.Page
	for p := 1; p <= 3; p++ {
		var recs []component.Record
		for i := range 50 {
			recs = append(recs, rec(fmt.Sprintf("%d", p*100+i), t1.Add(time.Duration(i)*time.Second), i, "x"))
		}
		pages = append(pages, page(w, p, recs...))
	}
	first := writeWindow(t, exp, run.RunRef, w, pages...)
	if first != (component.WriteStats{Received: 150, Inserted: 150}) {
		t.Fatalf("first write: %+v", first)
	}
	before := readRows(t, e, "qb_invoices")
	ctids := func() string {
		var s string
		if err := e.pg.Pool.QueryRow(ctx, "SELECT string_agg(id || '@' || ctid::text, ',' ORDER BY id) FROM raw.qb_invoices").Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctidsBefore := ctids()

	again := writeWindow(t, exp, run.RunRef, w, pages...)
	if again != (component.WriteStats{Received: 150, Unchanged: 150}) {
		t.Errorf("re-run: %+v, want 150 unchanged", again)
	}
	after := readRows(t, e, "qb_invoices")
	for id, r := range after {
		if r.Xmin != before[id].Xmin {
			t.Errorf("row %s rewritten by the re-run (xmin %d -> %d)", id, before[id].Xmin, r.Xmin)
		}
	}
	// No new row versions: every row is where it was.
	if ctidsBefore != ctids() {
		t.Error("row versions moved during the re-run")
	}
}

// TestStoredColumns checks every column of a written row.
func TestStoredColumns(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	exp := e.exporter(t, "qb_items")
	_, run := e.startRun(t, "items", 1)
	w := windows(1)[0]
	r := rec("42", t1, 7, "hello")
	writeWindow(t, exp, run.RunRef, w, page(w, 1, rec("1", t1, 0, "")), page(w, 2, r))

	var (
		payload, request                map[string]any
		sync, realm, env, runID         string
		updated, ingested, wStart, wEnd time.Time
		pageNumber, pageSize            int
	)
	err := e.pg.Pool.QueryRow(ctx, `
		SELECT payload, sync_token, source_updated_at, ingested_at_utc, extract_window_start_utc,
		       extract_window_end_utc, page_number, page_size, request_payload, source_realm_id, source_env, run_id
		FROM raw.qb_items WHERE id = '42'`).Scan(&payload, &sync, &updated, &ingested, &wStart, &wEnd,
		&pageNumber, &pageSize, &request, &realm, &env, &runID)
	if err != nil {
		t.Fatal(err)
	}
	if payload["Note"] != "hello" || payload["Id"] != "42" || sync != "7" || !updated.Equal(t1) {
		t.Errorf("payload %v sync %s updated %s", payload, sync, updated)
	}
	if !wStart.Equal(w.Start) || !wEnd.Equal(w.End) || pageNumber != 2 || pageSize != 1000 {
		t.Errorf("window [%s, %s) page %d size %d", wStart, wEnd, pageNumber, pageSize)
	}
	if realm != testSource.Realm || env != "sandbox" || runID != run.RunID {
		t.Errorf("realm %s env %s run %s", realm, env, runID)
	}
	if time.Since(ingested) > time.Minute {
		t.Errorf("ingested_at_utc = %s", ingested)
	}
	wantReq := map[string]any{"query": "SELECT * FROM Invoice STARTPOSITION 1001 MAXRESULTS 1000",
		"start_position": 1001.0, "max_results": 1000.0, "page_number": 2.0, "page_size": 1000.0, "pass": 1.0}
	if fmt.Sprint(request) != fmt.Sprint(wantReq) {
		t.Errorf("request_payload = %v\nwant %v", request, wantReq)
	}

	ws, err := e.db.WindowsOf(ctx, run.RunID)
	if err != nil {
		t.Fatal(err)
	}
	got := ws[0]
	if got.Status != state.WindowCompleted || got.Attempts != 1 || got.Pages != 2 || got.Fetched != 2 ||
		got.SourceCount != 2 || got.Inserted != 2 || got.Duration != 1500*time.Millisecond || got.Error != "" {
		t.Errorf("window state = %+v", got)
	}
}

func TestRequestPayload(t *testing.T) {
	tests := []struct {
		request string
		want    string
	}{
		{`{"query":"x","start_position":1}`, `{"query":"x","start_position":1}`},
		{"select * from Item startposition 1 maxresults 10", `{"max_results":10,"page_number":3,"page_size":10,"pass":2,"query":"select * from Item startposition 1 maxresults 10","start_position":1}`},
		{"", `{"page_number":3,"page_size":10,"pass":2}`},
		{"{not json", `{"page_number":3,"page_size":10,"pass":2,"query":"{not json"}`},
	}
	for _, tc := range tests {
		got := string(requestPayload(&component.Page{Number: 3, Size: 10, Pass: 2, Request: tc.request}))
		if got != tc.want {
			t.Errorf("requestPayload(%q) = %s, want %s", tc.request, got, tc.want)
		}
	}
}

// TestQuotedIdentifiers writes to a table named with a reserved word and
// refuses names that are not plain identifiers.
func TestQuotedIdentifiers(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	exp, err := NewExporter(ctx, e.db, "order", "select", testLogger())
	if err != nil {
		t.Fatal(err)
	}
	_, run := e.startRun(t, "p", 1)
	w := windows(1)[0]
	st := writeWindow(t, exp, run.RunRef, w, page(w, 1, rec("1", t1, 0, "a"), rec("2", t1, 0, "b")))
	if st.Inserted != 2 {
		t.Errorf("stats %+v", st)
	}
	var n int
	if err := e.pg.Pool.QueryRow(ctx, `SELECT count(*) FROM "order"."select"`).Scan(&n); err != nil || n != 2 {
		t.Errorf(`"order"."select" holds %d rows (err %v), want 2`, n, err)
	}
	for _, bad := range [][2]string{
		{"raw", `x"; DROP TABLE raw.qb_items; --`},
		{"raw", "Invoices"},
		{`raw"`, "t"},
		{"raw", strings.Repeat("a", 64)},
		{"raw", ""},
	} {
		if _, err := NewExporter(ctx, e.db, bad[0], bad[1], nil); err == nil {
			t.Errorf("NewExporter(%q, %q) accepted", bad[0], bad[1])
		}
	}
	if err := e.pg.Pool.QueryRow(ctx, "SELECT count(*) FROM raw.qb_items").Scan(&n); err != nil {
		t.Errorf("raw.qb_items: %v", err)
	}
}

// TestExistingTableWithoutRawColumns is refused before any window runs.
func TestExistingTableWithoutRawColumns(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if _, err := e.pg.Pool.Exec(ctx, "CREATE TABLE raw.other (id text PRIMARY KEY, payload jsonb)"); err != nil {
		t.Fatal(err)
	}
	_, err := NewExporter(ctx, e.db, "raw", "other", nil)
	if err == nil || !strings.Contains(err.Error(), "lacks the raw columns sync_token, source_updated_at") {
		t.Errorf("err = %v", err)
	}
}

// TestCommitWithStolenLease: a run whose lease was taken over cannot
// commit, and nothing of its window becomes visible.
func TestCommitWithStolenLease(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	exp := e.exporter(t, "qb_invoices")
	lease, run := e.startRun(t, "p", 1)
	w := windows(1)[0]

	ww, err := exp.Begin(ctx, run.RunRef, w, testSource)
	if err != nil {
		t.Fatal(err)
	}
	if err := ww.Write(ctx, page(w, 1, rec("1", t1, 0, "a"))); err != nil {
		t.Fatal(err)
	}
	// The lease expires (say the process was stopped) and another run
	// takes it over.
	if _, err := e.pg.Pool.Exec(ctx, "UPDATE etl.leases SET expires_at = now() - interval '1 second'"); err != nil {
		t.Fatal(err)
	}
	other, err := e.store.Acquire(ctx, "p", "", time.Minute)
	if err != nil {
		t.Fatalf("takeover of an expired lease: %v", err)
	}
	defer other.Release(ctx)
	if other.Ref().Fence != lease.Ref().Fence+1 {
		t.Errorf("fence after takeover = %d, want %d", other.Ref().Fence, lease.Ref().Fence+1)
	}

	_, err = ww.Commit(ctx, component.WindowOutcome{RunID: run.RunID, Window: w})
	if !errors.Is(err, state.ErrLeaseLost) {
		t.Fatalf("Commit = %v, want ErrLeaseLost", err)
	}
	t.Logf("error: %v", err)
	if retry.ClassOf(err) != retry.Permanent {
		t.Errorf("class = %s, want permanent", retry.ClassOf(err))
	}
	if err := ww.Rollback(ctx); err != nil {
		t.Errorf("Rollback after a failed Commit: %v", err)
	}
	if rows := readRows(t, e, "qb_invoices"); len(rows) != 0 {
		t.Errorf("%d rows visible after a refused commit", len(rows))
	}
	ws, _ := e.store.Windows(ctx, run.RunID)
	if ws[0].Status != state.WindowPending {
		t.Errorf("window status = %s, want pending", ws[0].Status)
	}
	// The old lease learns it was taken over at its next renewal.
	if err := e.store.MarkWindow(ctx, run.RunRef, 0, state.WindowFailed, "x"); !errors.Is(err, state.ErrLeaseLost) {
		t.Errorf("MarkWindow under a lost lease = %v", err)
	}
}

// TestLeaseLostSignalled: the heartbeat notices a takeover.
func TestLeaseLostSignalled(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	lease, err := e.store.Acquire(ctx, "p", "", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)
	if _, err := e.pg.Pool.Exec(ctx, "UPDATE etl.leases SET fence = fence + 1, run_id = 'thief'"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lease.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("Lost() not closed 5 s after a takeover")
	}
}

// TestTerminatedConnection: the server kills the writer's session in the
// middle of a window. The error is retryable, nothing of the window is
// visible, and a retry succeeds.
func TestTerminatedConnection(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	exp := e.exporter(t, "qb_invoices")
	_, run := e.startRun(t, "p", 1)
	w := windows(1)[0]
	p1 := page(w, 1, rec("1", t1, 0, "a"), rec("2", t1, 0, "b"))
	p2 := page(w, 2, rec("3", t1, 0, "c"))

	for _, killAt := range []string{"write", "commit"} {
		t.Run(killAt, func(t *testing.T) {
			ww, err := exp.Begin(ctx, run.RunRef, w, testSource)
			if err != nil {
				t.Fatal(err)
			}
			if err := ww.Write(ctx, p1); err != nil {
				t.Fatal(err)
			}
			if n, err := e.pg.Terminate(ctx, ApplicationName); err != nil || n == 0 {
				t.Fatalf("Terminate: %d sessions, %v", n, err)
			}
			if killAt == "write" {
				err = ww.Write(ctx, p2)
			} else {
				_, err = ww.Commit(ctx, component.WindowOutcome{RunID: run.RunID, Window: w})
			}
			if err == nil {
				t.Fatal("no error after the session was terminated")
			}
			t.Logf("error: %v", err)
			if c := retry.ClassOf(err); c != retry.Network {
				t.Errorf("class = %s, want network (err: %v)", c, err)
			}
			if !strings.Contains(err.Error(), "window 0 ") {
				t.Errorf("error does not name the window: %v", err)
			}
			if killAt == "write" && !strings.Contains(err.Error(), "page 2") {
				t.Errorf("error does not name the page: %v", err)
			}
			if err := ww.Rollback(ctx); err != nil {
				t.Errorf("Rollback: %v", err)
			}
			if rows := readRows(t, e, "qb_invoices"); len(rows) != 0 {
				t.Errorf("%d rows visible after the failed window", len(rows))
			}
		})
	}
	st, err := tryWindow(exp, run.RunRef, w, p1, p2)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if st.Inserted != 3 {
		t.Errorf("retry stats %+v", st)
	}
	if rows := readRows(t, e, "qb_invoices"); len(rows) != 3 {
		t.Errorf("%d rows after the retry, want 3", len(rows))
	}
}

// TestConcurrentWindowsMonotone: two windows write the same id at once; the
// older version never wins, whichever commits first.
func TestConcurrentWindowsMonotone(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	exp := e.exporter(t, "qb_invoices")
	_, run := e.startRun(t, "p", 2)
	ws := windows(2)

	newer, err := exp.Begin(ctx, run.RunRef, ws[1], testSource)
	if err != nil {
		t.Fatal(err)
	}
	if err := newer.Write(ctx, page(ws[1], 1, rec("x", t2, 2, "newer"))); err != nil {
		t.Fatal(err)
	}
	// The older version's window writes while the newer one is uncommitted:
	// its insert waits for the newer window's row.
	var wg sync.WaitGroup
	var oldStats component.WriteStats
	var oldErr error
	wg.Go(func() { oldStats, oldErr = tryWindow(exp, run.RunRef, ws[0], page(ws[0], 1, rec("x", t1, 1, "older"))) })
	time.Sleep(300 * time.Millisecond)
	newStats, err := newer.Commit(ctx, component.WindowOutcome{RunID: run.RunID, Window: ws[1]})
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if oldErr != nil {
		t.Fatal(oldErr)
	}
	if newStats.Inserted != 1 || oldStats.Stale != 1 {
		t.Errorf("newer %+v, older %+v; want inserted 1 and stale 1", newStats, oldStats)
	}
	if r := readRows(t, e, "qb_invoices")["x"]; r.SyncToken != "2" {
		t.Errorf("stored sync token %s, want 2 (the newer version)", r.SyncToken)
	}
}

// TestWriterMisuse covers the writer's guards.
func TestWriterMisuse(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	exp := e.exporter(t, "qb_invoices")
	_, run := e.startRun(t, "p", 2)
	ws := windows(2)

	ww, err := exp.Begin(ctx, run.RunRef, ws[0], testSource)
	if err != nil {
		t.Fatal(err)
	}
	if err := ww.Write(ctx, page(ws[1], 1, rec("1", t1, 0, "a"))); err == nil || !strings.Contains(err.Error(), "belongs to window 1") {
		t.Errorf("page of another window: %v", err)
	}
	if _, err := ww.Commit(ctx, component.WindowOutcome{RunID: run.RunID, Window: ws[0]}); err == nil {
		t.Error("Commit after a failed Write succeeded")
	}
	if err := ww.Rollback(ctx); err != nil {
		t.Errorf("Rollback: %v", err)
	}

	ww, _ = exp.Begin(ctx, run.RunRef, ws[0], testSource)
	err = ww.Write(ctx, page(ws[0], 1, component.Record{ID: "", Payload: []byte("{}")}))
	if err == nil || !strings.Contains(err.Error(), "record 1 has no id") || retry.ClassOf(err) != retry.Permanent {
		t.Errorf("record without id: %v", err)
	}
	_ = ww.Rollback(ctx)

	ww, _ = exp.Begin(ctx, run.RunRef, ws[0], testSource)
	err = ww.Write(ctx, page(ws[0], 4, component.Record{ID: "1", Payload: []byte("{not json")}))
	if err == nil || !strings.Contains(err.Error(), "page 4") || retry.ClassOf(err) != retry.Permanent {
		t.Errorf("invalid JSON: %v", err)
	}
	_ = ww.Rollback(ctx)

	ww, _ = exp.Begin(ctx, run.RunRef, ws[0], testSource)
	if _, err := ww.Commit(ctx, component.WindowOutcome{RunID: run.RunID, Window: ws[0]}); err != nil {
		t.Fatalf("empty window: %v", err)
	}
	if err := ww.Rollback(ctx); err != nil {
		t.Errorf("Rollback after Commit: %v", err)
	}
	if err := ww.Write(ctx, page(ws[0], 1)); err == nil {
		t.Error("Write after Commit accepted")
	}
	// The pool is not leaking connections.
	if st := e.db.Pool().Stat(); st.AcquiredConns() != 0 {
		t.Errorf("%d connections still acquired", st.AcquiredConns())
	}
}

package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/plan"
)

// bigPages returns pages of n records each, ids from first, whose payloads
// carry a note of noteBytes.
func bigPages(w plan.Window, pages, n, first, syncToken, noteBytes int) []*component.Page {
	note := strings.Repeat("x", noteBytes)
	var out []*component.Page
	id := first
	for p := 1; p <= pages; p++ {
		var recs []component.Record
		for range n {
			recs = append(recs, rec(fmt.Sprint(id), t1, syncToken, note))
			id++
		}
		out = append(out, page(w, p, recs...))
	}
	return out
}

// writeWith writes pages in one window and returns the writer, committed,
// for its counters.
func writeWith(t *testing.T, exp *Exporter, e *env, w plan.Window, pages []*component.Page) (*writer, component.WriteStats) {
	t.Helper()
	ctx := context.Background()
	_, run := e.startRun(t, fmt.Sprintf("p%d", w.Index), 1)
	ww, err := exp.Begin(ctx, run.RunRef, w, testSource)
	if err != nil {
		t.Fatal(err)
	}
	defer ww.Rollback(ctx)
	var n int64
	for _, p := range pages {
		if err := ww.Write(ctx, p); err != nil {
			t.Fatal(err)
		}
		n += int64(len(p.Records))
	}
	st, err := ww.Commit(ctx, component.WindowOutcome{RunID: run.RunID, Window: w,
		Load: component.LoadStats{SourceCount: n, Fetched: n, Distinct: n, Pages: len(pages), Passes: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return ww.(*writer), st
}

// TestFreshPagesGoStraightIn: pages whose ids are not stored are copied
// into the target, without staging, up to maxDirectPages per window; the
// rest of the window is staged; every row is stored as the upsert would.
func TestFreshPagesGoStraightIn(t *testing.T) {
	e := newEnv(t)
	exp := e.exporter(t, "qb_invoices")
	w := windows(1)[0]
	pages := bigPages(w, maxDirectPages+3, 2, 1, 0, 10)
	wr, st := writeWith(t, exp, e, w, pages)
	if wr.directPages != maxDirectPages || wr.direct {
		t.Errorf("direct pages %d (direct %v), want %d then staged", wr.directPages, wr.direct, maxDirectPages)
	}
	n := int64(2 * len(pages))
	if st != (component.WriteStats{Received: n, Inserted: n}) {
		t.Errorf("stats %+v", st)
	}
	rows := readRows(t, e, "qb_invoices")
	if int64(len(rows)) != n || rows["1"].Page != 1 || rows[fmt.Sprint(n)].Page != len(pages) {
		t.Errorf("%d rows; row 1 %+v", len(rows), rows["1"])
	}
}

// TestRerunIsStagedAndTouchesNothing: a window over stored rows leaves the
// direct path at its first page and writes nothing.
func TestRerunIsStagedAndTouchesNothing(t *testing.T) {
	e := newEnv(t)
	exp := e.exporter(t, "qb_invoices")
	ws := windows(2)
	writeWith(t, exp, e, ws[0], bigPages(ws[0], 3, 50, 1, 0, 10))
	before := readRows(t, e, "qb_invoices")
	wr, st := writeWith(t, exp, e, ws[1], bigPages(ws[1], 3, 50, 1, 0, 10))
	if wr.directPages != 0 || wr.direct {
		t.Errorf("direct pages %d (direct %v) in a re-run", wr.directPages, wr.direct)
	}
	if st != (component.WriteStats{Received: 150, Unchanged: 150}) {
		t.Errorf("stats %+v", st)
	}
	for id, r := range readRows(t, e, "qb_invoices") {
		if r.Xmin != before[id].Xmin {
			t.Errorf("row %s rewritten", id)
		}
	}
}

// TestLargeBatchesFlushAndStageEmpties: a staged window larger than
// flushBytes is moved in several statements (the stage emptied in
// between), and the next window on the session starts from an empty stage.
func TestLargeBatchesFlushAndStageEmpties(t *testing.T) {
	e := newEnv(t)
	exp := e.exporter(t, "qb_invoices")
	ws := windows(3)
	// 4 pages x 1000 records x ~1.6 KB: the batch passes flushBytes at the
	// third page, and the fourth is staged after the stage is emptied.
	writeWith(t, exp, e, ws[0], bigPages(ws[0], 1, 1, 1, 0, 10))
	pages := bigPages(ws[1], 4, 1000, 1, 1, 1500)
	_, st := writeWith(t, exp, e, ws[1], pages)
	if st != (component.WriteStats{Received: 4000, Inserted: 3999, Updated: 1}) {
		t.Errorf("stats %+v", st)
	}
	// Same ids again, unchanged: only this window's 4000 ids are counted.
	_, st = writeWith(t, exp, e, ws[2], bigPages(ws[2], 4, 1000, 1, 1, 1500))
	if st != (component.WriteStats{Received: 4000, Unchanged: 4000}) {
		t.Errorf("re-run stats %+v", st)
	}
	if rows := readRows(t, e, "qb_invoices"); len(rows) != 4000 || rows["1"].SyncToken != "1" {
		t.Errorf("%d rows; row 1 %+v", len(rows), rows["1"])
	}
}

// TestTableStatsFollowCommits: cached statistics are dropped by a commit.
func TestTableStatsFollowCommits(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	exp := e.exporter(t, "qb_invoices")
	ws := windows(2)
	writeWith(t, exp, e, ws[0], bigPages(ws[0], 1, 5, 1, 0, 10))
	for range 2 {
		if st, err := exp.TableStats(ctx); err != nil || st.Rows != 5 {
			t.Fatalf("stats %+v, %v", st, err)
		}
	}
	writeWith(t, exp, e, ws[1], bigPages(ws[1], 1, 5, 6, 0, 10))
	if st, err := exp.TableStats(ctx); err != nil || st.Rows != 10 || st.DistinctIDs != 10 {
		t.Fatalf("stats after a commit %+v, %v", st, err)
	}
}

// TestLookupWhenTheTableHeldRows: an exporter made over a table holding
// rows looks each page's ids up before copying it straight in; the first
// page with a stored id sends the rest of the window through the stage.
func TestLookupWhenTheTableHeldRows(t *testing.T) {
	e := newEnv(t)
	ws := windows(2)
	first := e.exporter(t, "qb_invoices")
	if !first.startedEmpty {
		t.Fatal("startedEmpty is false for an empty table")
	}
	writeWith(t, first, e, ws[0], bigPages(ws[0], 1, 10, 1, 0, 10))
	exp := e.exporter(t, "qb_invoices")
	if exp.startedEmpty {
		t.Fatal("startedEmpty is true for a table holding rows")
	}
	// Page 1: ids 100-109, all new; page 2: ids 5-14, of which 5-10 are
	// stored (and changed: sync token 1).
	pages := append(bigPages(ws[1], 1, 10, 100, 0, 10), bigPages(ws[1], 1, 10, 5, 1, 10)...)
	pages[1].Number = 2
	wr, st := writeWith(t, exp, e, ws[1], pages)
	if wr.directPages != 1 || wr.direct {
		t.Errorf("direct pages %d (direct %v), want 1 then staged", wr.directPages, wr.direct)
	}
	if st != (component.WriteStats{Received: 20, Inserted: 14, Updated: 6}) {
		t.Errorf("stats %+v", st)
	}
	if rows := readRows(t, e, "qb_invoices"); len(rows) != 24 || rows["5"].SyncToken != "1" {
		t.Errorf("%d rows, want 24; row 5 %+v", len(rows), rows["5"])
	}
}

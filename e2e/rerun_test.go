package e2e

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/etl-engine/etl/connectors/qbo/sandbox"
)

// TestRerunIsIdempotent re-runs every pipeline with --fresh over the same
// range and over one window: no row is added and no row is touched (xmin
// and ingested_at_utc of every row unchanged; the report counts everything
// unchanged). Then a few records are edited in the sandbox, and a re-run
// updates exactly those rows (report: updated = n, unchanged = the rest).
func TestRerunIsIdempotent(t *testing.T) {
	t.Parallel()
	// Edits in the sandbox are stamped with its clock: keep it on the last
	// day of the data, inside the range and after every generated record.
	base, began := mustTime("2025-12-31T06:00:00Z"), time.Now()
	e := newEnv(t, sandbox.Options{
		Seed: 21, Customers: 400, Items: 150, Invoices: 2500,
		Now: func() time.Time { return base.Add(time.Since(began)) },
	})
	from, to := mustTime(rangeStart), mustTime(rangeEnd)

	first := map[pipe]string{}
	for _, p := range allPipes {
		r := e.mustRun(0, p.path(), rangeStart, rangeEnd, "--param", "page_size=50")
		first[p] = r.runID()
		e.checkRows(t, p, from, to)
	}
	before := map[pipe]map[string]dbRow{}
	for _, p := range allPipes {
		before[p] = e.rows(p.table)
	}

	// 1. The same range again, as a new run.
	for _, p := range allPipes {
		r := e.mustRun(0, p.path(), rangeStart, rangeEnd, "--param", "page_size=50", "--fresh")
		if r.runID() == first[p] {
			t.Errorf("%s: --fresh resumed run %s instead of starting a new one", p.name, first[p])
		}
		rep := r.report(t)
		checkReportPassed(t, rep)
		n := int64(len(before[p]))
		if tot := rep.Totals; tot.Inserted != 0 || tot.Updated != 0 || tot.Unchanged != n || tot.SourceCount != n {
			t.Errorf("%s re-run: inserted %d updated %d unchanged %d source %d, want 0/0/%d/%d",
				p.name, tot.Inserted, tot.Updated, tot.Unchanged, tot.SourceCount, n, n)
		}
		compareRows(t, p, before[p], e.rows(p.table), nil)
	}

	// 2. One window again (another plan: March 2023 for invoices, 2022 for
	// the others).
	for _, p := range allPipes {
		wFrom, wTo := "2022-01-01T00:00:00Z", "2023-01-01T00:00:00Z"
		if p == invoicesPipe {
			wFrom, wTo = "2023-03-01T00:00:00Z", "2023-04-01T00:00:00Z"
		}
		r := e.mustRun(0, p.path(), wFrom, wTo)
		rep := r.report(t)
		checkReportPassed(t, rep)
		n := int64(len(e.sandboxRecords(p.entity, mustTime(wFrom), mustTime(wTo))))
		if n == 0 {
			t.Fatalf("%s: no records in [%s, %s); pick another window", p.name, wFrom, wTo)
		}
		if tot := rep.Totals; tot.Windows != 1 || tot.Inserted != 0 || tot.Updated != 0 || tot.Unchanged != n {
			t.Errorf("%s one-window re-run: %d windows, inserted %d updated %d unchanged %d, want 1 window, 0/0/%d",
				p.name, tot.Windows, tot.Inserted, tot.Updated, tot.Unchanged, n)
		}
		compareRows(t, p, before[p], e.rows(p.table), nil)
	}

	// 3. Edit a few records, then re-run: exactly those rows change.
	edits := map[pipe][]string{customersPipe: {"7", "399"}, itemsPipe: {"1"}, invoicesPipe: {"10", "1500", "2499"}}
	for p, ids := range edits {
		for _, id := range ids {
			if err := e.srv.Update(p.entity, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range allPipes {
		r := e.mustRun(0, p.path(), rangeStart, rangeEnd, "--param", "page_size=50", "--fresh")
		rep := r.report(t)
		checkReportPassed(t, rep)
		n, k := int64(len(before[p])), int64(len(edits[p]))
		if tot := rep.Totals; tot.Inserted != 0 || tot.Updated != k || tot.Unchanged != n-k {
			t.Errorf("%s after %d edits: inserted %d updated %d unchanged %d, want 0/%d/%d",
				p.name, k, tot.Inserted, tot.Updated, tot.Unchanged, k, n-k)
		}
		after := e.rows(p.table)
		compareRows(t, p, before[p], after, edits[p])
		for _, id := range edits[p] {
			if after[id].runID != r.runID() {
				t.Errorf("%s %s: written by run %s, want the re-run %s", p.entity, id, after[id].runID, r.runID())
			}
			if !after[id].ingested.After(before[p][id].ingested) {
				t.Errorf("%s %s: ingested_at_utc not advanced by the update", p.entity, id)
			}
		}
		e.checkRows(t, p, from, to)
	}
}

// compareRows checks that the rows are exactly the same ids, and that
// every row not in changed kept its xmin (the tuple was not rewritten),
// ingested_at_utc, version and payload, while every row in changed got a
// new tuple and version.
func compareRows(t *testing.T, p pipe, before, after map[string]dbRow, changed []string) {
	t.Helper()
	if len(after) != len(before) {
		t.Errorf("raw.%s: %d rows, had %d", p.table, len(after), len(before))
	}
	isChanged := map[string]bool{}
	for _, id := range changed {
		isChanged[id] = true
	}
	var diffs []string
	for id, b := range before {
		a, ok := after[id]
		switch {
		case !ok:
			diffs = append(diffs, id+" disappeared")
		case isChanged[id]:
			if a.xmin == b.xmin || a.syncToken == b.syncToken || a.payload == b.payload {
				diffs = append(diffs, fmt.Sprintf("%s was edited but its row did not change (xmin %d→%d, sync_token %s→%s)", id, b.xmin, a.xmin, b.syncToken, a.syncToken))
			}
		case a.xmin != b.xmin || !a.ingested.Equal(b.ingested) || a.syncToken != b.syncToken || a.payload != b.payload ||
			a.runID != b.runID || !a.winStart.Equal(b.winStart):
			diffs = append(diffs, fmt.Sprintf("%s was rewritten (xmin %d→%d, ingested %s→%s)", id, b.xmin, a.xmin,
				b.ingested.Format(time.RFC3339Nano), a.ingested.Format(time.RFC3339Nano)))
		}
	}
	for id := range after {
		if _, ok := before[id]; !ok {
			diffs = append(diffs, id+" appeared")
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		t.Errorf("raw.%s: %d rows differ, e.g.:\n%v", p.table, len(diffs), diffs[:min(5, len(diffs))])
	}
}

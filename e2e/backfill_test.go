package e2e

import (
	"testing"

	"github.com/etl-engine/etl/connectors/qbo/sandbox"
)

// TestBackfillEqualsSandbox back-fills the three entities over the
// sandbox's whole history (seven years: 7 yearly windows for customers and
// items, 84 monthly ones for invoices) with small pages, and compares every
// row with the sandbox: versions, payloads, realm, window columns, plus the
// report's checks and counts. Ties (hundreds of records sharing one
// LastUpdatedTime, some exactly on a window boundary) exercise the keyset
// paging and the half-open windows.
func TestBackfillEqualsSandbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{
		Seed: 11, Customers: 2537, Items: 311, Invoices: 10004,
		Ties: []sandbox.Tie{
			// More records at one instant than a page holds.
			{Entity: sandbox.EntityInvoice, Count: 250, At: mustTime("2022-03-15T10:00:00Z")},
			// Exactly on window boundaries: they belong to the later window.
			{Entity: sandbox.EntityInvoice, Count: 3, At: mustTime("2024-03-01T00:00:00Z")},
			{Entity: sandbox.EntityCustomer, Count: 5, At: mustTime("2023-01-01T00:00:00Z")},
			{Entity: sandbox.EntityItem, Count: 12, At: mustTime("2021-06-30T23:59:59Z")},
		},
	})
	from, to := mustTime(rangeStart), mustTime(rangeEnd)
	pageSize := map[pipe]string{customersPipe: "1000", itemsPipe: "7", invoicesPipe: "97"}
	wantWindows := map[pipe]int{customersPipe: 7, itemsPipe: 7, invoicesPipe: 84}

	for _, p := range allPipes {
		r := e.mustRun(0, p.path(), rangeStart, rangeEnd, "--param", "page_size="+pageSize[p])
		want := e.sandboxRecords(p.entity, from, to)
		rep := r.report(t)
		checkReportPassed(t, rep)
		if rep.RunID != r.runID() || rep.RunID == "" {
			t.Errorf("%s: report run id %q, stdout names %q", p.name, rep.RunID, r.runID())
		}
		tot := rep.Totals
		if tot.Windows != wantWindows[p] || tot.Completed != wantWindows[p] {
			t.Errorf("%s: %d of %d windows completed, want %d", p.name, tot.Completed, tot.Windows, wantWindows[p])
		}
		if tot.SourceCount != int64(len(want)) || tot.Inserted != int64(len(want)) || tot.Updated != 0 || tot.Unchanged != 0 {
			t.Errorf("%s: report totals source %d inserted %d updated %d unchanged %d, want %d inserted only",
				p.name, tot.SourceCount, tot.Inserted, tot.Updated, tot.Unchanged, len(want))
		}
		if rep.Table == nil || rep.Table.Rows != int64(len(want)) || rep.Table.DistinctIDs != int64(len(want)) {
			t.Errorf("%s: report table %+v, want %d rows", p.name, rep.Table, len(want))
		}
		if rep.Source.Realm != realmID || rep.Source.Entity != p.entity {
			t.Errorf("%s: report source %+v", p.name, rep.Source)
		}
		for _, w := range rep.Windows {
			if w.SourceCount != w.Distinct {
				t.Errorf("%s window %d: loaded %d of %d", p.name, w.Index, w.Distinct, w.SourceCount)
			}
		}
		e.checkRows(t, p, from, to)
	}

	// Inactive name-list records are loaded too, with their Active flag.
	for _, p := range []pipe{customersPipe, itemsPipe} {
		rows := e.rows(p.table)
		inactive := 0
		for _, r := range e.srv.Records(p.entity) {
			if r.Active {
				continue
			}
			inactive++
			if _, ok := rows[r.ID]; !ok {
				t.Errorf("inactive %s %s is missing", p.entity, r.ID)
			}
		}
		if inactive < 10 {
			t.Errorf("%s: only %d inactive records in the sandbox; the check proves little", p.entity, inactive)
		}
		var stored int
		if err := e.db.Pool.QueryRow(e.ctx(), "SELECT count(*) FROM raw."+p.table+" WHERE payload->>'Active' = 'false'").Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored != inactive {
			t.Errorf("raw.%s: %d rows with Active false, the sandbox has %d", p.table, stored, inactive)
		}
	}

	// Boundary records: the customers updated at 2023-01-01T00:00:00Z are in
	// the window that starts then, not in the one that ends then.
	var n int
	if err := e.db.Pool.QueryRow(e.ctx(), `
		SELECT count(*) FROM raw.qb_customers
		WHERE source_updated_at = '2023-01-01T00:00:00Z' AND extract_window_start_utc = '2023-01-01T00:00:00Z'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Errorf("%d customers updated at 2023-01-01T00:00:00Z are stored with the window starting then, want at least 5", n)
	}
	st := e.srv.Stats()
	t.Logf("sandbox: %d data requests, %d records served, %d refreshes", st.DataRequests, st.RecordsServed, st.Refreshes)
	if st.Refreshes != 1 {
		t.Errorf("the token endpoint rotated %d times for three runs, want 1 (the stored token is reused)", st.Refreshes)
	}
}

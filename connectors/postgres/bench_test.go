package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/plan"
)

const (
	benchPageSize = 1000
	benchPages    = 10 // per window: 10,000 rows
)

// invoicePayload returns a deterministic QBO-Invoice-shaped object of about
// 1.5 KB: 3 to 5 sales lines, a subtotal line, an address and metadata.
func invoicePayload(rng *rand.Rand, id int, updated time.Time, syncToken int) []byte {
	b := make([]byte, 0, 1800)
	b = fmt.Appendf(b, `{"Id":"%d","SyncToken":"%d","domain":"QBO","sparse":false,`, id, syncToken)
	b = fmt.Appendf(b, `"MetaData":{"CreateTime":"%s","LastUpdatedTime":"%s"},`,
		updated.Add(-72*time.Hour).Format(time.RFC3339), updated.Format(time.RFC3339))
	b = fmt.Appendf(b, `"DocNumber":"INV-%06d","TxnDate":"%s","CurrencyRef":{"value":"USD","name":"United States Dollar"},`,
		id, updated.Format("2006-01-02"))
	lines := 3 + rng.IntN(3)
	var total float64
	b = append(b, `"Line":[`...)
	for l := 1; l <= lines; l++ {
		qty, price := 1+rng.IntN(20), float64(rng.IntN(50000))/100
		amt := float64(qty) * price
		total += amt
		b = fmt.Appendf(b, `{"Id":"%d","LineNum":%d,"Description":"Services %d","Amount":%.2f,`+
			`"DetailType":"SalesItemLineDetail","SalesItemLineDetail":{"ItemRef":{"value":"%d","name":"Item %d"},`+
			`"UnitPrice":%.2f,"Qty":%d,"TaxCodeRef":{"value":"NON"}}},`,
			l, l, rng.IntN(1000), amt, 1+rng.IntN(300), rng.IntN(300), price, qty)
	}
	b = fmt.Appendf(b, `{"Amount":%.2f,"DetailType":"SubTotalLineDetail","SubTotalLineDetail":{}}],`, total)
	b = fmt.Appendf(b, `"CustomerRef":{"value":"%d","name":"Customer %d"},`, rng.IntN(2500), rng.IntN(2500))
	b = fmt.Appendf(b, `"BillAddr":{"Id":"%d","Line1":"%d Market Street","City":"San Francisco","CountrySubDivisionCode":"CA","PostalCode":"941%02d"},`,
		rng.IntN(9999), rng.IntN(9999), rng.IntN(100))
	b = fmt.Appendf(b, `"SalesTermRef":{"value":"3"},"DueDate":"%s","TotalAmt":%.2f,`,
		updated.AddDate(0, 0, 30).Format("2006-01-02"), total)
	b = fmt.Appendf(b, `"EmailStatus":"NotSet","BillEmail":{"Address":"billing%d@example.com"},"Balance":%.2f}`, id, total)
	return b
}

// invoicePages builds the pages of one window: ids from first.
func invoicePages(w plan.Window, first, pages int) ([]*component.Page, int64) {
	rng := rand.New(rand.NewPCG(uint64(first), 7))
	var out []*component.Page
	var bytes int64
	id := first
	for p := 1; p <= pages; p++ {
		pg := &component.Page{Window: w, Number: p, Pass: 1, Size: benchPageSize,
			Request: "SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '2024-01-01T00:00:00Z' STARTPOSITION " +
				strconv.Itoa(1+(p-1)*benchPageSize) + " MAXRESULTS 1000"}
		for range benchPageSize {
			updated := w.Start.Add(time.Duration(id%86400) * time.Second)
			payload := invoicePayload(rng, id, updated, 0)
			bytes += int64(len(payload))
			pg.Records = append(pg.Records, component.Record{ID: strconv.Itoa(id), UpdatedAt: updated, Version: "0", Payload: payload})
			id++
		}
		out = append(out, pg)
	}
	return out, bytes
}

// BenchmarkWriteInvoices writes windows of 10 pages of 1000 invoices
// (~1.5 KB each), one transaction per window:
//
//   - fresh: new ids into an empty table (truncated before each window);
//   - rerun: the same ids again, nothing changed (rows must stay untouched);
//   - fresh-2writers: two windows written at once on two connections;
//   - copy-ceiling: plain COPY of the same pages into an empty table with the
//     same layout (no staging, no conflict handling), the physical ceiling
//     to compare with on the same machine at the same time.
func BenchmarkWriteInvoices(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b)
	exp := e.exporter(b, "qb_invoices")
	_, run := e.startRun(b, "bench", 2)
	ws := windows(2)
	pages, payloadBytes := invoicePages(ws[0], 1, benchPages)
	pages2, _ := invoicePages(ws[1], 1+benchPages*benchPageSize, benchPages)
	rows := int64(benchPages * benchPageSize)
	b.Logf("average payload %d bytes", payloadBytes/rows)

	truncate := func(b *testing.B) {
		if _, err := e.pg.Pool.Exec(ctx, "TRUNCATE raw.qb_invoices"); err != nil {
			b.Fatal(err)
		}
	}
	settle := func(b *testing.B) {
		for _, q := range []string{"VACUUM ANALYZE raw.qb_invoices", "CHECKPOINT"} {
			if _, err := e.pg.Pool.Exec(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	}
	report := func(b *testing.B, perOp int64) {
		b.ReportMetric(float64(perOp*int64(b.N))/b.Elapsed().Seconds(), "rows/s")
	}

	b.Run("fresh", func(b *testing.B) {
		b.SetBytes(payloadBytes)
		for range b.N {
			b.StopTimer()
			truncate(b)
			b.StartTimer()
			if st := writeWindow(b, exp, run.RunRef, ws[0], pages...); st.Inserted != rows {
				b.Fatalf("stats %+v", st)
			}
		}
		report(b, rows)
	})
	b.Run("rerun", func(b *testing.B) {
		truncate(b)
		writeWindow(b, exp, run.RunRef, ws[0], pages...)
		settle(b)
		b.SetBytes(payloadBytes)
		b.ResetTimer()
		for range b.N {
			if st := writeWindow(b, exp, run.RunRef, ws[0], pages...); st.Unchanged != rows {
				b.Fatalf("stats %+v", st)
			}
		}
		report(b, rows)
	})
	b.Run("fresh-2writers", func(b *testing.B) {
		b.SetBytes(2 * payloadBytes)
		for range b.N {
			b.StopTimer()
			truncate(b)
			b.StartTimer()
			var wg sync.WaitGroup
			for i, ps := range [][]*component.Page{pages, pages2} {
				wg.Go(func() {
					if st, err := tryWindow(exp, run.RunRef, ws[i], ps...); err != nil || st.Inserted != rows {
						b.Errorf("window %d: %+v %v", i, st, err)
					}
				})
			}
			wg.Wait()
		}
		report(b, 2*rows)
	})
	b.Run("copy-ceiling", func(b *testing.B) {
		if _, err := e.pg.Pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS raw.ceiling (LIKE raw.qb_invoices INCLUDING ALL)"); err != nil {
			b.Fatal(err)
		}
		cols := []string{"id", "payload", "sync_token", "source_updated_at", "extract_window_start_utc",
			"extract_window_end_utc", "page_number", "page_size", "source_realm_id", "source_env"}
		b.SetBytes(payloadBytes)
		for range b.N {
			b.StopTimer()
			if _, err := e.pg.Pool.Exec(ctx, "TRUNCATE raw.ceiling"); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			err := pgx.BeginFunc(ctx, e.db.Pool(), func(tx pgx.Tx) error {
				for _, p := range pages {
					_, err := tx.CopyFrom(ctx, pgx.Identifier{"raw", "ceiling"}, cols, pgx.CopyFromSlice(len(p.Records), func(i int) ([]any, error) {
						r := p.Records[i]
						return []any{r.ID, json.RawMessage(r.Payload), r.Version, r.UpdatedAt, p.Window.Start, p.Window.End,
							int32(p.Number), int32(p.Size), "realm", "sandbox"}, nil
					}))
					if err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		report(b, rows)
	})
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/etl-engine/etl/connectors/qbo/sandbox"
)

// ceilingTable receives the plain COPY; it is dropped afterwards.
const ceilingTable = "etlbench_ceiling"

// ceilingBatch is the rows per COPY statement, each in its own transaction
// (perf.md's technique e).
const ceilingBatch = 1000

// ceilingColumns are every column of the raw layout.
var ceilingColumns = []string{"id", "payload", "sync_token", "source_updated_at", "ingested_at_utc",
	"extract_window_start_utc", "extract_window_end_utc", "page_number", "page_size", "request_payload",
	"source_realm_id", "source_env", "run_id"}

// ceiling measures the physical limit of one connection: the same n
// invoice payloads, byte for byte, loaded with plain COPY (no staging, no
// conflict handling) into an empty table with the target's layout. It
// needs the target table, so it runs after a fresh case.
func (b *bench) ceiling(ctx context.Context, n int) (result, error) {
	rows, err := ceilingRows(sandboxOptions{seed: b.o.seed, customers: b.o.customers, items: b.o.items, invoices: n})
	if err != nil {
		return result{}, err
	}
	conn, err := b.connect(ctx, database)
	if err != nil {
		return result{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	table := pgx.Identifier{"raw", ceilingTable}
	// INCLUDING ALL copies the primary key and the lz4 compression.
	if _, err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+table.Sanitize()+"; CREATE TABLE "+table.Sanitize()+
		" (LIKE "+targetTable+" INCLUDING ALL)"); err != nil {
		return result{}, fmt.Errorf("creating the ceiling table: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+table.Sanitize()) }()
	if err := b.settle(ctx, ""); err != nil {
		return result{}, err
	}
	pgBefore, err := b.pgCPU()
	if err != nil {
		return result{}, err
	}
	var ruBefore, ruAfter syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ruBefore)
	start := time.Now()
	for chunk := range slices.Chunk(rows, ceilingBatch) {
		copied, err := conn.CopyFrom(ctx, table, ceilingColumns, pgx.CopyFromRows(chunk))
		if err != nil {
			return result{}, fmt.Errorf("COPY into the ceiling table: %w", err)
		}
		if copied != int64(len(chunk)) {
			return result{}, fmt.Errorf("COPY into the ceiling table: copied %d rows of %d", copied, len(chunk))
		}
	}
	wall := time.Since(start)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ruAfter)
	pgAfter, err := b.pgCPU()
	if err != nil {
		return result{}, err
	}
	return result{
		name: "ceiling", rows: int64(len(rows)), wall: wall,
		etlCPU: time.Duration(ruAfter.Utime.Nano() + ruAfter.Stime.Nano() - ruBefore.Utime.Nano() - ruBefore.Stime.Nano()),
		pgCPU:  pgAfter - pgBefore,
	}, nil
}

// ceilingRows regenerates the sandbox's invoices in process and lays them
// out as the exporter stores them: ordered by LastUpdatedTime as the loader
// reads them, with the monthly window, page number and a request payload of
// the same shape.
func ceilingRows(o sandboxOptions) ([][]any, error) {
	srv, err := sandbox.New(o.options())
	if err != nil {
		return nil, fmt.Errorf("generating the invoices: %w", err)
	}
	infos := srv.Records(sandbox.EntityInvoice)
	slices.SortStableFunc(infos, func(a, b sandbox.RecordInfo) int { return a.LastUpdated.Compare(b.LastUpdated) })
	ingested := time.Now().UTC()
	rows := make([][]any, 0, len(infos))
	var winStart time.Time
	inWindow := 0
	for _, r := range infos {
		payload, err := srv.Payload(sandbox.EntityInvoice, r.ID)
		if err != nil {
			return nil, fmt.Errorf("reading invoice %s: %w", r.ID, err)
		}
		t := r.LastUpdated.UTC()
		ws := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		if !ws.Equal(winStart) {
			winStart, inWindow = ws, 0
		}
		page := inWindow/ceilingBatch + 1
		inWindow++
		we := ws.AddDate(0, 1, 0)
		req, _ := json.Marshal(map[string]any{
			"page_number": page, "page_size": ceilingBatch, "pass": 1,
			"query": fmt.Sprintf("SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '%s' AND MetaData.LastUpdatedTime < '%s' ORDERBY MetaData.LastUpdatedTime STARTPOSITION 1 MAXRESULTS %d",
				ws.Format(time.RFC3339), we.Format(time.RFC3339), ceilingBatch),
			"start_position": 1, "max_results": ceilingBatch,
		})
		rows = append(rows, []any{r.ID, json.RawMessage(payload), r.SyncToken, t, ingested,
			ws, we, int32(page), int32(ceilingBatch), json.RawMessage(req),
			srv.RealmID(), "sandbox", "etlbench-ceiling"})
	}
	return rows, nil
}

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/etl-engine/etl/engine/state"
)

// EntityStats describe a raw table, for volumetry reports.
type EntityStats struct {
	Rows        int64
	DistinctIDs int64
	// MinUpdatedAt and MaxUpdatedAt bound source_updated_at; nil when the
	// table is empty.
	MinUpdatedAt *time.Time
	MaxUpdatedAt *time.Time
	// InvalidPayloads counts rows whose payload is not a JSON object.
	InvalidPayloads int64
	// Checksum is the SHA-256 (hex) of the sorted "id:sync_token" lines, so
	// that two loads of the same data can be compared in one value.
	Checksum string
}

// EntityStats counts the rows of schema.table.
func (db *DB) EntityStats(ctx context.Context, schema, table string) (EntityStats, error) {
	if err := checkIdentifiers(schema, table); err != nil {
		return EntityStats{}, err
	}
	name := pgx.Identifier{schema, table}.Sanitize()
	var st EntityStats
	err := db.pool.QueryRow(ctx, `
		SELECT count(*), count(DISTINCT id), min(source_updated_at), max(source_updated_at),
		       count(*) FILTER (WHERE jsonb_typeof(payload) IS DISTINCT FROM 'object'),
		       encode(sha256(convert_to(coalesce(string_agg(id || ':' || coalesce(sync_token, ''), E'\n' ORDER BY id), ''), 'UTF8')), 'hex')
		FROM `+name).Scan(&st.Rows, &st.DistinctIDs, &st.MinUpdatedAt, &st.MaxUpdatedAt, &st.InvalidPayloads, &st.Checksum)
	if err != nil {
		return EntityStats{}, classify(fmt.Errorf("statistics of %s.%s: %w", schema, table, err))
	}
	for _, t := range []*time.Time{st.MinUpdatedAt, st.MaxUpdatedAt} {
		if t != nil {
			*t = t.UTC()
		}
	}
	return st, nil
}

// WindowsOf returns the windows of a run with their counts, in order.
func (db *DB) WindowsOf(ctx context.Context, runID string) ([]state.WindowState, error) {
	return db.store.Windows(ctx, runID)
}

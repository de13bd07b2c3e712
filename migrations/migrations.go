// Package migrations holds the SQL migrations of the raw schema (the tables
// that receive source records) and of the etl schema (the engine's runs,
// windows, leases and credentials), embedded in the binary.
//
// Files follow golang-migrate's naming: NNNN_title.up.sql and
// NNNN_title.down.sql. Each file runs as one multi-statement command, which
// PostgreSQL executes in one implicit transaction, so a failed migration
// leaves nothing half-applied (golang-migrate still marks the version
// dirty). Apply them with postgres.Migrate or `etl migrate`.
package migrations

import "embed"

// FS holds the migration files at its root.
//
//go:embed *.sql
var FS embed.FS

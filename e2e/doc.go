// Package e2e holds end-to-end tests of the etl command: they build the
// real binary, serve a QBO-compatible sandbox in the test process, give
// each test a fresh PostgreSQL database (internal/pgtest), run the shipped
// pipelines as child processes, and check the raw tables, the engine's
// state and the evidence against the sandbox's data.
//
// Run them with go test ./e2e/ (PostgreSQL server binaries must be
// installed, or ETL_TEST_DATABASE_URL set; the tests never skip).
//
// Every test ends with the global oracle of shared/reference/reliability.md
// §5: no raw table holds an id twice (I1), no secret canary appears in any
// output, log, evidence file or table but etl.credentials (I4), and every
// pipeline lease is released (I6).
package e2e

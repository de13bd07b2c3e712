// Package sandbox is a local, QuickBooks Online (QBO) compatible HTTP server.
//
// It serves the subset of the QBO Accounting API that the ETL engine uses to
// back-fill Customers, Invoices and Items: the OAuth2 token endpoint
// (refresh-token grant with rotation) and the query endpoint
// (GET or POST /v3/company/{realm}/query) with the documented query language
// subset, envelopes, faults and rate limits. All records are generated
// deterministically from Options.Seed, so two servers built from the same
// Options serve byte-identical records.
//
// The server is meant for tests (wrap Handler in httptest.NewServer) and for
// the "etl sandbox" command (ListenAndServe). Faults (throttling, 5xx,
// truncated or malformed bodies, expiring tokens, lost refresh responses and
// records that change while a client pages) can be injected through
// Options.Faults or SetFaults.
//
// Two extra routes exist for scripts and are not part of QBO:
// GET /_sandbox/stats (Stats as JSON) and GET /_sandbox/health.
package sandbox

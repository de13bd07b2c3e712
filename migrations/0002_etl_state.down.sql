DROP TABLE IF EXISTS etl.trigger_completions;
DROP TABLE IF EXISTS etl.credentials;
DROP TABLE IF EXISTS etl.leases;
DROP TABLE IF EXISTS etl.windows;
DROP TABLE IF EXISTS etl.runs;
-- The schema stays: it holds golang-migrate's version table.

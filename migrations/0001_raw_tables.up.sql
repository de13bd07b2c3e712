-- Raw tables: one row per source entity, keyed by the source's id, holding
-- the entity as received and where and when it was extracted.

CREATE SCHEMA IF NOT EXISTS raw;

-- IF NOT EXISTS: a table the exporter created earlier with the same layout
-- is kept.
CREATE TABLE IF NOT EXISTS raw.qb_customers (
    id                       text        PRIMARY KEY,
    payload                  jsonb       NOT NULL,
    sync_token               text,
    source_updated_at        timestamptz,
    ingested_at_utc          timestamptz NOT NULL DEFAULT now(),
    extract_window_start_utc timestamptz NOT NULL,
    extract_window_end_utc   timestamptz NOT NULL,
    page_number              int         NOT NULL,
    page_size                int         NOT NULL,
    request_payload          jsonb,
    source_realm_id          text        NOT NULL,
    source_env               text        NOT NULL,
    run_id                   text
);

CREATE TABLE IF NOT EXISTS raw.qb_invoices (LIKE raw.qb_customers INCLUDING ALL);
CREATE TABLE IF NOT EXISTS raw.qb_items (LIKE raw.qb_customers INCLUDING ALL);

-- lz4 compresses jsonb 25-50% faster than the default pglz for +6% size
-- (docs/perf: every ~1.5 KB payload is TOAST-compressed). Servers built
-- without lz4 keep pglz.
DO $$
DECLARE
    t text;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        FOREACH t IN ARRAY ARRAY['qb_customers', 'qb_invoices', 'qb_items'] LOOP
            EXECUTE format('ALTER TABLE raw.%I ALTER COLUMN payload SET COMPRESSION lz4, '
                           'ALTER COLUMN request_payload SET COMPRESSION lz4', t);
        END LOOP;
    END IF;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['qb_customers', 'qb_invoices', 'qb_items'] LOOP
        EXECUTE format($f$
            COMMENT ON COLUMN raw.%1$I.id IS 'Source entity id (QBO Id)';
            COMMENT ON COLUMN raw.%1$I.payload IS 'The entity as received, unmodified';
            COMMENT ON COLUMN raw.%1$I.sync_token IS 'Source version marker (QBO SyncToken)';
            COMMENT ON COLUMN raw.%1$I.source_updated_at IS 'Source last update time (QBO MetaData.LastUpdatedTime); an older version never overwrites a newer one';
            COMMENT ON COLUMN raw.%1$I.ingested_at_utc IS 'When this version was written; not refreshed when a re-run finds the payload unchanged';
            COMMENT ON COLUMN raw.%1$I.extract_window_start_utc IS 'Start (inclusive) of the extraction window that wrote this version';
            COMMENT ON COLUMN raw.%1$I.extract_window_end_utc IS 'End (exclusive) of the extraction window that wrote this version';
            COMMENT ON COLUMN raw.%1$I.page_number IS 'Page of the window (from 1) the record came in';
            COMMENT ON COLUMN raw.%1$I.page_size IS 'Page size requested (MAXRESULTS)';
            COMMENT ON COLUMN raw.%1$I.request_payload IS 'What was asked, e.g. {"query": ..., "page_number": ..., "page_size": ...}';
            COMMENT ON COLUMN raw.%1$I.source_realm_id IS 'Source account (QBO realm id)';
            COMMENT ON COLUMN raw.%1$I.source_env IS 'Source environment (sandbox or production)';
            COMMENT ON COLUMN raw.%1$I.run_id IS 'etl.runs.run_id of the run that wrote this version';
        $f$, t);
    END LOOP;
END
$$;

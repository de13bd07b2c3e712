DROP TABLE IF EXISTS raw.qb_items;
DROP TABLE IF EXISTS raw.qb_invoices;
DROP TABLE IF EXISTS raw.qb_customers;

-- Keep the schema when pipelines created other tables in it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'raw') THEN
        DROP SCHEMA IF EXISTS raw;
    END IF;
END
$$;

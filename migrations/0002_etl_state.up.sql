-- The engine's durable state. The schema itself is created before the first
-- migration, because golang-migrate keeps its version table in it.
CREATE SCHEMA IF NOT EXISTS etl;

-- One row per run of a pipeline over a plan.
CREATE TABLE etl.runs (
    run_id        text        PRIMARY KEY,
    pipeline      text        NOT NULL,
    -- A run resumes only an unfinished run with the same plan key.
    plan_key      text        NOT NULL,
    status        text        NOT NULL
                  CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
    params        jsonb       NOT NULL DEFAULT '{}',
    trigger       text,
    -- A one-time trigger's completion is recorded in etl.trigger_completions
    -- in the transaction that marks the run completed.
    trigger_once  boolean     NOT NULL DEFAULT false,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    error         text,
    -- Holder of the lease when the run was last started or resumed.
    owner         text,
    fence         bigint,
    windows_total int         NOT NULL,
    -- How many times an unfinished run was resumed.
    resumes       int         NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX runs_resume_idx ON etl.runs (pipeline, plan_key, started_at DESC);
CREATE INDEX runs_started_idx ON etl.runs (started_at DESC);

-- One row per window of a run, with its counts. A completed row is written
-- in the same transaction as the window's data.
CREATE TABLE etl.windows (
    run_id       text        NOT NULL REFERENCES etl.runs (run_id) ON DELETE CASCADE,
    idx          int         NOT NULL,
    start_utc    timestamptz NOT NULL,
    end_utc      timestamptz NOT NULL,
    status       text        NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    attempts     int         NOT NULL DEFAULT 0,
    -- Loader counts.
    source_count bigint      NOT NULL DEFAULT 0,
    pages        int         NOT NULL DEFAULT 0,
    passes       int         NOT NULL DEFAULT 0,
    requests     int         NOT NULL DEFAULT 0,
    fetched      bigint      NOT NULL DEFAULT 0,
    distinct_ids bigint      NOT NULL DEFAULT 0,
    retries      int         NOT NULL DEFAULT 0,
    throttled    int         NOT NULL DEFAULT 0,
    moved_out    bigint      NOT NULL DEFAULT 0,
    -- Writer counts.
    received     bigint      NOT NULL DEFAULT 0,
    inserted     bigint      NOT NULL DEFAULT 0,
    updated      bigint      NOT NULL DEFAULT 0,
    unchanged    bigint      NOT NULL DEFAULT 0,
    stale        bigint      NOT NULL DEFAULT 0,
    duplicates   bigint      NOT NULL DEFAULT 0,
    started_at   timestamptz,
    duration_ms  bigint      NOT NULL DEFAULT 0,
    error        text,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, idx),
    CHECK (end_utc > start_utc)
);

-- One row per pipeline: who may write for it. The fence grows at every
-- takeover; a commit is accepted only under the current fence.
CREATE TABLE etl.leases (
    pipeline     text        PRIMARY KEY,
    run_id       text        NOT NULL,
    owner        text        NOT NULL,
    host         text        NOT NULL,
    pid          int         NOT NULL,
    -- Identifies the holder process beyond its pid (boot id and start time),
    -- so that a reused pid is not mistaken for the holder.
    process      text        NOT NULL DEFAULT '',
    fence        bigint      NOT NULL,
    acquired_at  timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    released_at  timestamptz
);

-- Rotating credentials such as OAuth refresh tokens. Updated under
-- SELECT ... FOR UPDATE, so refreshes are single-flight across processes.
CREATE TABLE etl.credentials (
    key        text        PRIMARY KEY,
    value      text        NOT NULL,
    version    bigint      NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One-time triggers that completed: a run of such a trigger is refused.
CREATE TABLE etl.trigger_completions (
    trigger      text        PRIMARY KEY,
    run_id       text,
    completed_at timestamptz NOT NULL DEFAULT now()
);

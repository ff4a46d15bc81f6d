-- table: pipeline_stages
-- grain: one row per (run_id, stage, attempt). A completed stage is never run again for the same
-- run_id: a retried run reuses its outputs and goes on from the first stage that did not finish.
CREATE TABLE IF NOT EXISTS pipeline_stages (
    run_id VARCHAR NOT NULL,
    stage VARCHAR NOT NULL,             -- ingest | mine | promote | eval | compare | post
    attempt INTEGER NOT NULL,
    status VARCHAR NOT NULL,            -- running | completed | failed
    flow_run_id VARCHAR,
    outputs JSON,
    error VARCHAR,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    schema_version INTEGER NOT NULL
);

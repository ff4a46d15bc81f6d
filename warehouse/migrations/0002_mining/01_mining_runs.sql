-- table: mining_runs
-- grain: one row per mining run (run_id). Written in the same transaction as the run's signals,
-- clusters and members ('completed'), or alone with status 'failed' when a run errors.
-- The latest mining run is the 'completed' row with the greatest finished_at.
CREATE TABLE IF NOT EXISTS mining_runs (
    run_id VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status VARCHAR NOT NULL,            -- completed | failed
    since TIMESTAMPTZ,                  -- window on traces.start_time: since <= start_time < until
    until TIMESTAMPTZ,
    params JSON,                        -- every mining parameter, so a run can be reproduced
    previous_run_id VARCHAR,            -- the run whose clusters this one was matched against
    snapshot_id BIGINT,                 -- lake snapshot the run read
    n_traces_scanned BIGINT,
    n_failing_traces BIGINT,
    n_signals BIGINT,
    n_clusters INTEGER,                 -- clusters with members, 'unclustered' not counted
    n_unclustered BIGINT,
    message VARCHAR,                    -- error text for failed runs, notes (truncations, LLM naming) otherwise
    config_hash VARCHAR,
    schema_version INTEGER NOT NULL
);

-- table: pipeline_runs
-- grain: one row per run of the nightly loop (run_id; a retried or resumed run keeps its run_id).
-- Records the parameters, the Prefect flow-run id that last worked on it, its status and outputs
-- (the ids of the load, mining run, dataset version, experiment and comparison it produced).
CREATE TABLE IF NOT EXISTS pipeline_runs (
    run_id VARCHAR NOT NULL,
    flow_run_id VARCHAR,
    deployment VARCHAR,
    params JSON,
    status VARCHAR NOT NULL,            -- running | completed | failed
    failed_stage VARCHAR,
    error VARCHAR,
    outputs JSON,                       -- {stage: outputs}
    attempts INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    config_hash VARCHAR,
    schema_version INTEGER NOT NULL
);

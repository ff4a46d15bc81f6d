-- table: experiments
-- grain: one row per experiment (experiment_id): one candidate spec run over one dataset version.
-- Rewritten (delete + insert in one transaction) when its status or totals change; an interrupted
-- experiment is resumed by a later run with the same config_hash (spec + dataset version).
CREATE TABLE IF NOT EXISTS experiments (
    experiment_id VARCHAR NOT NULL,
    name VARCHAR,
    dataset_name VARCHAR NOT NULL,
    dataset_version INTEGER NOT NULL,
    dataset_hash VARCHAR NOT NULL,
    dataset_ref VARCHAR,                -- the reference as given, e.g. support@prod
    dataset_snapshot_id BIGINT,
    spec JSON NOT NULL,                 -- the candidate spec as loaded
    spec_path VARCHAR,
    target_kind VARCHAR NOT NULL,       -- llm | python | http | replay
    target_config_hash VARCHAR NOT NULL,
    git_sha VARCHAR,
    repetitions INTEGER NOT NULL,
    budget_usd DOUBLE,
    status VARCHAR NOT NULL,            -- running | completed | failed | budget_exceeded | interrupted
    status_message VARCHAR,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    n_examples INTEGER,
    n_results INTEGER,
    n_errors INTEGER,
    n_cached INTEGER,
    total_cost_usd DOUBLE,
    total_tokens BIGINT,
    config_hash VARCHAR NOT NULL,       -- hash of (spec, dataset version): equal hashes resume
    schema_version INTEGER NOT NULL
);

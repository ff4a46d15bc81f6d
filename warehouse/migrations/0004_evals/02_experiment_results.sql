-- table: experiment_results
-- grain: one row per (experiment_id, example_id, repetition): the target's answer for one example.
-- Written in small batches as calls complete; a failed call is stored with `error` set and is
-- retried (its row replaced) when the experiment resumes.
CREATE TABLE IF NOT EXISTS experiment_results (
    experiment_id VARCHAR NOT NULL,
    example_id VARCHAR NOT NULL,
    repetition INTEGER NOT NULL,
    input_hash VARCHAR NOT NULL,
    output JSON,
    trajectory JSON,                    -- [{name, arguments, result}] tool calls in order
    latency_ms DOUBLE,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cost_usd DOUBLE,
    error VARCHAR,
    attempts INTEGER,
    cached BOOLEAN NOT NULL,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    config_hash VARCHAR NOT NULL,       -- target config hash
    schema_version INTEGER NOT NULL
);

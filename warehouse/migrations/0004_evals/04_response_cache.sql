-- table: response_cache
-- grain: one row per (config_hash, input_hash, repetition): a stored target or judge response, so a
-- rerun of the same config on the same input makes no call. Insert-only (anti-join on the key).
CREATE TABLE IF NOT EXISTS response_cache (
    config_hash VARCHAR NOT NULL,       -- target config hash, or judge config hash
    input_hash VARCHAR NOT NULL,
    repetition INTEGER NOT NULL,
    kind VARCHAR NOT NULL,              -- target | judge
    response JSON NOT NULL,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cost_usd DOUBLE,
    experiment_id VARCHAR,              -- the experiment that paid for it
    created_at TIMESTAMPTZ NOT NULL,
    schema_version INTEGER NOT NULL
);

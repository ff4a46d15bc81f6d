-- table: eval_scores
-- grain: one row per (experiment_id, example_id, repetition, key): one evaluator score for one result,
-- written in the same transaction as the result it scores.
CREATE TABLE IF NOT EXISTS eval_scores (
    experiment_id VARCHAR NOT NULL,
    example_id VARCHAR NOT NULL,
    repetition INTEGER NOT NULL,
    key VARCHAR NOT NULL,
    score DOUBLE,                       -- booleans stored as 1.0 / 0.0; NULL = could not score
    label VARCHAR,
    comment VARCHAR,
    metadata JSON,
    evaluator VARCHAR,                  -- builtin name or module:function
    evaluator_config_hash VARCHAR,
    created_at TIMESTAMPTZ NOT NULL,
    schema_version INTEGER NOT NULL
);

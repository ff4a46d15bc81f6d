-- table: comparison_examples
-- grain: one row per (comparison_id, example_id, key): both scores (mean over repetitions), the delta,
-- and the example's lineage (source trace, failure cluster, split, tags).
CREATE TABLE IF NOT EXISTS comparison_examples (
    comparison_id VARCHAR NOT NULL,
    example_id VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    baseline_score DOUBLE,
    candidate_score DOUBLE,
    delta DOUBLE,
    change VARCHAR NOT NULL,            -- regression | improvement | same
    baseline_std DOUBLE,                -- spread across repetitions (flakiness)
    candidate_std DOUBLE,
    split VARCHAR,
    cluster_id VARCHAR,
    source_trace_id VARCHAR,
    tags VARCHAR[],
    schema_version INTEGER NOT NULL
);

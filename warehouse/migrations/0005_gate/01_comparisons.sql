-- table: comparisons
-- grain: one row per comparison (comparison_id): a paired comparison of a candidate experiment with a
-- baseline on the same dataset version. `summary` holds the whole Comparison as JSON. Insert-only.
CREATE TABLE IF NOT EXISTS comparisons (
    comparison_id VARCHAR NOT NULL,
    baseline_experiment_id VARCHAR NOT NULL,
    candidate_experiment_id VARCHAR NOT NULL,
    dataset_name VARCHAR,
    dataset_version INTEGER,
    dataset_hash VARCHAR,
    n_examples INTEGER NOT NULL,
    confidence DOUBLE NOT NULL,         -- two-sided CI level of every interval in it
    n_resamples INTEGER NOT NULL,
    bootstrap_method VARCHAR NOT NULL,
    seed INTEGER NOT NULL,
    pass_threshold DOUBLE NOT NULL,
    n_regressions INTEGER NOT NULL,     -- (example, evaluator) pairs that passed before and fail now
    n_improvements INTEGER NOT NULL,
    summary JSON NOT NULL,
    report_path VARCHAR,                -- the HTML report written for it, if any
    created_at TIMESTAMPTZ NOT NULL,
    config_hash VARCHAR NOT NULL,       -- hash of the comparison settings
    schema_version INTEGER NOT NULL
);

-- table: comparison_metrics
-- grain: one row per (comparison_id, key): one evaluator's paired difference, its CI and test.
CREATE TABLE IF NOT EXISTS comparison_metrics (
    comparison_id VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,              -- binary | numeric
    n INTEGER NOT NULL,
    baseline_mean DOUBLE,
    candidate_mean DOUBLE,
    delta DOUBLE,                       -- candidate - baseline
    ci_low DOUBLE,
    ci_high DOUBLE,
    confidence DOUBLE NOT NULL,
    test VARCHAR,                       -- mcnemar-exact | wilcoxon
    p_value DOUBLE,
    n_regressions INTEGER,
    n_improvements INTEGER,
    n_missing INTEGER,
    baseline_flaky INTEGER,             -- examples whose score varied across repetitions
    candidate_flaky INTEGER,
    schema_version INTEGER NOT NULL
);

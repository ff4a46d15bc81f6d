-- table: gate_results
-- grain: one row per gate decision (gate_id): a policy judged on a comparison. The policy and every
-- threshold are stored with the decision and the candidate experiment id. Insert-only.
CREATE TABLE IF NOT EXISTS gate_results (
    gate_id VARCHAR NOT NULL,
    comparison_id VARCHAR NOT NULL,
    baseline_experiment_id VARCHAR NOT NULL,
    candidate_experiment_id VARCHAR NOT NULL,
    policy_name VARCHAR NOT NULL,
    policy JSON NOT NULL,               -- the full policy as applied (defaults filled in)
    policy_hash VARCHAR NOT NULL,
    passed BOOLEAN NOT NULL,
    checks JSON NOT NULL,               -- [{name, key, passed, observed, threshold, reason}]
    n_failed_checks INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    config_hash VARCHAR NOT NULL,       -- = policy_hash
    schema_version INTEGER NOT NULL
);

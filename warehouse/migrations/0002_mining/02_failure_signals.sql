-- table: failure_signals
-- grain: one row per (run_id, trace_id, kind): one detected reason a trace failed, with its evidence.
-- kind: span_error | tool_error | negative_feedback | failed_outcome | latency_outlier | cost_outlier |
--       loop | empty_output | refusal | rule:<rule file name>
CREATE TABLE IF NOT EXISTS failure_signals (
    run_id VARCHAR NOT NULL,
    trace_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    evidence JSON,                      -- what was seen: messages, values, thresholds, the rule's own evidence
    config_hash VARCHAR,
    schema_version INTEGER NOT NULL
);

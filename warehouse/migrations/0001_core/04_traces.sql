-- table: traces
-- grain: one row per trace (trace_id): the rollup of its spans. Rebuilt for a trace whenever a
-- load adds spans to it, so late spans update the rollup; `load_id` is the load that last did so.
CREATE TABLE IF NOT EXISTS traces (
    trace_id VARCHAR NOT NULL,
    root_span_id VARCHAR,
    name VARCHAR,
    start_time TIMESTAMPTZ,
    end_time TIMESTAMPTZ,
    latency_ms DOUBLE,
    status VARCHAR,                     -- ok | error
    error_message VARCHAR,
    input VARCHAR,                      -- root span input
    output VARCHAR,                     -- root span output
    span_count INTEGER,
    llm_calls INTEGER,
    tool_call_count INTEGER,
    tool_sequence VARCHAR[],            -- tool names in call order
    models VARCHAR[],
    input_tokens BIGINT,
    output_tokens BIGINT,
    total_tokens BIGINT,
    cost_usd DOUBLE,
    user_id VARCHAR,
    session_id VARCHAR,
    tags VARCHAR[],
    environment VARCHAR,
    app_version VARCHAR,
    outcome VARCHAR,                    -- success | failure | NULL, when an outcome was ingested with the trace
    outcome_score DOUBLE,
    metadata JSON,
    source VARCHAR,
    first_load_id VARCHAR,
    load_id VARCHAR NOT NULL,
    schema_version INTEGER NOT NULL
);

-- table: spans
-- grain: one row per span, unique on (trace_id, span_id). Typed columns are mapped from the
-- OTel GenAI and OpenInference conventions (and from chat/LangSmith/Langfuse records);
-- `attributes` keeps every attribute and `raw` the whole source record, so no vendor field is lost.
CREATE TABLE IF NOT EXISTS spans (
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    parent_span_id VARCHAR,
    name VARCHAR,
    kind VARCHAR,                       -- llm | tool | agent | chain | retriever | embedding | reranker | guardrail | evaluator | unknown
    start_time TIMESTAMPTZ,
    end_time TIMESTAMPTZ,
    duration_ms DOUBLE,
    status_code VARCHAR,                -- ok | error | unset
    status_message VARCHAR,
    model VARCHAR,
    provider VARCHAR,
    input_tokens BIGINT,
    output_tokens BIGINT,
    total_tokens BIGINT,
    cost_usd DOUBLE,
    input_text VARCHAR,                 -- input as text (input.value, or rendered messages)
    output_text VARCHAR,
    input_messages JSON,                -- [{role, content, tool_calls?, tool_call_id?}]
    output_messages JSON,
    tool_name VARCHAR,
    tool_call_id VARCHAR,
    tool_arguments JSON,
    tool_result VARCHAR,
    user_id VARCHAR,
    session_id VARCHAR,
    tags VARCHAR[],
    environment VARCHAR,
    app_version VARCHAR,
    service_name VARCHAR,
    is_orphan BOOLEAN,                  -- parent_span_id set but no such span in the trace
    attributes JSON,
    raw JSON,
    source VARCHAR NOT NULL,            -- format the span came from
    source_file VARCHAR,
    load_id VARCHAR NOT NULL,
    config_hash VARCHAR,
    schema_version INTEGER NOT NULL
);

-- table: tool_calls
-- grain: one row per tool call (trace_id, call_id), in call order within the trace (seq).
CREATE TABLE IF NOT EXISTS tool_calls (
    trace_id VARCHAR NOT NULL,
    call_id VARCHAR NOT NULL,           -- the tool span id, or the tool_call id from a chat message
    span_id VARCHAR,                    -- span that made or executed the call
    seq INTEGER,                        -- position in the trace, by start time
    tool_name VARCHAR NOT NULL,
    arguments JSON,
    result VARCHAR,
    status VARCHAR,                     -- ok | error | unset
    error_message VARCHAR,
    start_time TIMESTAMPTZ,
    duration_ms DOUBLE,
    source VARCHAR NOT NULL,
    load_id VARCHAR NOT NULL,
    schema_version INTEGER NOT NULL
);

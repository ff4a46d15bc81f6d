-- table: feedback
-- grain: one row per feedback item (feedback_id) on a trace (or one of its spans).
CREATE TABLE IF NOT EXISTS feedback (
    feedback_id VARCHAR NOT NULL,
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR,
    key VARCHAR NOT NULL,               -- e.g. outcome, thumbs, correctness, reward
    score DOUBLE,
    label VARCHAR,
    comment VARCHAR,
    correction JSON,                    -- a corrected output, when a human supplied one
    source VARCHAR NOT NULL,            -- human | llm | code | user
    author VARCHAR,
    created_at TIMESTAMPTZ,
    raw JSON,
    load_id VARCHAR NOT NULL,
    schema_version INTEGER NOT NULL
);

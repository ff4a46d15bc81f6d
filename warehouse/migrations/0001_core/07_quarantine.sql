-- table: quarantine
-- grain: one row per rejected input record (or per record of a batch rejected whole by validation).
-- Nothing bad is dropped silently: the raw record is kept with the reason, to fix and re-ingest.
CREATE TABLE IF NOT EXISTS quarantine (
    quarantine_id VARCHAR NOT NULL,
    load_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,            -- file path or API
    line_no BIGINT,                     -- 1-based line in the source file, when known
    reason VARCHAR NOT NULL,            -- malformed_json | wrong_type | missing_id | oversized | invalid_utf8 | validation_failed | unknown_format | ...
    detail VARCHAR,                     -- human-readable explanation
    raw VARCHAR,                        -- the record as text (invalid bytes escaped), truncated if oversized
    raw_bytes BIGINT,
    validation JSON,                    -- the Great Expectations result, for validation_failed
    quarantined_at TIMESTAMPTZ NOT NULL,
    schema_version INTEGER NOT NULL
);

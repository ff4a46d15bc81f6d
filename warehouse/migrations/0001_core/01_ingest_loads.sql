-- table: ingest_loads
-- grain: one row per ingest load (load_id). A load is one run of `tracemill ingest` or one API pull.
-- The row is first written with status 'running'; its final status, counts and cursor are committed
-- in the same transaction as the rows the load wrote, so the cursor never runs ahead of the data.
CREATE TABLE IF NOT EXISTS ingest_loads (
    load_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,            -- what was loaded: a path/glob/prefix or an API name
    format VARCHAR,                     -- otlp-json, otlp-proto, messages, langsmith, langfuse, langfuse-api, ...
    status VARCHAR NOT NULL,            -- running | committed | failed | interrupted
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    cursor JSON,                        -- incremental state (API cursor, or last file) saved with the data
    files_seen INTEGER,
    files_skipped INTEGER,
    records_seen BIGINT,
    spans_ingested BIGINT,
    traces_touched BIGINT,
    quarantined BIGINT,
    duplicates BIGINT,
    message VARCHAR,                    -- why a load failed, or a summary
    config_hash VARCHAR,
    schema_version INTEGER NOT NULL
);

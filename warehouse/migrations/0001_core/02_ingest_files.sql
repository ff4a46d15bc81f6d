-- table: ingest_files
-- grain: one row per input file (or object) fully loaded, keyed by its content hash.
-- A file is recorded in the same transaction as its rows, so a killed load leaves it unrecorded
-- and the next run loads it again; a recorded file is skipped.
CREATE TABLE IF NOT EXISTS ingest_files (
    path VARCHAR NOT NULL,
    content_sha256 VARCHAR NOT NULL,
    size_bytes BIGINT,
    format VARCHAR,
    records BIGINT,
    load_id VARCHAR NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL,
    schema_version INTEGER NOT NULL
);

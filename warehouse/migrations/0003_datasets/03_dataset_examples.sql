-- table: dataset_examples
-- grain: one row per (dataset_name, example_id, valid_from_version): a row is valid for versions
-- valid_from_version <= v < valid_to_version (NULL = still current). A change closes the old row and adds a
-- new one, so every version reads back exactly (Langfuse-style validity ranges).
CREATE TABLE IF NOT EXISTS dataset_examples (
    dataset_name VARCHAR NOT NULL,
    example_id VARCHAR NOT NULL,
    valid_from_version INTEGER NOT NULL,
    valid_to_version INTEGER,
    row_hash VARCHAR NOT NULL,          -- sha256 of the canonical example row
    input_key VARCHAR NOT NULL,         -- hash of the normalised input text (exact-duplicate check)
    inputs JSON NOT NULL,
    reference_output JSON,
    reference_trajectory JSON,          -- [{name, arguments}] expected tool calls
    metadata JSON NOT NULL,
    split VARCHAR,
    source_trace_id VARCHAR,            -- lineage: the production trace it came from
    cluster_id VARCHAR,                 -- lineage: the failure cluster (NULL for successes and imports)
    mining_run_id VARCHAR,
    promoted_by VARCHAR,
    promoted_at TIMESTAMPTZ,
    write_id VARCHAR NOT NULL,          -- the write that stored this row
    source VARCHAR,
    config_hash VARCHAR,
    schema_version INTEGER NOT NULL
);

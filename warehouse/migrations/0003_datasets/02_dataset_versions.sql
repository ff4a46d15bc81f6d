-- table: dataset_versions
-- grain: one row per immutable dataset version (dataset_name, version). `content_hash` is the sha256 over
-- the canonical example rows of the version sorted by example_id; reads re-hash and compare. The DuckLake
-- snapshot that committed the version is found through `commit_key` (the snapshot's commit_extra_info).
CREATE TABLE IF NOT EXISTS dataset_versions (
    dataset_name VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    content_hash VARCHAR NOT NULL,
    parent_version INTEGER,             -- the version this one was derived from (NULL for v1)
    n_examples INTEGER NOT NULL,
    n_added INTEGER NOT NULL,
    n_removed INTEGER NOT NULL,
    n_changed INTEGER NOT NULL,
    message VARCHAR,
    author VARCHAR,
    created_at TIMESTAMPTZ NOT NULL,
    commit_key VARCHAR NOT NULL,        -- equals lake.snapshots().commit_extra_info of the committing snapshot
    write_id VARCHAR NOT NULL,          -- id of the write (promotion / import / add) that made this version
    source VARCHAR,                     -- what made it: promote:clusters, promote:query, promote:feedback, import:<format>, api
    config_hash VARCHAR,
    schema_version INTEGER NOT NULL
);

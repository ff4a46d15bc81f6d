-- table: dataset_tags
-- grain: one row per tag move (append-only history). The current target of (dataset_name, tag) is its
-- latest row by set_at; version NULL means the tag was deleted.
CREATE TABLE IF NOT EXISTS dataset_tags (
    dataset_name VARCHAR NOT NULL,
    tag VARCHAR NOT NULL,
    version INTEGER,
    set_at TIMESTAMPTZ NOT NULL,
    set_by VARCHAR,
    note VARCHAR,
    schema_version INTEGER NOT NULL
);

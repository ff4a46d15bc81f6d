-- table: datasets
-- grain: one row per dataset (name). `head_version` is bumped in the same transaction that writes each
-- new version; concurrent writers both update this row, so one of them conflicts instead of both
-- claiming the same version number.
CREATE TABLE IF NOT EXISTS datasets (
    name VARCHAR NOT NULL,
    description VARCHAR,
    head_version INTEGER NOT NULL,      -- latest version number (1-based)
    created_at TIMESTAMPTZ NOT NULL,
    created_by VARCHAR,
    updated_at TIMESTAMPTZ NOT NULL,
    schema_version INTEGER NOT NULL
);

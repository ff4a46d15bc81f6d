-- table: cluster_members
-- grain: one row per (run_id, trace_id): the cluster a failing trace was put in by a run.
CREATE TABLE IF NOT EXISTS cluster_members (
    run_id VARCHAR NOT NULL,
    cluster_id VARCHAR NOT NULL,
    trace_id VARCHAR NOT NULL,
    is_representative BOOLEAN NOT NULL,
    representative_rank INTEGER,        -- 0 = medoid, 1.. = diverse members; NULL for other members
    distance DOUBLE,                    -- cosine distance to the cluster centroid in feature space
    signal_kinds VARCHAR[],
    feature_text VARCHAR,               -- the text the trace was clustered on (truncated)
    start_time TIMESTAMPTZ,
    schema_version INTEGER NOT NULL
);

-- table: cluster_daily_counts
-- grain: one row per (run_id, cluster_id, day): failing traces of a cluster that started on that UTC day.
CREATE TABLE IF NOT EXISTS cluster_daily_counts (
    run_id VARCHAR NOT NULL,
    cluster_id VARCHAR NOT NULL,
    day DATE NOT NULL,
    n_traces BIGINT NOT NULL,
    schema_version INTEGER NOT NULL
);

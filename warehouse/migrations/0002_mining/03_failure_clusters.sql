-- table: failure_clusters
-- grain: one row per (run_id, cluster_id). cluster_id ('fm_0001', ... or 'unclustered' for noise) is
-- stable across runs: each run matches its clusters to the previous run's. Clusters of the previous
-- run that found no match appear once more with size 0 and status 'gone'.
CREATE TABLE IF NOT EXISTS failure_clusters (
    run_id VARCHAR NOT NULL,
    cluster_id VARCHAR NOT NULL,
    label VARCHAR,                      -- distinctive terms (c-TF-IDF), e.g. 'tool_error / orders-api / timeout'
    name VARCHAR,                       -- short name: from the LLM when configured, else the label
    description VARCHAR,
    size BIGINT NOT NULL,               -- failing traces in this run
    status VARCHAR NOT NULL,            -- new | growing | stable | shrinking | gone
    previous_size BIGINT,
    daily_rate DOUBLE,                  -- traces per day over the run's days
    previous_daily_rate DOUBLE,
    first_seen TIMESTAMPTZ,
    last_seen TIMESTAMPTZ,
    signal_kinds VARCHAR[],             -- signal kinds of its members, most common first
    label_terms VARCHAR[],
    centroid JSON,                      -- {term: weight}: the cluster's mean TF-IDF vector (top terms), for matching
    representative_trace_ids VARCHAR[], -- medoid first, then the most diverse members
    matched_previous_id VARCHAR,
    match_score DOUBLE,                 -- max(member Jaccard, centroid cosine) with the matched previous cluster
    naming_model VARCHAR,               -- LLM that wrote name/description, when one did
    naming_prompt VARCHAR,
    config_hash VARCHAR,
    schema_version INTEGER NOT NULL
);

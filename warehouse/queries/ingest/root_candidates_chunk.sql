-- grain: one row per span of the registered chunk `_b` (just written) that may be its trace's root (no
-- parent, or an orphan), with its `attributes.metadata`. Appended to temp table `_txroots`, so the rollup
-- takes root metadata from here instead of reading the wide `attributes` column back from Parquet.
INSERT INTO _txroots
SELECT trace_id, span_id, json_extract(attributes, '$.metadata') AS metadata
FROM _b WHERE parent_span_id IS NULL OR is_orphan;

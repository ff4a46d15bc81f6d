-- query: the example rows of one dataset version (params: dataset_name, version, version)
-- grain: one row per example_id valid at that version
SELECT example_id, inputs, reference_output, reference_trajectory, metadata, split,
       source_trace_id, cluster_id, mining_run_id, promoted_by, promoted_at, row_hash, input_key
FROM dataset_examples
WHERE dataset_name = ?
  AND valid_from_version <= ?
  AND (valid_to_version IS NULL OR valid_to_version > ?)
ORDER BY example_id

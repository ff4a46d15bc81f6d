-- query: all versions of one dataset, oldest first, with the DuckLake snapshot that committed each (param: dataset_name)
-- grain: one row per version (snapshot_id NULL if that snapshot was expired)
SELECT v.dataset_name, v.version, v.content_hash, s.snapshot_id, v.created_at, v.n_examples, v.message,
       v.author, v.parent_version, v.n_added, v.n_removed, v.n_changed, v.source
FROM dataset_versions v
LEFT JOIN (
    SELECT commit_extra_info, max(snapshot_id) AS snapshot_id
    FROM lake.snapshots()
    WHERE commit_extra_info IS NOT NULL
    GROUP BY commit_extra_info
) s ON s.commit_extra_info = v.commit_key
WHERE v.dataset_name = ?
ORDER BY v.version

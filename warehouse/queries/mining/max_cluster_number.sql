-- Highest number used by any cluster id so far ('fm_0042' -> 42), so new ids never reuse an old one.
SELECT coalesce(max(TRY_CAST(substr(cluster_id, 4) AS INTEGER)), 0)
FROM failure_clusters WHERE cluster_id LIKE 'fm\_%' ESCAPE '\';

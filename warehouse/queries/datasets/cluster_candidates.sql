-- query: members of the real clusters of one mining run, best representatives first (param: run_id)
-- grain: one row per (cluster_id, trace_id); noise ('unclustered') is left out
SELECT m.cluster_id, m.trace_id, coalesce(c.name, c.label, m.cluster_id) AS cluster_name, c.size
FROM cluster_members m
LEFT JOIN failure_clusters c ON c.run_id = m.run_id AND c.cluster_id = m.cluster_id
WHERE m.run_id = ? AND m.cluster_id <> 'unclustered'
ORDER BY c.size DESC NULLS LAST, m.cluster_id, m.is_representative DESC NULLS LAST, m.distance NULLS LAST, m.trace_id

-- view: latest_failure_clusters
-- grain: one row per cluster of the latest completed mining run (greatest finished_at).
CREATE OR REPLACE VIEW latest_failure_clusters AS
SELECT c.*
FROM failure_clusters c
JOIN (
    SELECT run_id FROM mining_runs WHERE status = 'completed'
    ORDER BY finished_at DESC LIMIT 1
) r USING (run_id);

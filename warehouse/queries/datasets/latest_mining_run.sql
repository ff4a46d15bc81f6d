-- query: the latest completed mining run (contract: status 'completed', greatest finished_at)
-- grain: at most one row
SELECT run_id, finished_at
FROM mining_runs
WHERE status = 'completed'
ORDER BY finished_at DESC NULLS LAST
LIMIT 1

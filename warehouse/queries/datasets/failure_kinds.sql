-- query: failure signal kinds per trace in one mining run (param: run_id)
-- grain: one row per failing trace
SELECT trace_id, list(DISTINCT kind ORDER BY kind) AS kinds
FROM failure_signals
WHERE run_id = ?
GROUP BY trace_id

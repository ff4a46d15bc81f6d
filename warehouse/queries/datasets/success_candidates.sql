-- query: traces with no failure signal in a mining run that look successful (param: run_id, limit)
-- grain: one row per trace; explicit successes first, then a stable pseudo-random spread (md5 of the id)
SELECT t.trace_id
FROM traces t
WHERE (t.outcome = 'success' OR (t.outcome IS NULL AND t.status = 'ok'))
  AND NOT EXISTS (SELECT 1 FROM failure_signals s WHERE s.run_id = ? AND s.trace_id = t.trace_id)
GROUP BY t.trace_id
ORDER BY bool_or(t.outcome = 'success') DESC, md5(t.trace_id)
LIMIT ?

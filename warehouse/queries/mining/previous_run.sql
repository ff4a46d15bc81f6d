-- The latest completed mining run (greatest finished_at), the one a new run is matched against.
SELECT run_id FROM mining_runs WHERE status = 'completed' ORDER BY finished_at DESC, run_id DESC LIMIT 1;

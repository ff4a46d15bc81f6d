-- The most recent gate decision for a candidate experiment, with its thresholds.
SELECT gate_id, comparison_id, baseline_experiment_id, policy_name, policy, passed, checks, created_at
FROM gate_results
WHERE candidate_experiment_id = ?
ORDER BY created_at DESC
LIMIT 1

-- Close an experiment with its totals.
-- Parameters: status, status_message, finished_at, n_examples, n_results, n_errors, n_cached,
-- total_cost_usd, total_tokens, experiment_id.
UPDATE experiments
SET status = ?, status_message = ?, finished_at = ?, n_examples = ?, n_results = ?, n_errors = ?,
    n_cached = ?, total_cost_usd = ?, total_tokens = ?
WHERE experiment_id = ?

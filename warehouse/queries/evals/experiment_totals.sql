-- Totals of one experiment from its stored results. Parameter: experiment_id.
SELECT
    count(*) AS n_results,
    count(*) FILTER (WHERE error IS NOT NULL) AS n_errors,
    count(*) FILTER (WHERE cached) AS n_cached,
    coalesce(sum(cost_usd) FILTER (WHERE NOT cached), 0.0) AS total_cost_usd,
    coalesce(sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)) FILTER (WHERE NOT cached), 0) AS total_tokens
FROM experiment_results
WHERE experiment_id = ?

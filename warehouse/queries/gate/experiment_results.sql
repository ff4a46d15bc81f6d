-- Per-call cost, speed and errors of one experiment.
SELECT example_id, repetition, latency_ms, input_tokens, output_tokens, cost_usd, error
FROM experiment_results
WHERE experiment_id = ?
ORDER BY example_id, repetition

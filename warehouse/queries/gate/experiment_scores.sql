-- Per-example evaluator scores of one experiment (NULL scores = could not score; left out).
SELECT example_id, repetition, key, score
FROM eval_scores
WHERE experiment_id = ? AND score IS NOT NULL
ORDER BY example_id, repetition, key

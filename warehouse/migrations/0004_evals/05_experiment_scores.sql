-- view: experiment_scores
-- grain: one row per (experiment_id, key): mean score, count and number of NULL scores.
CREATE OR REPLACE VIEW experiment_scores AS
SELECT
    experiment_id,
    key,
    avg(score) AS mean_score,
    count(score) AS n_scored,
    count(*) - count(score) AS n_unscored
FROM eval_scores
GROUP BY experiment_id, key;

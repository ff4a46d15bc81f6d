-- Signal cost_outlier: robust z-score of log total tokens within the same model (the trace's first
-- model); cost is proportional to tokens within a model. Same thresholds as latency_outlier.
WITH x AS (
    SELECT trace_id, coalesce(model, '(none)') AS model, total_tokens, cost_usd,
           ln(greatest(total_tokens, 1)) AS lx
    FROM mine_traces WHERE total_tokens IS NOT NULL AND total_tokens > 0
), g AS (
    SELECT model, count(*) AS n, median(lx) AS med, greatest(1.4826 * mad(lx), 0.05) AS scale,
           median(total_tokens) AS med_tokens
    FROM x GROUP BY model
)
SELECT x.trace_id, 'cost_outlier' AS kind,
       json_object('total_tokens', x.total_tokens, 'cost_usd', x.cost_usd, 'model', x.model,
                   'model_median_tokens', g.med_tokens, 'ratio', round(x.total_tokens / greatest(g.med_tokens, 1), 2),
                   'robust_z', round((x.lx - g.med) / g.scale, 2), 'threshold_z', $z) AS evidence
FROM x JOIN g USING (model)
WHERE g.n >= $min_group
  AND x.total_tokens >= $min_ratio * g.med_tokens
  AND (x.lx - g.med) / g.scale >= $z;

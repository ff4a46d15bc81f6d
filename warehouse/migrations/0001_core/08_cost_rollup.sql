-- view: cost_rollup
-- grain: one row per (day, model, user_id, tag): tokens and cost of LLM spans, for cost attribution.
CREATE OR REPLACE VIEW cost_rollup AS
SELECT
    date_trunc('day', s.start_time) AS day,
    coalesce(s.model, '(none)') AS model,
    coalesce(t.user_id, '(none)') AS user_id,
    coalesce(tag, '(none)') AS tag,
    count(*) AS llm_spans,
    count(DISTINCT s.trace_id) AS traces,
    sum(s.input_tokens) AS input_tokens,
    sum(s.output_tokens) AS output_tokens,
    sum(s.cost_usd) AS cost_usd
FROM spans s
LEFT JOIN traces t USING (trace_id)
LEFT JOIN (SELECT trace_id, unnest(CASE WHEN len(tags) > 0 THEN tags ELSE [NULL] END) AS tag FROM traces) tg
    USING (trace_id)
WHERE s.kind = 'llm'
GROUP BY ALL;

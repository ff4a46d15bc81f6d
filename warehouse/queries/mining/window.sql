-- The traces a mining run looks at: since <= start_time < until (either bound may be NULL).
-- Kept as a temp table so every signal query reads the same set.
CREATE OR REPLACE TEMP TABLE mine_traces AS
SELECT
    trace_id,
    any_value(name) AS name,
    any_value(start_time) AS start_time,
    any_value(latency_ms) AS latency_ms,
    any_value(status) AS status,
    any_value(error_message) AS error_message,
    any_value(input) AS input,
    any_value(output) AS output,
    any_value(total_tokens) AS total_tokens,
    any_value(cost_usd) AS cost_usd,
    any_value(models[1]) AS model,
    any_value(outcome) AS outcome,
    any_value(outcome_score) AS outcome_score,
    any_value(tool_sequence) AS tool_sequence
FROM traces
WHERE (CAST($since AS TIMESTAMPTZ) IS NULL OR start_time >= CAST($since AS TIMESTAMPTZ))
  AND (CAST($until AS TIMESTAMPTZ) IS NULL OR start_time < CAST($until AS TIMESTAMPTZ))
GROUP BY trace_id;

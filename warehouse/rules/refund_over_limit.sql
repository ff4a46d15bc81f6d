-- rule: refund_over_limit
-- A refund above the $500 agent limit that was issued without escalating to a human.
--
-- Rule contract (every warehouse/rules/*.sql file): one SELECT statement, no trailing semicolon needed,
-- returning at least the columns
--     trace_id  VARCHAR  -- a trace that violates the rule
--     evidence  JSON     -- why (any JSON value; shown next to the signal)
-- It may read any lake table (traces, spans, tool_calls, feedback, ...). tracemill restricts the result to the
-- traces in the mining window and stores each row as a failure signal of kind 'rule:<file name>'.
-- A rule that fails to run stops the mining run with an error naming the file.
SELECT tc.trace_id,
       json_object('tool', tc.tool_name,
                   'order_id', json_extract_string(tc.arguments, '$.order_id'),
                   'amount', TRY_CAST(json_extract_string(tc.arguments, '$.amount') AS DOUBLE),
                   'limit', 500) AS evidence
FROM tool_calls tc
WHERE tc.tool_name = 'refund_order'
  AND TRY_CAST(json_extract_string(tc.arguments, '$.amount') AS DOUBLE) > 500
  AND NOT EXISTS (
      SELECT 1 FROM tool_calls e
      WHERE e.trace_id = tc.trace_id AND e.tool_name = 'escalate_to_human'
  )

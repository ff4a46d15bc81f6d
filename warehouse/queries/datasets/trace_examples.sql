-- query: what an example needs from each trace (params: the same VARCHAR[] of trace ids, three times)
-- grain: one row per trace: root input/output, first LLM span's input messages, tool calls in order
WITH t AS (
    SELECT * FROM traces WHERE list_contains(?, trace_id)
    QUALIFY row_number() OVER (PARTITION BY trace_id ORDER BY end_time DESC NULLS LAST) = 1
),
first_llm AS (
    SELECT trace_id, input_messages
    FROM spans
    WHERE list_contains(?, trace_id) AND kind = 'llm' AND input_messages IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY trace_id ORDER BY start_time NULLS LAST, span_id) = 1
),
calls AS (
    SELECT trace_id,
           to_json(list({'name': tool_name, 'arguments': coalesce(arguments, '{}'::JSON)}
                        ORDER BY seq NULLS LAST, start_time NULLS LAST, call_id)) AS calls
    FROM tool_calls
    WHERE list_contains(?, trace_id)
    GROUP BY trace_id
)
SELECT t.trace_id, t.name, t.input, t.output, t.status, t.outcome, t.tags, t.error_message,
       f.input_messages, c.calls
FROM t
LEFT JOIN first_llm f USING (trace_id)
LEFT JOIN calls c USING (trace_id)
ORDER BY t.trace_id

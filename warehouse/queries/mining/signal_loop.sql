-- Signal loop: the same tool called with the same arguments $loop_min or more times in one trace
-- (the most repeated call is the evidence). Calls without recorded arguments are left out: sameness
-- cannot be told (e.g. tau-bench display logs keep no tool names or arguments).
SELECT trace_id, 'loop' AS kind,
       json_object('tool', tool_name, 'arguments', args, 'repeats', n, 'min_repeats', $loop_min) AS evidence
FROM (
    SELECT tc.trace_id, tc.tool_name, coalesce(CAST(tc.arguments AS VARCHAR), '') AS args, count(*) AS n
    FROM tool_calls tc
    SEMI JOIN mine_traces w ON tc.trace_id = w.trace_id
    WHERE tc.arguments IS NOT NULL
    GROUP BY ALL
    HAVING count(*) >= $loop_min
)
QUALIFY row_number() OVER (PARTITION BY trace_id ORDER BY n DESC, tool_name, args) = 1;

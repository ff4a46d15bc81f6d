-- What went wrong, per failing trace (the traces in mine_signals): the raw material of clustering.
WITH f AS (
    SELECT trace_id, list(DISTINCT kind ORDER BY kind) AS kinds FROM mine_signals GROUP BY trace_id
), se AS (
    SELECT s.trace_id, string_agg(DISTINCT s.status_message, ' | ' ORDER BY s.status_message) AS span_errors
    FROM spans s SEMI JOIN f ON s.trace_id = f.trace_id
    WHERE s.status_code = 'error' AND s.status_message IS NOT NULL
    GROUP BY s.trace_id
), tc AS (
    -- 'unknown' is ingest's placeholder for a tool whose name the source did not keep: no information.
    SELECT c.trace_id,
           string_agg(DISTINCT c.error_message, ' | ' ORDER BY c.error_message) FILTER (WHERE c.status = 'error') AS tool_errors,
           string_agg(DISTINCT nullif(c.tool_name, 'unknown') || ' ' || array_to_string(
               CASE WHEN json_type(c.arguments) = 'OBJECT' THEN json_keys(c.arguments) ELSE [] END, ' '), ' ; ')
               FILTER (WHERE c.status = 'error') AS failing_tools,
           string_agg(nullif(c.tool_name, 'unknown'), ' ' ORDER BY c.seq) AS tools
    FROM tool_calls c SEMI JOIN f ON c.trace_id = f.trace_id
    GROUP BY c.trace_id
), fb AS (
    SELECT b.trace_id, string_agg(b.comment, ' | ' ORDER BY b.comment) AS comments
    FROM feedback b SEMI JOIN f ON b.trace_id = f.trace_id
    WHERE b.comment IS NOT NULL AND b.comment <> ''
    GROUP BY b.trace_id
), ev AS (
    -- tools named by loop/rule evidence count as failing tools too
    SELECT trace_id, string_agg(DISTINCT json_extract_string(evidence, '$.tool'), ' ') AS evidence_tools
    FROM mine_signals WHERE coalesce(json_extract_string(evidence, '$.tool'), 'unknown') <> 'unknown'
    GROUP BY trace_id
)
SELECT f.trace_id, w.start_time, f.kinds, w.error_message, se.span_errors, tc.tool_errors,
       concat_ws(' ; ', tc.failing_tools, ev.evidence_tools) AS failing_tools,
       CASE WHEN tc.trace_id IS NULL THEN array_to_string(w.tool_sequence, ' ') ELSE tc.tools END AS tools,
       w.input, w.output, fb.comments
FROM f
JOIN mine_traces w ON w.trace_id = f.trace_id
LEFT JOIN se ON se.trace_id = f.trace_id
LEFT JOIN tc ON tc.trace_id = f.trace_id
LEFT JOIN fb ON fb.trace_id = f.trace_id
LEFT JOIN ev ON ev.trace_id = f.trace_id
ORDER BY f.trace_id;

-- Signal tool_error: tool calls that failed, with the first failing tool, its message and argument keys.
SELECT tc.trace_id, 'tool_error' AS kind,
       json_object('tool', arg_min(tc.tool_name, tc.seq),
                   'message', arg_min(tc.error_message, tc.seq),
                   'argument_keys', arg_min(CASE WHEN json_type(tc.arguments) = 'OBJECT'
                                                 THEN json_keys(tc.arguments) ELSE [] END, tc.seq),
                   'n_failed_calls', count(*),
                   'tools', list(DISTINCT tc.tool_name ORDER BY tc.tool_name)) AS evidence
FROM tool_calls tc
SEMI JOIN mine_traces w ON tc.trace_id = w.trace_id
WHERE tc.status = 'error'
GROUP BY tc.trace_id;

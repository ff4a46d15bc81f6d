-- Tool calls of each source trace in call order (replay target and recorded tool answers).
-- Parameter: list of trace ids.
SELECT trace_id, tool_name, arguments, result, status
FROM tool_calls
WHERE list_contains(?, trace_id)
ORDER BY trace_id, seq, start_time, call_id

-- grain: one row per tool call (trace_id, call_id) of the Arrow table `_pending` (a transaction's
-- calls, in arrival order `_pos`) not yet stored: the first copy of a repeated call wins. Returns the count.
INSERT INTO tool_calls BY NAME
SELECT c.* EXCLUDE (_pos)
FROM (SELECT * FROM _pending QUALIFY row_number() OVER (PARTITION BY trace_id, call_id ORDER BY _pos) = 1) c
ANTI JOIN (SELECT trace_id, call_id FROM tool_calls
           WHERE trace_id IN (SELECT DISTINCT trace_id FROM _pending)) t USING (trace_id, call_id);

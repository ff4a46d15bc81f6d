-- Signals empty_output (no final answer) and refusal (the answer declines to help).
SELECT w.trace_id, 'empty_output' AS kind,
       json_object('output', w.output, 'status', w.status) AS evidence
FROM mine_traces w
WHERE w.output IS NULL OR trim(w.output) IN ('', '""', '[]', '{}', 'null')
UNION ALL
SELECT w.trace_id, 'refusal',
       json_object('output', left(w.output, 300), 'pattern', $refusal_pattern)
FROM mine_traces w
WHERE w.output IS NOT NULL AND regexp_matches(lower(w.output), $refusal_pattern);

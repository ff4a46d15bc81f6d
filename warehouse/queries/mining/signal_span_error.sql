-- Signal span_error: an error status on a non-tool span (tool spans are tool_error), or an error
-- trace with no error span at all (e.g. a chat trajectory marked failed by its source).
SELECT s.trace_id, 'span_error' AS kind,
       json_object('n_error_spans', count(*),
                   'span', arg_min(s.name, s.start_time),
                   'span_kind', arg_min(s.kind, s.start_time),
                   'message', arg_min(s.status_message, s.start_time)) AS evidence
FROM spans s
SEMI JOIN mine_traces w ON s.trace_id = w.trace_id
WHERE s.status_code = 'error' AND coalesce(s.kind, '') <> 'tool'
GROUP BY s.trace_id
UNION ALL
SELECT w.trace_id, 'span_error',
       json_object('n_error_spans', 0, 'span', w.name, 'span_kind', 'trace', 'message', w.error_message)
FROM mine_traces w
WHERE w.status = 'error'
  AND coalesce(w.outcome, '') <> 'failure'
  AND NOT EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = w.trace_id AND s.status_code = 'error');

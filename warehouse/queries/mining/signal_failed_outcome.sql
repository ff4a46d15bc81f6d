-- Signal failed_outcome: the trace was ingested with a failed outcome (e.g. a benchmark reward of 0).
SELECT w.trace_id, 'failed_outcome' AS kind,
       json_object('outcome', w.outcome, 'score', w.outcome_score) AS evidence
FROM mine_traces w
WHERE w.outcome = 'failure';

-- Signal negative_feedback: a score below its key's threshold (mine_feedback_thresholds, else
-- $default_threshold), or a negative label when there is no score. Outcomes are failed_outcome.
SELECT f.trace_id, 'negative_feedback' AS kind,
       json_object('key', arg_min(f.key, coalesce(f.score, -1e9)),
                   'score', min(f.score),
                   'label', arg_min(f.label, coalesce(f.score, -1e9)),
                   'comment', arg_min(f.comment, coalesce(f.score, -1e9)),
                   'source', arg_min(f.source, coalesce(f.score, -1e9)),
                   'threshold', min(coalesce(t.threshold, $default_threshold)),
                   'n', count(*)) AS evidence
FROM feedback f
SEMI JOIN mine_traces w ON f.trace_id = w.trace_id
LEFT JOIN mine_feedback_thresholds t ON t.key = f.key
WHERE f.key <> 'outcome'
  AND ((f.score IS NOT NULL AND f.score < coalesce(t.threshold, $default_threshold))
       OR (f.score IS NULL AND lower(coalesce(f.label, '')) IN
           ('thumbs_down', 'thumbsdown', 'negative', 'bad', 'fail', 'failed', 'failure', 'incorrect', 'wrong', 'unhelpful')))
GROUP BY f.trace_id;

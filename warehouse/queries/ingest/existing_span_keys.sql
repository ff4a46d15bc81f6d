-- (trace_id, span_id) already stored for the traces in the registered Arrow table `_tids(trace_id)`,
-- and whether the span came from outside the ($load_id, $source_file) being written (then its trace
-- cannot be rolled up from that file's rows alone).
SELECT s.trace_id, s.span_id,
    NOT (s.load_id = $load_id AND s.source_file IS NOT DISTINCT FROM $source_file) AS outside
FROM spans s SEMI JOIN _tids USING (trace_id);

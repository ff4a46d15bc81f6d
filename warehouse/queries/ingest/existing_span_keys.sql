-- grain: one row per stored span (trace_id, span_id) of the traces in the registered Arrow table
-- `_tids(trace_id)`, with whether it came from outside the ($load_id, $source_file) being written (then
-- its trace cannot be rolled up from that file's rows alone). The loader only asks this for traces that
-- already have a `traces` row: a trace without one has no stored span.
SELECT s.trace_id, s.span_id,
    NOT (s.load_id = $load_id AND s.source_file IS NOT DISTINCT FROM $source_file) AS outside
FROM spans s SEMI JOIN _tids USING (trace_id);

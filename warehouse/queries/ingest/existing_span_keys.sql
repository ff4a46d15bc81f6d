-- (trace_id, span_id) already stored for the traces in the registered Arrow table `_tids(trace_id)`.
SELECT s.trace_id, s.span_id FROM spans s SEMI JOIN _tids USING (trace_id);

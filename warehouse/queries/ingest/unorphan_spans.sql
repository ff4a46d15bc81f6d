-- grain: updates spans rows (one per span). A late parent turns an earlier orphan into a normal child:
-- clears `is_orphan` on the spans of the traces in temp table `_unorphan(trace_id)` whose parent is now
-- stored. The loader lists only the traces that can have such a span: those given an orphan by this
-- transaction, and those that had spans before it and got new ones.
UPDATE spans SET is_orphan = false
WHERE is_orphan AND trace_id IN (SELECT trace_id FROM _unorphan)
  AND (trace_id, parent_span_id) IN (SELECT trace_id, span_id FROM spans
                                     WHERE trace_id IN (SELECT trace_id FROM _unorphan));

-- grain: one row per span of the registered chunk keys `_k(i, trace_id, span_id, parent_span_id)` that
-- needs a flag: `stored` when (trace_id, span_id) is already in the warehouse, else (`stored` false) an
-- orphan: a parent_span_id that is neither stored nor in the chunk. The stored keys that matter are in
-- temp table `_txkeys(trace_id, span_id)`: those of the traces that existed before this transaction,
-- plus every key this transaction wrote. `i` is the span's position in the chunk.
WITH known AS (
    SELECT trace_id, span_id FROM _txkeys SEMI JOIN _k USING (trace_id)
    UNION ALL
    SELECT trace_id, span_id FROM _k
)
SELECT i, true AS stored FROM _k SEMI JOIN _txkeys USING (trace_id, span_id)
UNION ALL
SELECT k.i, false AS stored
FROM _k k ANTI JOIN known ON known.trace_id = k.trace_id AND known.span_id = k.parent_span_id
WHERE k.parent_span_id IS NOT NULL;

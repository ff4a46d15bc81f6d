-- grain: one row per stored span that may be its trace's root (no parent, or an orphan), for the traces
-- in temp table `_touched`, that temp table `_txroots` lacks (spans from earlier transactions), with its
-- `attributes.metadata`. Appended to `_txroots` before the rollup of traces that have such spans.
INSERT INTO _txroots
SELECT s.trace_id, s.span_id, json_extract(s.attributes, '$.metadata') AS metadata
FROM spans s ANTI JOIN _txroots r USING (trace_id, span_id)
WHERE (s.parent_span_id IS NULL OR s.is_orphan) AND s.trace_id IN (SELECT trace_id FROM _touched);

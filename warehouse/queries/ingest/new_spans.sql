-- Spans of the staged batch `_b` that are not in the warehouse yet (nor repeated within the batch),
-- with orphan flags: a parent that is neither in the batch nor already stored for the same trace.
CREATE OR REPLACE TEMP TABLE _new AS
WITH b AS (
    SELECT * FROM _b
    QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY start_ns NULLS LAST) = 1
),
existing AS (
    SELECT trace_id, span_id FROM spans
    WHERE trace_id IN (SELECT DISTINCT trace_id FROM _b)
),
fresh AS (
    SELECT b.* FROM b ANTI JOIN existing e USING (trace_id, span_id)
),
known AS (
    SELECT trace_id, span_id FROM existing
    UNION ALL
    SELECT trace_id, span_id FROM fresh
)
SELECT
    f.*,
    (f.parent_span_id IS NOT NULL AND k.span_id IS NULL) AS is_orphan,
    -- the GX suite checks this: a parent exists in the trace, or the span is flagged orphan
    (f.parent_span_id IS NULL OR k.span_id IS NOT NULL OR (f.parent_span_id IS NOT NULL AND k.span_id IS NULL)) AS parent_ok
FROM fresh f
LEFT JOIN (SELECT DISTINCT trace_id, span_id FROM known) k
    ON k.trace_id = f.trace_id AND k.span_id = f.parent_span_id;

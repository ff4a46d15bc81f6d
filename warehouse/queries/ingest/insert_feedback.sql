-- grain: one row per feedback item (feedback_id) of the Arrow table `_pending` (a transaction's
-- feedback, in arrival order `_pos`) not yet stored: the first copy of a repeated item wins. Returns the count.
INSERT INTO feedback BY NAME
SELECT f.* EXCLUDE (_pos)
FROM (SELECT * FROM _pending QUALIFY row_number() OVER (PARTITION BY feedback_id ORDER BY _pos) = 1) f
ANTI JOIN (SELECT feedback_id FROM feedback
           WHERE trace_id IN (SELECT DISTINCT trace_id FROM _pending)) x USING (feedback_id);

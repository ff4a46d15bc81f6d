-- grain: one row per trace_id of the registered span chunk `_b` that already has a `traces` row (one row
-- per trace, far smaller than `spans`). Every stored span's trace has one (each transaction that writes
-- spans rolls their traces up), so the chunk's other traces cannot have stored spans.
SELECT DISTINCT trace_id FROM traces WHERE trace_id IN (SELECT trace_id FROM _b);

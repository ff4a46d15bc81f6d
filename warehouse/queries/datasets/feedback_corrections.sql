-- query: the latest human (reviewer or end-user) correction per trace
-- grain: one row per trace that has a human feedback item with a correction
SELECT feedback_id, trace_id, correction, author, comment, key, created_at
FROM feedback
WHERE correction IS NOT NULL AND source IN ('human', 'user')  -- people, not llm/code graders
QUALIFY row_number() OVER (PARTITION BY trace_id ORDER BY created_at DESC NULLS LAST, feedback_id DESC) = 1
ORDER BY created_at NULLS LAST, trace_id

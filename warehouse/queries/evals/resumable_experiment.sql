-- The latest unfinished experiment for a config hash (same spec + dataset version): it is resumed.
-- Parameters: config_hash, list of resumable statuses.
SELECT *
FROM experiments
WHERE config_hash = ? AND list_contains(?, status)
ORDER BY started_at DESC
LIMIT 1

-- query: current tag targets of one dataset (param: dataset_name); deleted tags have version NULL
-- grain: one row per tag
SELECT tag, version, set_at, set_by
FROM dataset_tags
WHERE dataset_name = ?
QUALIFY row_number() OVER (PARTITION BY tag ORDER BY set_at DESC) = 1
ORDER BY tag

-- query: every dataset with its head version
-- grain: one row per dataset
SELECT d.name, d.head_version, v.n_examples, v.content_hash, v.created_at, v.message, d.description
FROM (SELECT name, max(head_version) AS head_version, any_value(description) AS description FROM datasets GROUP BY name) d
LEFT JOIN dataset_versions v ON v.dataset_name = d.name AND v.version = d.head_version
WHERE d.head_version > 0
ORDER BY d.name

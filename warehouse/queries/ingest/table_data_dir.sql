-- grain: one row per live table named $table in schema `main` (so one row, or none): where DuckLake
-- keeps that table's data files, as the lake's data_path plus the schema's and the table's paths.
-- Parse workers write span data files that the loader then registers in place (ducklake_add_data_files);
-- the loader uses this only when both paths are relative and the data path is a local folder.
SELECT
    m.value AS data_path,
    s.path AS schema_path,
    s.path_is_relative AS schema_path_is_relative,
    t.path AS table_path,
    t.path_is_relative AS table_path_is_relative
FROM __ducklake_metadata_lake.ducklake_table t
JOIN __ducklake_metadata_lake.ducklake_schema s ON s.schema_id = t.schema_id
JOIN __ducklake_metadata_lake.ducklake_metadata m ON m.key = 'data_path' AND m.scope IS NULL
WHERE t.table_name = $table AND s.schema_name = 'main' AND t.end_snapshot IS NULL AND s.end_snapshot IS NULL;

-- grain: registers one Parquet data file (a parse worker wrote it in the spans table's folder) as new
-- rows of `spans`, inside the caller's transaction. DuckLake takes the file over as if it had written it.
-- Parameter: $path, the file's absolute path.
CALL ducklake_add_data_files('lake', 'spans', $path);

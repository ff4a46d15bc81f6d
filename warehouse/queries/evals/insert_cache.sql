-- Insert new cache entries (registered as _tm_cache) not stored yet (the key is unique by anti-join).
INSERT INTO response_cache
SELECT b.*
FROM _tm_cache AS b
ANTI JOIN response_cache AS c
    ON c.config_hash = b.config_hash AND c.input_hash = b.input_hash AND c.repetition = b.repetition

-- Cached responses for a list of config hashes (target and judge configs of one run).
SELECT config_hash, input_hash, repetition, response, input_tokens, output_tokens, cost_usd
FROM response_cache
WHERE list_contains(?, config_hash)

-- The recorded answer of each source trace (replay target). Parameter: list of trace ids.
SELECT trace_id, output, latency_ms, input_tokens, output_tokens, cost_usd, status, error_message
FROM traces
WHERE list_contains(?, trace_id)

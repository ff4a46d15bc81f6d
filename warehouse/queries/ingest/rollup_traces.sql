-- Rebuild the `traces` rollup for the traces in temp table `_touched(trace_id)`, from all their
-- spans, tool calls and outcome feedback. Run after DELETE FROM traces for the same ids.
-- grain: one row per trace in `_touched` that has spans.
-- Root metadata comes from temp table `_txroots(trace_id, span_id, metadata)`, which the loader fills
-- with the root candidates (no parent, or orphan) of these traces: reading the wide `attributes`
-- column back from Parquet costs more than the rest of the rollup.
-- Parameters: $load_id and $schema_version of the rows written; $scope_load_id and $scope_file:
-- NULL, or - when the loader knows every span of these traces came from that (load, file) - the
-- scope to read spans from. A scope is pushed down to DuckLake, which then reads only that file's
-- data files instead of the wide columns of the whole spans table.
INSERT INTO traces BY NAME
WITH s AS (
    SELECT trace_id, span_id, parent_span_id, is_orphan, name, kind, start_time, end_time, status_code,
        status_message, model, input_tokens, output_tokens, total_tokens, cost_usd, input_text, output_text,
        user_id, session_id, tags, environment, app_version, source, load_id
    FROM spans
    WHERE trace_id IN (SELECT trace_id FROM _touched)
      AND load_id = coalesce($scope_load_id, load_id)
      AND source_file IS NOT DISTINCT FROM coalesce($scope_file, source_file)
),
agg AS (
    SELECT
        trace_id,
        min(start_time) AS start_time,
        max(end_time) AS end_time,
        count(*) AS span_count,
        count(*) FILTER (WHERE kind = 'llm') AS llm_calls,
        bool_or(status_code = 'error') AS has_error,
        arg_min(status_message, coalesce(start_time, TIMESTAMPTZ 'infinity')) FILTER (WHERE status_code = 'error') AS error_message,
        list_sort(list(DISTINCT model) FILTER (WHERE model IS NOT NULL)) AS models,
        -- Usage of the LLM spans; agent/chain spans often repeat their children's usage, so they only
        -- count when a trace has no LLM span with usage at all.
        coalesce(sum(input_tokens) FILTER (WHERE kind = 'llm'), sum(input_tokens)) AS input_tokens,
        coalesce(sum(output_tokens) FILTER (WHERE kind = 'llm'), sum(output_tokens)) AS output_tokens,
        coalesce(
            sum(coalesce(total_tokens, coalesce(input_tokens, 0) + coalesce(output_tokens, 0)))
                FILTER (WHERE kind = 'llm' AND (total_tokens IS NOT NULL OR input_tokens IS NOT NULL OR output_tokens IS NOT NULL)),
            sum(coalesce(total_tokens, coalesce(input_tokens, 0) + coalesce(output_tokens, 0)))
                FILTER (WHERE total_tokens IS NOT NULL OR input_tokens IS NOT NULL OR output_tokens IS NOT NULL)
        ) AS total_tokens,
        coalesce(sum(cost_usd) FILTER (WHERE kind = 'llm'), sum(cost_usd)) AS cost_usd,
        arg_min(user_id, coalesce(start_time, TIMESTAMPTZ 'infinity')) FILTER (WHERE user_id IS NOT NULL) AS user_id,
        arg_min(session_id, coalesce(start_time, TIMESTAMPTZ 'infinity')) FILTER (WHERE session_id IS NOT NULL) AS session_id,
        list_sort(list_distinct(flatten(list(tags) FILTER (WHERE tags IS NOT NULL)))) AS tags,
        arg_min(environment, coalesce(start_time, TIMESTAMPTZ 'infinity')) FILTER (WHERE environment IS NOT NULL) AS environment,
        arg_min(app_version, coalesce(start_time, TIMESTAMPTZ 'infinity')) FILTER (WHERE app_version IS NOT NULL) AS app_version,
        arg_min(source, coalesce(start_time, TIMESTAMPTZ 'infinity')) AS source,
        min(load_id) AS first_load_id,
        -- The root: no parent before orphans, then the earliest, then the smallest span id.
        arg_min(struct_pack(root_span_id := span_id, name := name, input_text := input_text, output_text := output_text),
                struct_pack(a := parent_span_id IS NOT NULL, b := start_time IS NULL, c := start_time, d := span_id))
            FILTER (WHERE parent_span_id IS NULL OR is_orphan) AS root,
        arg_min(input_text, coalesce(start_time, TIMESTAMPTZ 'infinity')) FILTER (WHERE kind = 'llm' AND input_text IS NOT NULL) AS first_llm_input,
        arg_max(output_text, coalesce(end_time, TIMESTAMPTZ '-infinity')) FILTER (WHERE kind = 'llm' AND output_text IS NOT NULL) AS last_llm_output
    FROM s GROUP BY trace_id
),
tc AS (
    SELECT trace_id, count(*) AS tool_call_count,
        -- = list(tool_name ORDER BY start_time NULLS LAST, seq NULLS LAST, call_id) (call_id is unique in a
        -- trace), without the ordered aggregate, which costs more than all the rest of the rollup.
        list_transform(list_sort(list(struct_pack(a := start_time IS NULL, b := start_time, c := seq IS NULL,
                                                  d := seq, e := call_id, n := tool_name))), x -> x.n) AS tool_sequence
    FROM tool_calls WHERE trace_id IN (SELECT trace_id FROM _touched)
    GROUP BY trace_id
),
oc AS (
    SELECT trace_id,
        arg_max(label, coalesce(created_at, TIMESTAMPTZ '1970-01-01')) AS outcome,
        arg_max(score, coalesce(created_at, TIMESTAMPTZ '1970-01-01')) AS outcome_score,
        arg_max(comment, coalesce(created_at, TIMESTAMPTZ '1970-01-01')) AS outcome_comment
    FROM feedback WHERE key = 'outcome' AND trace_id IN (SELECT trace_id FROM _touched)
    GROUP BY trace_id
)
SELECT
    agg.trace_id,
    (agg.root).root_span_id AS root_span_id,
    (agg.root).name AS name,
    agg.start_time,
    agg.end_time,
    date_diff('microsecond', agg.start_time, agg.end_time) / 1000.0 AS latency_ms,
    CASE WHEN agg.has_error OR oc.outcome = 'failure' THEN 'error' ELSE 'ok' END AS status,
    coalesce(agg.error_message, CASE WHEN oc.outcome = 'failure' THEN coalesce(oc.outcome_comment, 'failed outcome') END) AS error_message,
    coalesce((agg.root).input_text, agg.first_llm_input) AS input,
    coalesce((agg.root).output_text, agg.last_llm_output) AS output,
    agg.span_count,
    agg.llm_calls,
    coalesce(tc.tool_call_count, 0) AS tool_call_count,
    coalesce(tc.tool_sequence, []::VARCHAR[]) AS tool_sequence,
    agg.models,
    agg.input_tokens,
    agg.output_tokens,
    agg.total_tokens,
    agg.cost_usd,
    agg.user_id,
    agg.session_id,
    agg.tags,
    agg.environment,
    agg.app_version,
    oc.outcome,
    oc.outcome_score,
    r.metadata,
    agg.source,
    agg.first_load_id,
    $load_id AS load_id,
    $schema_version AS schema_version
FROM agg
LEFT JOIN _txroots r ON r.trace_id = agg.trace_id AND r.span_id = (agg.root).root_span_id
LEFT JOIN tc ON tc.trace_id = agg.trace_id
LEFT JOIN oc ON oc.trace_id = agg.trace_id;

"""Real benchmark trajectories ingested into a real warehouse: exact counts, outcome rollup, idempotency.

Each committed batch costs a Great Expectations validation, so all 17 files (tau-bench, tau2-bench,
15 ToolBench answers) go in as one batch through the loader's ``commit_batch``; the file-level path
(``ingest_paths``) is exercised by the LangSmith and Langfuse warehouse tests.
"""

from __future__ import annotations

from pathlib import Path

from tracemill.ingest.formats import FormatOptions, get
from tracemill.ingest.loader import open_load
from tracemill.ingest.sources import expand


def _items(external: Path) -> list:
    fmt = get("messages")
    paths = [str(external / "tau-bench" / "MockRetailDomainEnv-few_shot.jsonl"),
             str(external / "tau2-bench" / "retail" / "tasks.json"), str(external / "toolbench" / "answer")]
    return [it for src in expand(paths) for it in fmt.parse(src, FormatOptions())]


def test_benchmark_files_into_warehouse(settings, external: Path) -> None:
    from tracemill.warehouse import connect

    with open_load(settings, source="benchmarks", format="messages") as load:
        load.commit_batch(_items(external))
    # spans 1491 + 1214 + 117, tool calls 479 + 550 + 50, outcomes only in ToolBench (15).
    assert (load.summary.spans_ingested, load.summary.tool_calls, load.summary.feedback) == (2822, 1079, 15)
    assert load.summary.quarantined == 0

    con = connect(settings)
    try:
        rows = con.execute(
            """SELECT split_part(trace_id, ':', 1) AS src, count(*), sum(span_count), sum(llm_calls), sum(tool_call_count),
                      count(*) FILTER (WHERE outcome = 'success'), count(*) FILTER (WHERE outcome = 'failure'),
                      count(*) FILTER (WHERE status = 'error')
               FROM traces GROUP BY ALL ORDER BY src"""
        ).fetchall()
        # tau-bench: 69 traces, 1491 spans, 943 llm, 479 calls; tau2: 114, 1214, 550, 550;
        # toolbench: 15 traces, 117 spans, 52 llm, 50 calls, 9 wins and 6 failures.
        # Trace status 'error' = failed outcome (6) or a tool error on the way: ToolBench results with a
        # non-empty "error" are in G1/57, G2/10, G2/119, G2/52 and G3/21, three of which won
        # (G1/57, G2/52, G3/21) -> 6 + 3 = 9.
        # tau-bench has no outcome; 33 tool lines read "Error: ..." (e.g. "Error: order not found"),
        # in 26 of the 69 trajectories -> 26 traces with status 'error'.
        assert rows[0] == ("tau-bench", 69, 1491, 943, 479, 0, 0, 26)
        assert rows[1] == ("tau2-bench", 114, 1214, 550, 550, 0, 0, 0)
        assert rows[2] == ("toolbench", 15, 117, 52, 50, 9, 6, 9)
        assert con.execute("SELECT count(*) FROM tool_calls").fetchone()[0] == 479 + 550 + 50
        seq = con.execute("SELECT tool_sequence FROM traces WHERE trace_id = 'tau2-bench:retail:0'").fetchone()[0]
        assert seq == ["find_user_id_by_name_zip", "get_order_details", "get_product_details",
                       "get_product_details", "exchange_delivered_order_items"]
    finally:
        con.close()

    # Re-ingesting the same trajectories adds nothing: every span id and call id is derived from the content.
    with open_load(settings, source="benchmarks-again", format="messages") as again:
        again.commit_batch(_items(external))
    assert (again.summary.spans_ingested, again.summary.tool_calls, again.summary.feedback) == (0, 0, 0)
    assert again.summary.duplicates == 2822
    con = connect(settings)
    try:
        assert con.execute("SELECT count(*) FROM spans").fetchone()[0] == 1491 + 1214 + 117
        assert con.execute("SELECT count(*) FROM feedback").fetchone()[0] == 15
    finally:
        con.close()

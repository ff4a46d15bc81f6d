"""LangSmith run exports (documented Run schema): mapping, detection, rejections, warehouse rollup.

Fixtures in tests/data/langsmith follow the run data format (id, trace_id, dotted_order,
parent_run_id, run_type, inputs/outputs, error, extra.metadata, tags, feedback_stats, token/cost fields).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tracemill.ingest.formats import FormatOptions, detect
from tracemill.ingest.records import Feedback, Rejected, Span, ToolCall
from tracemill.ingest.sources import expand

DATA = Path(__file__).parent / "data" / "langsmith"
T1 = "1f0e6a52-6c1b-4a7e-9d43-3b2f1c0a9e01"
T2 = "5d0a3f44-3e88-4c91-9d54-8f61ce0a4c05"
T3 = "8a3d6277-61bb-4fc4-8087-b294f13d7f08"


def parse(path: Path) -> list:
    (src,) = expand([str(path)])
    fmt = detect(src)
    assert fmt.name == "langsmith"
    return list(fmt.parse(src, FormatOptions()))


def test_runs_jsonl() -> None:
    # 7 runs: trace T1 = chain root + llm + tool + llm; trace T2 = chain root (error) + llm + tool (error).
    # feedback_stats: T1 root {user_score}; T2 root {correctness, thumbs} -> 3 feedback items.
    items = parse(DATA / "runs.jsonl")
    spans = {s.span_id: s for s in items if isinstance(s, Span)}
    assert len(spans) == 7 and {s.trace_id for s in spans.values()} == {T1, T2}
    assert Counter(s.kind for s in spans.values()) == {"chain": 2, "llm": 3, "tool": 2}
    root = spans[T1]
    assert root.parent_span_id is None and root.kind == "chain"
    assert (root.user_id, root.session_id, root.app_version, root.environment) == ("u-42", "thread-7", "v1.3.0", "production")
    assert root.input_tokens is None and root.attributes["langsmith.total_tokens"] == 271   # children's total, not counted twice
    assert root.start_ns == 1740823200_000_000_000 and root.end_ns == 1740823204_500_000_000
    assert root.attributes["langsmith.project_id"] == "9a0b1c2d-0000-4000-8000-00000000aaaa"
    llm1 = spans["2a7d0c11-0b55-4f6e-8a21-5c3e9b7d1f02"]
    assert (llm1.model, llm1.provider, llm1.input_tokens, llm1.output_tokens, llm1.total_tokens) == ("gpt-4o-mini", "openai", 110, 18, 128)
    assert llm1.cost_usd == 0.0000273 and llm1.parent_span_id == T1
    assert [m["role"] for m in llm1.input_messages] == ["system", "user"]   # LangChain lc-serialised messages
    assert llm1.output_messages[0]["tool_calls"][0]["function"]["name"] == "get_order"
    assert llm1.input_text == "Where is my order #W1001?" and llm1.output_text is None
    llm2 = spans["4c9f2e33-2d77-4b80-8c43-7e50bd9f3b04"]
    assert llm2.output_text == "Your order #W1001 shipped yesterday and arrives Friday."   # OpenAI choices shape
    calls = {c.tool_name: c for c in items if isinstance(c, ToolCall)}
    assert calls["get_order"].call_id == "call_Ab12" and calls["get_order"].status == "ok"
    assert '"status": "shipped"' in calls["get_order"].result
    assert calls["cancel_order"].status == "error" and calls["cancel_order"].error_message == "ToolException: order #W9999 not found"
    assert calls["cancel_order"].arguments == {"order_id": "#W9999"}
    fbs = sorted((f.trace_id == T1, f.key, f.score, f.label) for f in items if isinstance(f, Feedback))
    assert fbs == [(False, "correctness", 0.0, None), (False, "thumbs", None, "down"), (True, "user_score", 1.0, None)]
    assert spans[T2].status_code == "error" and spans[T2].status_message == "ToolException: order #W9999 not found"


def test_run_tree_with_child_runs() -> None:
    # One root with two nested child_runs (no trace_id on the children: taken from the parent / dotted_order).
    items = parse(DATA / "run_tree.json")
    assert [(s.kind, s.trace_id, s.parent_span_id) for s in items] == [
        ("chain", T3, None), ("retriever", T3, T3), ("llm", T3, T3)]
    llm = items[2]
    assert (llm.model, llm.provider, llm.input_tokens, llm.output_tokens) == ("claude-3-5-haiku-20241022", "anthropic", 25, 7)
    assert llm.input_messages[0]["role"] == "user" and llm.output_text == "30 days from delivery."
    assert items[0].input_text == "What is the refund window?" and items[0].output_text == "30 days from delivery."


def test_bad_runs_are_rejected_not_raised() -> None:
    items = parse(DATA / "bad_runs.jsonl")
    assert [s.span_id for s in items if isinstance(s, Span)] == ["r-ok"]
    assert {r.line_no: r.reason for r in items if isinstance(r, Rejected)} == {
        2: "missing_id", 3: "wrong_type", 4: "invalid_value", 5: "malformed_json", 6: "wrong_type"}


def test_runs_into_warehouse(settings) -> None:
    from tracemill.ingest.loader import ingest_paths
    from tracemill.warehouse import connect

    summary = ingest_paths([str(DATA / "runs.jsonl")], settings=settings)
    assert (summary.format, summary.spans_ingested, summary.tool_calls, summary.feedback) == ("langsmith", 7, 2, 3)
    con = connect(settings)
    try:
        t1 = con.execute(
            """SELECT span_count, llm_calls, tool_call_count, tool_sequence, models, input_tokens, output_tokens,
                      total_tokens, round(cost_usd, 7), user_id, session_id, tags, app_version, status, latency_ms
               FROM traces WHERE trace_id = ?""", [T1]).fetchone()
        # tokens/cost = the two llm runs: 110+120 in, 18+23 out, 128+143 total, $0.0000273 + $0.0000318.
        assert t1 == (4, 2, 1, ["get_order"], ["gpt-4o-mini"], 230, 41, 271, 0.0000591, "u-42", "thread-7",
                      ["prod", "support"], "v1.3.0", "ok", 4500.0)
        t2 = con.execute("SELECT status, error_message, tool_sequence FROM traces WHERE trace_id = ?", [T2]).fetchone()
        assert t2 == ("error", "ToolException: order #W9999 not found", ["cancel_order"])
    finally:
        con.close()

"""Langfuse exports in the public API's shapes: traces with observations, list pages, scores.

Fixtures in tests/data/langfuse follow GET /api/public/traces/{id} (TraceWithFullDetails),
GET /api/public/traces (page with meta; observations/scores as ids), /api/public/observations items
(id, traceId, type, startTime, usageDetails, costDetails, level, statusMessage, parentObservationId)
and scores (name, value, stringValue, dataType, source ANNOTATION|API|EVAL).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tracemill.ingest.formats import FormatOptions, Source, detect, get
from tracemill.ingest.records import Feedback, Rejected, Span, ToolCall
from tracemill.ingest.sources import expand

DATA = Path(__file__).parent / "data" / "langfuse"


def parse(path: Path) -> list:
    (src,) = expand([str(path)])
    fmt = detect(src)
    assert fmt.name == "langfuse"
    return list(fmt.parse(src, FormatOptions()))


def test_traces_with_full_details() -> None:
    # Trace A: root + AGENT, GENERATION, TOOL, GENERATION, EVENT = 6 spans; 2 scores.
    # Trace B: root + GENERATION, TOOL (level ERROR) = 3 spans; 1 score. -> 9 spans, 2 tool calls, 3 feedback.
    items = parse(DATA / "traces_full.json")
    spans = {s.span_id: s for s in items if isinstance(s, Span)}
    assert len(spans) == 9
    assert Counter(s.kind for s in spans.values()) == {"chain": 2, "agent": 1, "llm": 3, "tool": 2, "unknown": 1}
    root = spans["lf-trace-0001"]
    assert root.parent_span_id is None and root.trace_id == "lf-trace-0001" and root.name == "support-agent"
    assert (root.user_id, root.session_id, root.tags, root.environment, root.app_version) == (
        "u-42", "sess-1", ["support", "prod"], "production", "v1.3.0")
    assert root.input_text == "Where is my order #W1001?" and root.output_text == "It shipped; ETA Friday."
    assert root.cost_usd is None   # totalCost is the observations' sum; counted on them
    assert root.end_ns - root.start_ns == 3_500_000_000   # latency 3.5 s
    gen = spans["obs-g1"]
    assert (gen.kind, gen.model, gen.input_tokens, gen.output_tokens, gen.total_tokens, gen.cost_usd) == (
        "llm", "gpt-4o-mini", 110, 18, 128, 0.0000273)
    assert gen.parent_span_id == "obs-a1" and [m["role"] for m in gen.input_messages] == ["system", "user"]
    assert spans["obs-a1"].parent_span_id == "lf-trace-0001"   # top-level observation -> trace root
    assert spans["obs-e1"].start_ns == spans["obs-e1"].end_ns   # an EVENT is a point in time
    assert spans["obs-a1"].input_tokens is None                 # zero usage on a non-LLM observation = no usage
    tool_err = spans["obs-t2"]
    assert (tool_err.status_code, tool_err.status_message) == ("error", "order #W9999 not found")
    calls = {c.call_id: c for c in items if isinstance(c, ToolCall)}
    assert calls["call_1"].tool_name == "get_order" and calls["call_1"].arguments == {"order_id": "#W1001"}
    assert calls["obs-t2"].status == "error"
    fbs = {f.key: f for f in items if isinstance(f, Feedback)}
    assert (fbs["user-feedback"].source, fbs["user-feedback"].score, fbs["user-feedback"].label) == ("code", 1.0, "True")
    assert (fbs["helpfulness"].source, fbs["helpfulness"].span_id) == ("llm", "obs-g2")
    c = fbs["correctness"]
    assert (c.source, c.score, c.label, c.author, c.feedback_id) == ("human", 0.0, "incorrect", "reviewer-1", "lf_sc-3")


def test_split_export_and_session_score() -> None:
    page = parse(DATA / "traces_page.json")
    assert [(s.span_id, s.kind) for s in page] == [("lf-trace-0003", "chain")]
    obs = parse(DATA / "observations.jsonl")
    assert [(s.span_id, s.kind, s.parent_span_id) for s in obs] == [
        ("obs-c1", "retriever", "lf-trace-0003"), ("obs-c2", "llm", "obs-c1")]
    scores = parse(DATA / "scores.jsonl")
    assert isinstance(scores[0], Feedback) and (scores[0].key, scores[0].label) == ("outcome", "success")
    assert isinstance(scores[1], Rejected) and scores[1].reason == "missing_id" and scores[1].line_no == 2


def test_bad_records(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text(
        '{"id": "t1", "timestamp": "2025-01-01T00:00:00Z", "htmlPath": "/x", "tags": "oops"}\n'
        '{"id": "o1", "traceId": "t1", "type": "GENERATION", "startTime": "not a time"}\n'
        '{"id": "o2", "traceId": "t1", "type": "SPAN", "startTime": "2025-01-01T00:00:00Z", "usageDetails": [1]}\n'
        '{"traceId": "t1", "type": "SPAN", "startTime": "2025-01-01T00:00:00Z"}\n'
        '{"hello": "world"}\n'
        '{"id": "t2", "timestamp": "2025-01-01T00:00:00Z", "htmlPath": "/y"}\n'
    )
    items = parse(p)
    assert {r.line_no: r.reason for r in items if isinstance(r, Rejected)} == {
        1: "wrong_type", 2: "invalid_value", 3: "wrong_type", 4: "missing_id", 5: "wrong_type"}
    assert [s.span_id for s in items if isinstance(s, Span)] == ["t2"]


def test_detection_is_unambiguous(tmp_path: Path) -> None:
    otlp = Source(path="x.jsonl", opener=lambda: None,  # type: ignore[arg-type]
                  head=b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"ab","spanId":"cd","name":"x",'
                       b'"startTimeUnixNano":"1","attributes":[{"key":"langfuse.observation.type","value":{"stringValue":"GENERATION"}}]}]}]}]}')
    for name in ("langfuse", "langsmith", "messages"):
        assert not get(name).sniff(otlp)
    (chat,) = expand([str(Path(__file__).parent / "data" / "chat" / "default_fields.json")])
    assert not get("langfuse").sniff(chat) and not get("langsmith").sniff(chat)
    for f in ("traces_full.json", "traces_page.json", "observations.jsonl", "scores.jsonl"):
        (src,) = expand([str(DATA / f)])
        assert not get("messages").sniff(src) and not get("langsmith").sniff(src)


def test_export_into_warehouse(settings) -> None:
    from tracemill.ingest.loader import ingest_paths
    from tracemill.warehouse import connect

    # Files load in name order: observations.jsonl and scores.jsonl come before the traces that own
    # them, so obs-c1 is first an orphan and becomes a normal child when traces_page.json arrives.
    summary = ingest_paths([str(DATA)], settings=settings)
    assert (summary.spans_ingested, summary.tool_calls, summary.feedback, summary.quarantined) == (12, 2, 4, 1)
    con = connect(settings)
    try:
        rows = con.execute(
            """SELECT trace_id, span_count, llm_calls, tool_call_count, status, outcome, input_tokens, output_tokens,
                      round(cost_usd, 7), user_id
               FROM traces ORDER BY trace_id""").fetchall()
        assert rows == [
            ("lf-trace-0001", 6, 2, 1, "ok", None, 230, 41, 0.0000591, "u-42"),
            ("lf-trace-0002", 3, 1, 1, "error", None, 40, 12, 0.0000132, "u-7"),
            ("lf-trace-0003", 3, 1, 0, "ok", "success", 25, 7, None, "u-9"),
        ]
        assert con.execute("SELECT count(*) FROM spans WHERE is_orphan").fetchone()[0] == 0
        assert con.execute("SELECT reason FROM quarantine").fetchall() == [("missing_id",)]
    finally:
        con.close()

"""OTLP JSON / protobuf and plain span-list parsing, on hand-made fixtures and the real external files.

Counts are derived by hand from the files; the derivation is in the comment next to each assert.
"""

from __future__ import annotations

import base64
import collections
import json
from pathlib import Path

import orjson
import pytest
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracemill.errors import DataError
from tracemill.ingest.formats import FormatOptions, Source, detect
from tracemill.ingest.records import Feedback, Rejected, Span, ToolCall

DATA = Path(__file__).parent / "data"
SMALL = DATA / "otlp_small.jsonl"
GENAI_FIXTURES = ("openinference", "genai-fixtures")
VERCEL = ("openinference", "vercel-v6-spans")
SEMCONV = ("otel-semconv-genai",)


def _source(path: Path) -> Source:
    with path.open("rb") as fh:
        head = fh.read(64 * 1024)
    return Source(path=str(path), opener=lambda: path.open("rb"), head=head, size=path.stat().st_size)


def _parse(path: Path, **opts) -> tuple[str, list]:
    src = _source(path)
    fmt = detect(src)
    return fmt.name, list(fmt.parse(src, FormatOptions(**opts)))


def _split(items: list) -> tuple[list[Span], list[ToolCall], list[Feedback], list[Rejected]]:
    out: dict[type, list] = collections.defaultdict(list)
    for it in items:
        out[type(it)].append(it)
    return out[Span], out[ToolCall], out[Feedback], out[Rejected]


def _by_id(spans: list[Span]) -> dict[str, Span]:
    return {s.span_id: s for s in spans}


# -- the hand-made OTLP/JSON fixture ---------------------------------------------------------------------
# tests/data/otlp_small.jsonl, 6 lines:
#   1: trace a1..: A1 invoke_agent (root, feedback event), A2 chat (deprecated indexed gen_ai.prompt/completion,
#      requests tool call call_1 "search"), A3 execute_tool search (call_1, status error + exception event)
#   2: two resources: trace b2..: B1 OpenInference CHAIN root, B2 LLM (flattened llm.*_messages, requests
#      call_9 "lookup" and an id-less "calc"), B3 TOOL lookup (no call id); trace c3..: C1 chat with the
#      event-based messages (choice requests call_c "get_time")
#   3: truncated JSON                                        -> Rejected malformed_json
#   4: D1 valid; a span without traceId; a span whose attributes are a dict
#                                                            -> 1 span, Rejected missing_id + wrong_type
#   5: a latin-1 byte                                        -> Rejected invalid_utf8
#   6: startTimeUnixNano "abc"                               -> Rejected wrong_type
# Spans: 3 + 3 + 1 + 1 = 8 in 4 traces (a1, b2, c3, d4).
# Tool calls: A3 (call_1; A2's request for call_1 is the same call) = 1; B3 (lookup, matched by name to
# B2's call_9 request) + B2's unexecuted "calc" = 2; C1's unexecuted get_time = 1 -> 4.
# Feedback: A1's gen_ai.evaluation.result = 1. Rejected: 5.


def test_small_fixture_counts():
    name, items = _parse(SMALL)
    assert name == "otlp-json"
    spans, calls, fbs, rejected = _split(items)
    assert len(spans) == 8
    assert len({s.trace_id for s in spans}) == 4
    assert len(calls) == 4
    assert len(fbs) == 1
    assert sorted((r.reason, r.line_no) for r in rejected) == [
        ("invalid_utf8", 5), ("malformed_json", 3), ("missing_id", 4), ("wrong_type", 4), ("wrong_type", 6)]


def test_small_fixture_mapped_fields():
    _, items = _parse(SMALL)
    spans, calls, fbs, _ = _split(items)
    s = _by_id(spans)
    a1, a2, a3 = s["a100000000000001"], s["a100000000000002"], s["a100000000000003"]
    assert (a1.kind, a1.parent_span_id, a1.user_id, a1.session_id, a1.tags) == ("agent", None, "u-42", "sess-7", ["beta", "eu"])
    assert (a1.service_name, a1.app_version, a1.environment) == ("shop-agent", "2.1.0", "staging")
    assert (a1.input_text, a1.output_text) == ("Find me a red kettle", "Sorry, the search failed.")
    assert (a1.start_ns, a1.end_ns, a1.status_code) == (1767225600000000000, 1767225603000000000, "unset")
    assert a1.attributes["otel.scope.name"] == "hand-made" and a1.attributes["service.name"] == "shop-agent"
    assert a1.raw["spanId"] == "a100000000000001"
    assert (a2.kind, a2.model, a2.provider, a2.input_tokens, a2.output_tokens, a2.status_code) == (
        "llm", "gpt-4o-mini", "openai", 100, 20, "ok")
    assert [m["role"] for m in a2.input_messages] == ["system", "user"]
    assert a2.output_messages[0]["tool_calls"] == [{"id": "call_1", "name": "search", "arguments": {"q": "red kettle"}}]
    assert (a3.kind, a3.tool_name, a3.tool_call_id, a3.status_code) == ("tool", "search", "call_1", "error")
    assert a3.status_message == "TimeoutError: search backend timed out"   # from the exception event

    b1, b2, b3 = s["b200000000000001"], s["b200000000000002"], s["b200000000000003"]
    assert (b1.kind, b1.input_text, b1.output_text, b1.user_id, b1.tags, b1.status_code) == (
        "chain", "Where is order 77?", "Order 77 ships tomorrow.", "u-9", ["vip"], "ok")
    # OpenInference is native on B2: llm.model_name and llm.token_count.* beat gen_ai.* on the same span.
    assert (b2.model, b2.input_tokens, b2.output_tokens, b2.total_tokens) == ("gpt-4o", 50, 10, 60)
    assert b2.input_messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is order 77?"}]
    assert (b3.tool_name, b3.tool_arguments, b3.tool_result) == ("lookup", {"order": 77}, "ships tomorrow")
    assert (b1.service_name, b1.environment) == ("oi-app", None)

    c1 = s["c300000000000001"]
    assert (c1.model, c1.provider, c1.session_id, c1.environment) == (
        "claude-3-5-haiku-20241022", "anthropic", "conv-1", "dev")
    assert c1.input_messages == [{"role": "system", "content": "You tell the time."}, {"role": "user", "content": "What time is it?"}]
    assert c1.output_messages[0]["tool_calls"] == [{"id": "call_c", "name": "get_time", "arguments": {}}]

    assert sorted((c.trace_id[:2], c.call_id, c.tool_name, c.status) for c in calls) == [
        ("a1", "call_1", "search", "error"),
        ("b2", "b200000000000002:0:1", "calc", "unset"),
        ("b2", "b200000000000003", "lookup", "unset"),
        ("c3", "call_c", "get_time", "unset"),
    ]
    fb = fbs[0]
    assert (fb.trace_id[:2], fb.span_id, fb.key, fb.score, fb.label, fb.source) == (
        "a1", "a100000000000001", "user_feedback", 0.0, "thumbs_down", "user")


def test_pretty_printed_single_request(tmp_path):
    req = orjson.loads(SMALL.read_bytes().splitlines()[0])
    p = tmp_path / "one.json"
    p.write_text(json.dumps(req, indent=2))
    name, items = _parse(p)
    spans, calls, fbs, rejected = _split(items)
    assert (name, len(spans), len(calls), len(fbs), rejected) == ("otlp-json", 3, 1, 1, [])


def test_oversized_line_is_rejected_and_the_rest_loads(tmp_path):
    lines = SMALL.read_bytes().splitlines()
    p = tmp_path / "big.jsonl"
    p.write_bytes(lines[1] + b"\n" + lines[0] + b"\n")
    limit = len(lines[0]) + 10          # line 1 (the longer one) is over, line 2 fits
    assert len(lines[1]) > limit
    _, items = _parse(p, max_record_bytes=limit)
    spans, _, _, rejected = _split(items)
    assert [(r.reason, r.line_no) for r in rejected] == [("oversized", 1)]
    assert len(spans) == 3


def test_line_reader_reads_what_readline_reads(tmp_path, monkeypatch):
    """The block line reader returns exactly what BufferedReader.readline(limit) returns: lines longer
    than the limit, lines across blocks, a last line without a newline, blank and \\r\\n lines."""
    import random

    from tracemill.ingest.formats.otlp_json import _LineReader

    monkeypatch.setattr(_LineReader, "_BLOCK", 64)   # lines and limits cross many blocks
    rng = random.Random(5)
    for case in range(40):
        lines = [bytes(rng.choice(b"ab{}\r ") for _ in range(rng.choice((0, 1, 5, 63, 64, 65, 200))))
                 for _ in range(rng.randint(0, 12))]
        data = b"\n".join(lines) + rng.choice((b"", b"\n", b"\r\n"))
        p = tmp_path / f"c{case}"
        p.write_bytes(data)
        with p.open("rb") as a, p.open("rb") as b:
            reader = _LineReader(b)
            while True:
                limit = rng.choice((1, 2, 63, 64, 65, 130, 10_000))
                want, got = a.readline(limit), reader.readline(limit)
                assert got == want, (case, limit)
                if not want:
                    break


def test_wrong_shapes_never_raise(tmp_path):
    p = tmp_path / "shapes.jsonl"
    recs = [
        {"resourceSpans": "nope"},
        {"resourceSpans": [{"resource": {"attributes": 5}, "scopeSpans": []}]},
        {"resourceSpans": [{"scopeSpans": [{"spans": [5, {"traceId": "zz", "spanId": "0102030405060708"}]}]}]},
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "0" * 32, "spanId": "0102030405060708"}]}]}]},
        [1, 2],
    ]
    p.write_bytes(b"\n".join(orjson.dumps(r) for r in recs) + b"\n\n")
    src = _source(p)
    from tracemill.ingest.formats import otlp_json

    items = list(otlp_json.parse(src, FormatOptions()))
    assert all(isinstance(i, Rejected) for i in items)
    assert [(r.reason, r.line_no) for r in items] == [
        ("wrong_type", 1), ("wrong_type", 2), ("wrong_type", 3), ("invalid_value", 3), ("missing_id", 4), ("wrong_type", 5)]


# -- protobuf ----------------------------------------------------------------------------------------


def _hex_ids_to_base64(req: dict) -> dict:
    """OTLP/JSON writes ids as hex; the protobuf JSON mapping ParseDict expects base64 for bytes."""
    for rs in req["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for sp in ss["spans"]:
                for k in ("traceId", "spanId", "parentSpanId"):
                    if sp.get(k):
                        sp[k] = base64.b64encode(bytes.fromhex(sp[k])).decode()
    return req


def _proto_messages() -> list[bytes]:
    lines = SMALL.read_bytes().splitlines()
    out = []
    for i in (0, 1):   # the two fully valid requests
        msg = ParseDict(_hex_ids_to_base64(orjson.loads(lines[i])), ExportTraceServiceRequest())
        out.append(msg.SerializeToString())
    return out


_COMPARED = ("trace_id", "span_id", "parent_span_id", "name", "kind", "start_ns", "end_ns", "status_code",
             "status_message", "model", "provider", "input_tokens", "output_tokens", "total_tokens", "input_text",
             "output_text", "input_messages", "output_messages", "tool_name", "tool_call_id", "tool_arguments",
             "tool_result", "user_id", "session_id", "tags", "environment", "app_version", "service_name", "attributes")


def _json_reference() -> tuple[list[Span], list[ToolCall]]:
    """The OTLP/JSON parse of the same two requests."""
    lines = SMALL.read_bytes().splitlines()
    from tracemill.ingest.formats import otlp_json
    from tracemill.ingest.semconv import ToolCallTracker

    tracker = ToolCallTracker()
    items = []
    for i in (0, 1):
        items += otlp_json.request_items(orjson.loads(lines[i]), fmt="x", line_no=i + 1, tracker=tracker)
    items += list(tracker.finish())
    spans, calls, _, _ = _split(items)
    return spans, calls


@pytest.mark.parametrize("layout", ["length_prefixed", "bare"])
def test_protobuf_maps_like_json(tmp_path, layout):
    msgs = _proto_messages()
    if layout == "length_prefixed":
        p = tmp_path / "traces.bin"   # no telling extension: sniffed from the 4-byte length prefix
        p.write_bytes(b"".join(len(m).to_bytes(4, "big") + m for m in msgs))
    else:
        p = tmp_path / "traces.pb"
        p.write_bytes(msgs[1])
    name, items = _parse(p)
    assert name == "otlp-proto"
    spans, calls, _, rejected = _split(items)
    assert rejected == []
    ref_spans, ref_calls = _json_reference()
    if layout == "bare":
        ref_spans = [s for s in ref_spans if not s.trace_id.startswith("a1")]
        ref_calls = [c for c in ref_calls if not c.trace_id.startswith("a1")]
    assert len(spans) == len(ref_spans) == (7 if layout == "length_prefixed" else 4)   # lines 1+2, or line 2 only
    got = {s.span_id: {f: getattr(s, f) for f in _COMPARED} for s in spans}
    want = {s.span_id: {f: getattr(s, f) for f in _COMPARED} for s in ref_spans}
    assert got == want
    assert sorted((c.trace_id, c.call_id, c.tool_name) for c in calls) == sorted(
        (c.trace_id, c.call_id, c.tool_name) for c in ref_calls)


def test_protobuf_bad_messages(tmp_path):
    good = _proto_messages()[0]
    p = tmp_path / "bad.pb"
    junk = b"\x0a\xff\xff\xff\xff\x0f\x01"   # field 1 with an impossible length
    p.write_bytes(len(good).to_bytes(4, "big") + good + len(junk).to_bytes(4, "big") + junk + b"\x00\x00\x10")
    name, items = _parse(p, max_record_bytes=len(good) + 100)
    spans, _, _, rejected = _split(items)
    assert name == "otlp-proto" and len(spans) == 3
    assert [(r.reason, r.line_no) for r in rejected] == [("malformed_proto", 2), ("malformed_proto", 3)]
    # A message over the size limit is skipped and the next one still loads.
    p.write_bytes(len(good).to_bytes(4, "big") + good + len(good).to_bytes(4, "big") + good)
    _, items = _parse(p, max_record_bytes=len(good) - 1)
    assert [(r.reason, r.line_no) for r in items] == [("oversized", 1), ("oversized", 2)]


# -- the external files --------------------------------------------------------------------------------


def _ext(external: Path, parts: tuple[str, ...]) -> Path:
    return external.joinpath(*parts)


def test_genai_fixtures(external):
    # 5 files, each one flat attribute dict = 1 span in its own trace (ids from the content hash).
    # Tool calls: only otel_genai_tool_execution_span (execute_tool get_weather, call 1234) = 1; the other
    # four show call 1234 only in their input history, and their outputs are plain text.
    folder = _ext(external, GENAI_FIXTURES)
    results = {}
    for f in sorted(folder.glob("*.json")):
        name, items = _parse(f)
        assert name == "span-list"
        spans, calls, fbs, rejected = _split(items)
        assert (len(spans), len(fbs), rejected) == (1, 0, [])
        results[f.stem] = (spans[0], calls)
    assert len(results) == 5
    assert sum(len(c) for _, c in results.values()) == 1
    assert len({s.trace_id for s, _ in results.values()}) == 5

    oi = results["openinference_client_span_tool_calls"][0]
    assert (oi.kind, oi.model, oi.provider, oi.input_tokens, oi.output_tokens, oi.total_tokens) == (
        "llm", "gpt-4-0613", "openai", 97, 52, 149)
    assert [m["role"] for m in oi.input_messages] == ["user", "assistant", "tool"]
    assert oi.input_messages[1]["tool_calls"] == [{"id": "1234", "name": "get_weather", "arguments": {"location": "Paris"}}]
    assert oi.input_messages[2] == {"role": "tool", "content": "rainy, 57°F", "tool_call_id": "1234"}
    assert oi.output_text == "The weather in Paris is currently rainy with a temperature of 57°F."

    io_only = results["openinference_client_span_input_output_only"][0]   # messages only inside input.value JSON
    assert [m["role"] for m in io_only.input_messages] == ["user", "assistant", "tool"]
    assert io_only.input_text == "Weather in Paris?"

    for stem in ("otel_genai_client_span_tool_calls", "otel_genai_deprecated_client_span_tool_calls"):
        g = results[stem][0]
        assert (g.kind, g.model, g.provider, g.input_tokens, g.output_tokens) == ("llm", "gpt-4-0613", "openai", 97, 52)
        assert [m["role"] for m in g.input_messages] == ["user", "assistant", "tool"]
        assert [m["role"] for m in g.output_messages] == ["assistant"]
        assert g.output_text.startswith("The weather in Paris is currently rainy")

    tool, calls = results["otel_genai_tool_execution_span"]
    assert (tool.kind, tool.tool_name, tool.tool_call_id, tool.tool_arguments) == ("tool", "get_weather", "1234", {"city": "New York"})
    assert [(c.call_id, c.tool_name) for c in calls] == [("1234", "get_weather")]


def test_vercel_spans(external):
    folder = _ext(external, VERCEL)
    counts = {}
    every = {}
    for f in sorted(folder.glob("*.json")):
        if f.name == "capture-results.json":
            # A capture summary, not spans: the format cannot be told, and the error says so.
            with pytest.raises(DataError, match="cannot tell the format"):
                _parse(f)
            continue
        name, items = _parse(f)
        spans, calls, fbs, rejected = _split(items)
        assert (name, calls, fbs, rejected) == ("span-list", [], [], [])
        counts[f.name] = len(spans)
        every.update({(s.trace_id, s.span_id): s for s in spans})
    # One span per single-operation file, two in the generateText ones (plain prompt + messages),
    # and all ten in all-spans.json and spans-by-operation.json (grouped by operation name).
    assert counts == {
        "ai-embed-doEmbed.json": 1, "ai-embed.json": 1, "ai-generateObject-doGenerate.json": 1,
        "ai-generateObject.json": 1, "ai-generateText-doGenerate.json": 2, "ai-generateText.json": 2,
        "ai-streamText-doStream.json": 1, "ai-streamText.json": 1, "all-spans.json": 10, "spans-by-operation.json": 10,
    }
    # The same 10 spans throughout, each with its own traceId (the SDK captured each call alone).
    assert len(every) == 10 and len({t for t, _ in every}) == 10
    kinds = collections.Counter(s.kind for s in every.values())
    assert kinds == {"chain": 5, "llm": 4, "embedding": 1}
    do_gen = every[("b3e700af9eab81e19f72f964d62a35af", "39d6e9b3ddec9996")]
    assert (do_gen.model, do_gen.provider, do_gen.input_tokens, do_gen.output_tokens) == (
        "gpt-4o-mini-2024-07-18", "openai.responses", 14, 20)
    assert do_gen.input_text == "Write a haiku about programming."
    assert do_gen.output_text.startswith("Lines of code align")
    assert (do_gen.start_ns, do_gen.end_ns) == (1770131992242000000, 1770131994021415667)
    wrapper = every[("700d5f98fe2420adcf6ab0822f7a323c", "648be1dfd8e521b6")]
    assert (wrapper.kind, wrapper.input_tokens) == ("chain", None)   # usage repeated from its child: not counted
    multi = every[("edff2fc5854be6170e8cccccec0c82cf", "6c0201026326855d")]
    assert [m["role"] for m in multi.input_messages] == ["system", "user", "assistant", "user"]
    assert multi.input_text == "And what is 3 + 3?"


def test_semconv_examples_document(external):
    # 14 records: 13 spans + 1 event (the "event attributes" example's log event, attached to its span).
    # Traces = (section, example) groups: simple chat x3, tool calls x2 (3 spans each: chat, execute_tool,
    # chat), system instructions, reasoning, built-in tools, multiple choices = 9.
    # Tool calls: the 2 execute_tool spans + the built-in code_interpreter server_tool_call = 3 (the
    # get_weather request in "content enabled" span 1 is the call its execute_tool span ran: same id).
    name, items = _parse(external / "otel-semconv-genai" / "examples-llm-calls.json")
    spans, calls, fbs, rejected = _split(items)
    assert (name, len(spans), len({s.trace_id for s in spans}), len(calls), fbs, rejected) == ("span-list", 13, 9, 3, [], [])
    assert sorted(c.tool_name for c in calls) == ["code_interpreter", "get_weather", "get_weather"]
    assert collections.Counter(s.kind for s in spans) == {"llm": 11, "tool": 2}
    assert sum(s.input_tokens for s in spans if s.input_tokens) == 52 * 4 + 47 * 2 + 97 * 2 + 28 + 385 + 52
    with_event = [s for s in spans if s.attributes.get("gen_ai.input.messages") is None and s.input_messages]
    assert len(with_event) == 1 and with_event[0].output_text.startswith(" Why did the developer")
    sys_instr = next(s for s in spans if "gen_ai.system_instructions" in s.attributes)
    assert sys_instr.input_messages[0] == {"role": "system", "content": "You must never tell jokes"}
    reasoning = next(s for s in spans if s.output_messages and s.output_messages[0].get("reasoning"))
    assert reasoning.output_text.startswith(" Why did the developer")


@pytest.mark.parametrize("name", ["gen-ai-input-messages.json", "gen-ai-output-messages.json", "gen-ai-system-instructions.json",
                                  "gen-ai-tool-definitions.json", "gen-ai-retrieval-documents.json"])
def test_semconv_schemas_are_not_traces(external, name):
    # JSON Schemas for attribute values (tested with the message normalisers in test_semconv.py).
    with pytest.raises(DataError, match="cannot tell the format"):
        _parse(external / "otel-semconv-genai" / name)


# -- into a real warehouse -----------------------------------------------------------------------------


def _table_counts(con) -> tuple[int, int, int, int]:
    return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("spans", "traces", "tool_calls", "feedback"))


def test_ingest_into_warehouse(settings, external):
    from tracemill.ingest.loader import ingest_paths
    from tracemill.warehouse import connect

    # (Each file is its own transaction in the loader, so this test takes the few files that matter.)
    files = [
        str(_ext(external, GENAI_FIXTURES)),                 # a folder: its 5 files
        str(_ext(external, VERCEL) / "all-spans.json"),
        str(_ext(external, VERCEL) / "ai-generateText.json"),
        str(external / "otel-semconv-genai" / "examples-llm-calls.json"),
        str(SMALL),
    ]
    summary = ingest_paths(files, settings=settings)
    # Spans: 5 (genai fixtures) + 10 (all-spans; ai-generateText.json's 2 spans are among them: 2
    # duplicates) + 13 (examples) + 8 (small) = 36. Traces: 5 + 10 + 9 + 4 = 28.
    # Tool calls: 1 + 0 + 3 + 4 = 8. Feedback: 1. Quarantined: 5 (small).
    assert (summary.spans_ingested, summary.duplicates, summary.quarantined) == (36, 2, 5)
    con = connect(settings)
    try:
        assert _table_counts(con) == (36, 28, 8, 1)
        row = con.execute(
            """SELECT span_count, llm_calls, tool_call_count, tool_sequence, user_id, session_id, tags,
                      environment, app_version, status, input, output
               FROM traces WHERE trace_id = 'a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1'""").fetchone()
        assert row == (3, 1, 1, ["search"], "u-42", "sess-7", ["beta", "eu"], "staging", "2.1.0", "error",
                       "Find me a red kettle", "Sorry, the search failed.")
        reasons = con.execute("SELECT reason, count(*) FROM quarantine GROUP BY ALL ORDER BY 1").fetchall()
        assert reasons == [("invalid_utf8", 1), ("malformed_json", 1), ("missing_id", 1), ("wrong_type", 2)]
        msgs = con.execute(
            "SELECT input_messages FROM spans WHERE span_id = 'b200000000000002'").fetchone()[0]
        assert json.loads(msgs)[1] == {"role": "user", "content": "Where is order 77?"}
    finally:
        con.close()
    # Re-ingesting the same files adds nothing.
    again = ingest_paths(files, settings=settings)
    assert (again.spans_ingested, again.files_skipped) == (0, 9)


def test_forced_format_on_the_wrong_file_is_a_clear_error(tmp_path, external):
    from tracemill.ingest.formats import get

    other = tmp_path / "chat.jsonl"
    other.write_text('{"task_id": 1, "traj": []}\n{"task_id": 2, "traj": []}\n')
    with pytest.raises(DataError, match="not OTLP/JSON"):
        list(get("otlp-json").parse(_source(other), FormatOptions()))
    with pytest.raises(DataError, match="not OTLP protobuf"):
        list(get("otlp-proto").parse(_source(other), FormatOptions()))
    with pytest.raises(DataError, match="not a span list"):
        list(get("span-list").parse(_source(_ext(external, VERCEL) / "capture-results.json"), FormatOptions()))


def test_time_outside_int64_is_rejected(tmp_path):
    p = tmp_path / "t.jsonl"
    sp = {"traceId": "ab" * 16, "spanId": "cd" * 8, "startTimeUnixNano": str(2**64), "attributes": []}
    p.write_bytes(orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [sp]}]}]}) + b"\n")
    _, items = _parse(p)
    assert [(r.reason, r.line_no) for r in items] == [("wrong_type", 1)]


def test_empty_collector_file_loads_as_nothing(tmp_path):
    p = tmp_path / "traces-empty.jsonl"
    p.write_bytes(b"")
    assert _parse(p) == ("otlp-json", [])

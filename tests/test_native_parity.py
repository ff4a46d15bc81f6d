"""The native (C) OTLP fast path gives exactly the rows the Python mapper gives.

Python is the reference: every span is parsed both ways (``FormatOptions(native=...)``) and each
item is compared field by field, the Python spans frozen as the loader freezes them. Inputs: the
demo's synthetic day, the hand-made OTLP fixture, the real message examples of the OTel GenAI
semantic conventions (``../shared/data/external/otel-semconv-genai``) and the real OpenInference
/ GenAI fixture spans wrapped as OTLP requests, and seeded random mutations of all of these (odd
types, ids, unicode, events, resource keys...), which must either map the same or be declined.
"""

from __future__ import annotations

import copy
import json
import random
import shutil
import sysconfig
from dataclasses import fields
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from tracemill.demo.generator import generate_day
from tracemill.ingest import native
from tracemill.ingest.formats import FormatOptions, Source, get
from tracemill.ingest.loader import _freeze
from tracemill.ingest.records import FrozenSpan, Rejected, Span, ToolCall, json_text

DATA = Path(__file__).parent / "data"


def _source(path: Path) -> Source:
    with path.open("rb") as fh:
        head = fh.read(64 * 1024)
    return Source(path=str(path), opener=lambda: path.open("rb"), head=head, size=path.stat().st_size)


def _row(item: Any) -> tuple:
    if type(item) is tuple:   # a span the loader quarantines (see _items)
        return item
    name = "Span" if isinstance(item, Span) else type(item).__name__
    vals = []
    for f in fields(item):
        v = getattr(item, f.name)
        if isinstance(item, ToolCall) and f.name == "arguments":
            v = json_text(v)   # a frozen tool span hands its arguments on as JSON text: same stored value
        elif isinstance(item, Span) and type(v) is bytes:
            v = v.decode()     # a frozen span's JSON text as UTF-8 bytes: the same text
        vals.append(v)
    return (name, *vals)


def _items(path: Path, monkeypatch: pytest.MonkeyPatch, on: bool) -> list[Any]:
    out = list(get("otlp-json").parse(_source(path), FormatOptions(native=on)))
    for i, it in enumerate(out):
        if isinstance(it, Span) and type(it) is not FrozenSpan:
            try:
                _freeze(it)
            except TypeError:   # nested deeper than orjson writes: the loader quarantines it
                out[i] = ("unwritable", it.trace_id, it.span_id)
    return out


def _compare(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """(spans, spans the native path mapped); fails on the first item that differs."""
    ref = _items(path, monkeypatch, False)
    got = _items(path, monkeypatch, True)
    assert not any(type(x) is FrozenSpan for x in ref)
    assert len(ref) == len(got), f"{path.name}: {len(ref)} items by Python, {len(got)} natively"
    for i, (a, b) in enumerate(zip(ref, got)):
        ra, rb = _row(a), _row(b)
        if ra != rb and (type(a) is tuple or type(b) is tuple):
            pytest.fail(f"{path.name} item {i} differs natively: {str(ra)[:500]} / {str(rb)[:500]}")
        if ra != rb:
            diff = {f.name: (x, y) for f, x, y in zip(fields(a), ra[1:], rb[1:]) if x != y}
            pytest.fail(f"{path.name} item {i} ({ra[0]}) differs natively: {str(diff)[:2000]}")
    return sum(isinstance(x, Span) for x in got), sum(type(x) is FrozenSpan for x in got)


needs_native = pytest.mark.skipif(not native.available(), reason="the C fast path is not compiled here")


def test_extension_is_built_where_a_compiler_is() -> None:
    """The install builds the extension when the machine has a C compiler (this one does)."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        pytest.skip(f"no C compiler ({cc}) here: the pure-Python mapper runs alone")
    assert native.available(), "a C compiler is here but tracemill.ingest._otlp_native is not built: run `make install`"


@needs_native
def test_demo_day_maps_the_same_and_mostly_natively(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gt = generate_day(tmp_path, day=date(2026, 1, 5), n_traces=300, traces_per_file=300)
    n, fast = _compare(gt.files[0], monkeypatch)
    assert n == gt.n_spans
    # The demo agent writes GenAI-convention spans; only spans with events (errors, user feedback)
    # need the Python path.
    assert fast / n > 0.9, f"only {fast} of {n} demo spans took the native path"


@needs_native
def test_hand_made_fixture_maps_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    n, _ = _compare(DATA / "otlp_small.jsonl", monkeypatch)
    assert n > 0


def _kv(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return {"key": key, "value": {"arrayValue": {"values": [_kv("", v)["value"] for v in value]}}}
    return {"key": key, "value": {"stringValue": value if isinstance(value, str) else json.dumps(value)}}


def _span(i: int, attrs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    sp = {"traceId": f"{i + 1:032x}", "spanId": f"{i + 1:016x}", "name": f"span {i}", "kind": 3,
          "startTimeUnixNano": str(1_767_600_000_000_000_000 + i), "endTimeUnixNano": str(1_767_600_000_500_000_000 + i),
          "attributes": [_kv(k, v) for k, v in attrs.items()], "status": {"code": 1}}
    sp.update(extra)
    return sp


def _write(path: Path, spans: list[dict[str, Any]], resource: list[dict[str, Any]] | None = None) -> Path:
    with path.open("wb") as fh:
        for lo in range(0, len(spans), 10):
            req = {"resourceSpans": [{"resource": {"attributes": resource or [_kv("service.name", "svc")]},
                                      "scopeSpans": [{"scope": {"name": "t"}, "spans": spans[lo: lo + 10]}]}]}
            fh.write(json.dumps(req).encode() + b"\n")   # json: big ints too
    return path


def _semconv_examples(external: Path) -> list[Any]:
    """The message examples of the GenAI semantic conventions (each a JSON message list or object)."""
    out: list[Any] = []
    for name in ("gen-ai-input-messages.json", "gen-ai-output-messages.json", "gen-ai-system-instructions.json"):
        doc = json.loads((external / "otel-semconv-genai" / name).read_text())
        found = _message_lists(doc)
        out.extend(found or [doc])
    return out


def _message_lists(x: Any) -> list[Any]:
    """Every list of message-like dicts inside a JSON document (the examples nest them in schemas)."""
    found = [x] if isinstance(x, list) and x and all(isinstance(m, dict) and ("role" in m or "parts" in m) for m in x) else []
    for v in x.values() if isinstance(x, dict) else x if isinstance(x, list) else ():
        found.extend(_message_lists(v))
    return found


@needs_native
def test_semconv_examples_map_the_same(external: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The GenAI conventions' own example spans (message-valued attributes as JSON strings, as on the
    wire) and their message-schema examples as input and output messages."""
    doc = json.loads((external / "otel-semconv-genai" / "examples-llm-calls.json").read_text())
    spans = [_span(i, rec["attributes"]) for i, rec in enumerate(doc["records"]) if rec.get("record_type") == "span"]
    n_examples = len(spans)
    for i, msgs in enumerate(_semconv_examples(external)):
        for key in ("gen_ai.input.messages", "gen_ai.output.messages"):
            spans.append(_span(len(spans), {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
                                            key: json.dumps(msgs), "gen_ai.usage.input_tokens": 3 + i}))
    assert n_examples >= 5 and len(spans) >= n_examples + 4
    n, fast = _compare(_write(tmp_path / "semconv.jsonl", spans), monkeypatch)
    assert n == len(spans) and fast >= n_examples // 2


@needs_native
def test_real_fixture_spans_as_otlp_map_the_same(external: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The OpenInference / GenAI fixture spans' attributes, written as OTLP: mostly declined, never different."""
    spans = []
    for path in sorted((external / "openinference" / "genai-fixtures").glob("*.json")):
        attrs = json.loads(path.read_text())   # each fixture is one span's flat attributes
        assert isinstance(attrs, dict)
        spans.append(_span(len(spans), attrs))
        # The same span without the keys only Python maps (input/output), so the GenAI ones go native.
        spans.append(_span(len(spans), {k: v for k, v in attrs.items() if not native._declined(k)}))
    n, fast = _compare(_write(tmp_path / "fixtures.jsonl", spans), monkeypatch)
    assert n == len(spans) == 10 and fast >= 3


_ODD_VALUES: list[Any] = [None, "", " ", 0, -1, 2**63, 1.5, "Infinity", True, "NaN", "12", " [1]", "[", "{}",
                          "[]", '[{"role": "user"}]', "ünïcødé ✓", "\u2028", [1, "a"], {"a": 1}, "0" * 32]


def _mutate(rng: random.Random, sp: dict[str, Any]) -> dict[str, Any]:
    sp = copy.deepcopy(sp)
    what = rng.randrange(12)
    attrs = sp.get("attributes") or []
    if what == 0 and attrs:                       # an attribute value of another type
        kv = rng.choice(attrs)
        kv["value"] = rng.choice([{"stringValue": str(rng.choice(_ODD_VALUES))}, {"intValue": rng.choice(["7", "x", 7, 2**70])},
                                  {"doubleValue": rng.choice([1.25, "2", None, "Infinity", "nan"])}, {"boolValue": rng.choice([True, 1])},
                                  {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "2"}]}},
                                  {"kvlistValue": {"values": [{"key": "k", "value": {"stringValue": "v"}}]}}, {}])
    elif what == 1:                               # ids: uppercase, zero, base64, missing
        key = rng.choice(["traceId", "spanId", "parentSpanId"])
        v = sp.get(key) or "ab" * 8
        sp[key] = rng.choice([v.upper(), "0" * len(v), None, "", "xyz", 5])
    elif what == 2:                               # times
        sp[rng.choice(["startTimeUnixNano", "endTimeUnixNano"])] = rng.choice(["", "-5", "1e9", 12, 1.0, None, "9" * 30])
    elif what == 3:                               # status
        sp["status"] = rng.choice([{}, {"code": 2, "message": "boom"}, {"code": "STATUS_CODE_ERROR"}, {"code": [1]},
                                   "error", None, {"status_code": 2, "description": "d"}])
    elif what == 4:                               # events: exceptions and evaluations natively, others in Python
        sp["events"] = rng.choice([
            [{"name": "exception", "attributes": [_kv("exception.message", "x")]}],
            [{"name": "exception", "timeUnixNano": "5", "attributes": [_kv("exception.type", "E"), _kv("exception.message", 7)]},
             {"name": "exception", "attributes": [_kv("exception.message", "second")]}],
            [{"name": "exception", "attributes": [_kv("exception.type", ""), _kv("exception.message", [1, "a"])]}],
            [{"name": "gen_ai.evaluation.result", "timeUnixNano": "1767600000900000000", "attributes": [
                _kv("gen_ai.evaluation.name", rng.choice(["user_feedback", "relevance"])), _kv("gen_ai.evaluation.score.value", 0.5),
                _kv("gen_ai.evaluation.score.label", rng.choice(["thumbs_up", "good", 3])), _kv("gen_ai.evaluation.explanation", "why")]}],
            [{"name": "gen_ai.evaluation.result", "attributes": [_kv("gen_ai.evaluation.score.value", "bad")]}],
            [{"name": "gen_ai.evaluation.result"}], [{"name": "gen_ai.evaluation.result", "timeUnixNano": "x"}],
            [{"name": "gen_ai.user.message", "attributes": [_kv("content", "hi")]}], [{"name": 5}], ["x"], {"a": 1}])
    elif what == 5:                               # a key only the Python path maps
        attrs.append(_kv(rng.choice(["openinference.span.kind", "llm.model_name", "input.value", "ai.operationId",
                                     "gen_ai.prompt.0.content", "gen_ai.evaluation.name", "tool.name", "input"]), "LLM"))
    elif what == 6:                               # messages in other shapes
        attrs.append(_kv(rng.choice(["gen_ai.input.messages", "gen_ai.output.messages"]), rng.choice([
            '[{"role":"user","parts":[{"type":"text","content":"hi"},{"type":"text","content":"there"}]}]',
            '[{"role":"human","parts":[{"type":"text","content":"x"}]}]',
            '[{"role":"assistant","content":"openai","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]}]',
            '{"messages":[{"role":"user","content":"wrapped"}]}', "plain text", '  \n [{"role":"user","parts":[{"type":"text","content":"ws"}]}]',
            '[{"role":"tool","parts":[{"type":"tool_call_response","id":7,"response":{"ok":true}}]}]',
            '[{"role":"assistant","parts":[{"type":"tool_call","id":null,"name":"f","arguments":"{\\"a\\": [1, 2]}"}],"finish_reason":"tool_call"}]',
            '[{"role":"assistant","parts":[{"type":"tool_call","name":"g","arguments":"not json"}],"finish_reason":"stop"}]',
            '[{"role":"assistant","parts":[{"type":"tool_call","id":3,"arguments":[1,{"b":null}]}],"finish_reason":"x"}]',
            '[{"role":"assistant","parts":[{"type":"tool_call","id":"c","name":"h"}],"finish_reason":"tool_call"}]',
            '[{"role":"assistant","parts":[{"type":"text","content":5}]}]', "[1, 2]", "[{]"])))
    elif what == 7:                               # duplicate keys, later wins
        if attrs:
            attrs.append(copy.deepcopy(rng.choice(attrs)))
            attrs[-1]["value"] = {"stringValue": "dup"}
    elif what == 8:
        sp["name"] = rng.choice([None, 5, "ünï", ""])
    elif what == 9:                               # tool spans without ids or with odd arguments
        attrs.extend([_kv("gen_ai.tool.name", "lookup"), _kv("gen_ai.tool.call.arguments", rng.choice(['{"a":1}', "[", "x", "  {}"])),
                      _kv("gen_ai.tool.call.result", rng.choice(["ok", '{"r":1}']))])
    elif what == 10:                              # token and cost values of odd types
        attrs.append(_kv(rng.choice(["gen_ai.usage.input_tokens", "gen_ai.usage.cost", "tracemill.cost_usd", "tracemill.tags"]),
                         rng.choice(_ODD_VALUES)))
    else:
        sp["attributes"] = rng.choice([None, [], "x", [{"key": 5, "value": {"stringValue": "a"}}], [{"key": "k"}]])
    return sp


@needs_native
def test_tool_call_records_are_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The native loop keeps the ToolCallTracker's records itself: requests without ids are named by
    their (message, call) position, matched by name to tool spans, and the rest come out at the end."""
    def call(name: str, cid: str | None = None) -> dict[str, Any]:
        return {"type": "tool_call", "id": cid, "name": name, "arguments": {"q": name}}

    two = [{"role": "assistant", "parts": [call("f"), call("g")], "finish_reason": "tool_call"},
           {"role": "assistant", "parts": [call("h")], "finish_reason": "tool_call"},
           {"role": "assistant", "parts": [call("span 4")], "finish_reason": "tool_call"}]
    one = [{"role": "assistant", "parts": [call("k", "call_k")], "finish_reason": "tool_call"}]
    llm = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.call.arguments": "{}"}
    spans = [_span(0, {**llm, "gen_ai.output.messages": two}), _span(1, {**llm, "gen_ai.output.messages": one}),
             _span(2, {**tool, "gen_ai.tool.name": "g"}), _span(3, {**tool, "gen_ai.tool.name": "x", "gen_ai.tool.call.id": "call_k"}),
             _span(4, {**tool, "gen_ai.tool.name": ""})]
    for sp in spans:   # one trace
        sp["traceId"] = "ab" * 16
    n, fast = _compare(_write(tmp_path / "calls.jsonl", spans), monkeypatch)
    assert (n, fast) == (5, 5)
    calls = [c for c in _items(tmp_path / "calls.jsonl", monkeypatch, True) if isinstance(c, ToolCall)]
    assert [(c.tool_name, c.call_id, c.seq) for c in calls] == [
        ("g", f"{3:016x}", 5), ("x", "call_k", 6), ("span 4", f"{5:016x}", 7),
        ("f", f"{1:016x}:0:0", 0), ("h", f"{1:016x}:1:0", 2),
    ]


@needs_native
def test_random_mutations_map_the_same_or_are_declined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gt = generate_day(tmp_path / "day", day=date(2026, 1, 6), n_traces=60, traces_per_file=60)
    base = [sp for line in gt.files[0].read_bytes().splitlines()
            for rs in orjson.loads(line)["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]]
    rng = random.Random(11)
    spans = [_mutate(rng, rng.choice(base)) for _ in range(3000)]
    resource = [_kv("service.name", "svc"), _kv("session.id", "s1"), _kv("deployment.environment", "dev")]
    n, fast = _compare(_write(tmp_path / "mutated.jsonl", spans, resource), monkeypatch)
    assert fast > 0 and n < len(spans) + 1


@needs_native
def test_native_and_python_loads_write_the_same_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole loads (two parse workers) with and without the fast path: the same spans, traces, tool
    calls and feedback, apart from the load ids and times."""
    from tracemill.ingest.loader import ingest_paths
    from tracemill.settings import Settings
    from tracemill.warehouse import connect

    gt = generate_day(tmp_path / "day", day=date(2026, 1, 7), n_traces=200, traces_per_file=100)
    lineage = ("load_id", "config_hash", "ingested_at", "updated_at", "first_load_id", "last_load_id")
    tables: dict[bool, dict[str, list]] = {}
    for on in (False, True):
        monkeypatch.setenv("TRACEMILL_NATIVE", "1" if on else "0")
        s = Settings(warehouse=str(tmp_path / f"wh{int(on)}"))
        assert s.native is on
        ingest_paths([str(p) for p in gt.files], settings=s, workers=2)
        con = connect(s)
        got = {}
        for table, key in (("spans", "trace_id, span_id"), ("traces", "trace_id"), ("tool_calls", "trace_id, call_id"),
                           ("feedback", "feedback_id")):
            cols = [c for (c,) in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                                              [table]).fetchall() if c not in lineage]
            assert cols, table
            got[table] = con.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {key}").fetchall()
        con.close()
        tables[on] = got
    for table, rows in tables[False].items():
        assert len(rows) > 0, table
        assert rows == tables[True][table], f"{table} differs between the native and the Python load"


@needs_native
def test_column_builder_matches_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The C column builder gives the table pyarrow builds from Python lists, for spans of both paths
    (frozen native spans hold bytes, Python ones str) and odd values; a value it does not take (an
    int field holding a str) hands the whole table back to pyarrow, which raises as before."""
    from tracemill.ingest.cost import CostModel
    from tracemill.ingest.loader import _spans_table

    gt = generate_day(tmp_path / "day", day=date(2026, 1, 8), n_traces=80, traces_per_file=80)
    base = [sp for line in gt.files[0].read_bytes().splitlines()
            for rs in orjson.loads(line)["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]]
    rng = random.Random(5)
    path = _write(tmp_path / "mixed.jsonl", base + [_mutate(rng, rng.choice(base)) for _ in range(600)])
    spans = [x for x in _items(path, monkeypatch, True) if isinstance(x, Span)]
    assert any(type(x) is FrozenSpan for x in spans) and any(type(x) is not FrozenSpan for x in spans)
    spans[0].name = ""          # empty strings stay empty; an empty parent id becomes NULL
    spans[1].parent_span_id = ""
    spans[2].tags = ["ünï", "", "x"]
    spans[3].cost_usd = 3       # an int in a float column
    costs = CostModel({})
    by_arrow = _spans_table(spans, "l", "c", "f", costs, use_native=False)
    by_c = _spans_table(spans, "l", "c", "f", costs, use_native=True)
    assert by_c.schema.equals(by_arrow.schema)
    for name in by_arrow.column_names:
        assert by_c[name].equals(by_arrow[name]), name
    spans[4].input_tokens = "12"
    with pytest.raises((TypeError, ValueError, pa.ArrowInvalid, pa.ArrowTypeError)):
        _spans_table(spans, "l", "c", "f", costs, use_native=True)


@needs_native
def test_strings_and_numbers_are_written_as_orjson_writes_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The native path writes the JSON columns (raw, attributes, messages) itself: quotes, backslashes,
    control and non-ASCII characters at every place in its 8-byte blocks, floats, negative and big ints
    must come out as the text orjson writes."""
    rng = random.Random(3)
    alphabet = ["a", "b", '"', "\\", "\n", "\t", "\x00", "\x01", "\x1f", "\x7f", "/", "<", " ", "é", "✓", "😀", "\u2028"]
    spans = []
    for i in range(400):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 41)))
        msgs = [{"role": "user", "parts": [{"type": "text", "content": text}]},
                {"role": "assistant", "parts": [{"type": "tool_call", "id": text, "name": "f", "arguments": {"q": text}}],
                 "finish_reason": text}]
        attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": text or "m", "app." + text: text,
                 "x.float": rng.choice([0.1, 1e22, -0.0, 1.5e-7, 123456789.125, 5.0]), "x.int": rng.choice([0, -5, 2**62]),
                 "x.list": [text, 7, 2.5], "gen_ai.input.messages": json.dumps(msgs[:1]),
                 "gen_ai.output.messages": json.dumps(msgs[1:])}
        spans.append(_span(i, attrs, vendor={"t": text, "big": 2**64 + 1, "neg": -(2**63), "f": 1e300, "n": None}))
    n, fast = _compare(_write(tmp_path / "text.jsonl", spans), monkeypatch)
    assert n == fast == len(spans)


@needs_native
def test_lines_orjson_rejects_are_rejected_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """yyjson and orjson must refuse the same lines: nesting over orjson's 1,024 levels, lone surrogates,
    NaN, trailing commas, numbers out of range. A span nested deeper than orjson writes (254 levels) is
    left to Python (the loader quarantines it), and one with a repeated key maps as orjson reads it (the
    last value)."""
    good = _span(0, {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"})

    def line(sp: dict[str, Any] | str) -> bytes:
        text = sp if isinstance(sp, str) else json.dumps(sp)
        return b'{"resourceSpans":[{"resource":{},"scopeSpans":[{"scope":{"name":"t"},"spans":[' + text.encode() + b"]}]}]}"

    deep = json.dumps(good)[:-1] + ', "deep": ' + "[" * 1100 + "]" * 1100 + "}"
    unwritable = json.dumps(good)[:-1] + ', "deep": ' + "[" * 600 + "]" * 600 + "}"
    ok_deep = json.dumps(good)[:-1] + ', "deep": ' + "[" * 250 + "]" * 250 + "}"
    repeated = json.dumps(good)[:-1] + f', "spanId": "{2:016x}", "name": "second"}}'
    lines = [line(good), line(deep), line(unwritable), line(ok_deep), line(repeated),
             line(json.dumps(good).replace('"span 0"', '"\\ud800"')), line(json.dumps(good).replace('"kind": 3', '"kind": NaN')),
             line(json.dumps(good).replace('"kind": 3', '"kind": 3,')), line(json.dumps(good).replace('"kind": 3', '"kind": 1e400')),
             line(json.dumps(good).replace('"kind": 3', '"kind": -0')), b'{"resourceSpans": 5}', b"[1, 2]", b'"text"']
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    n, fast = _compare(path, monkeypatch)
    items = _items(path, monkeypatch, True)
    assert n == fast + 1 == 4   # good, the 250-deep one and "-0" natively; the repeated-key one in Python
    assert [x for x in items if type(x) is tuple] == [("unwritable", f"{1:032x}", f"{1:016x}")]
    assert [x.reason for x in items if isinstance(x, Rejected)].count("malformed_json") == 5


@needs_native
def test_a_second_caller_meanwhile_maps_its_line_in_python(tmp_path: Path) -> None:
    """map_line keeps its buffers in static memory: a call made while another is in one of its Python
    callbacks (another thread's, say) must not touch them. It returns False: the caller maps the line
    in Python."""
    from tracemill.ingest.formats.otlp_json import scope_base, span_item
    from tracemill.ingest.semconv import ToolCallTracker

    ml = native.line_mapper()
    assert ml is not None
    llm = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
    spans = [_span(0, llm, events=[{"name": "gen_ai.user.message"}]), _span(1, llm)]   # the first is Python's
    line = _write(tmp_path / "one.jsonl", spans).read_bytes().splitlines()[0]
    inner: list[bool] = []

    def slow(sp: Any, base: Any, src: str, line_no: Any, out: list) -> Any:
        inner.append(ml(line, "otlp-json", 1, [], ToolCallTracker().observe, span_item, scope_base))
        return span_item(sp, base, src, line_no, out)

    out: list = []
    assert ml(line, "otlp-json", 1, out, ToolCallTracker().observe, slow, scope_base) is True
    assert inner == [False]
    assert [type(x) for x in out if isinstance(x, Span)] == [Span, FrozenSpan]
    assert ml(line, "otlp-json", 1, [], ToolCallTracker().observe, span_item, scope_base) is True   # free again

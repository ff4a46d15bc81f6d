"""Plain JSON span dumps: what SDK exporters, test fixtures and docs hold when there is no OTLP envelope.

Accepted shapes (the file is one JSON document, or JSON lines of span objects):

- a list of span objects: OTel JS ``ReadableSpan`` dumps (``spanContext``, ``startTime`` as
  ``[seconds, nanos]``, attributes as a dict - the OpenInference Vercel fixtures), OTel Python
  ``span.to_json()`` (``context.trace_id`` as ``0x...``, ISO times), Phoenix-style exports (nested
  attribute dicts are flattened with dots) or OTLP-style span dicts (``traceId``, attribute lists);
- a dict of such lists (e.g. spans grouped by operation);
- one flat attribute dict (``{"gen_ai.operation.name": ..., ...}``): a single span with no ids;
- the semconv GenAI examples document (``{"records": [{"attributes", "record_type", "section",
  "example", ...}]}``): each (section, example) group is one trace, each ``span`` record one span,
  and an ``event`` record is the ``gen_ai.client.inference.operation.details`` event of its group's span.

Ids: spans that carry ids keep them. Spans with none (flat attribute dicts, the examples records,
whose doc ids are reused across unrelated examples) get ids derived from the file's content hash and
their position, so re-ingesting the same file is a duplicate and never a new trace. A span object
whose id fields are present but empty is rejected (``missing_id``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson

from tracemill.errors import DataError
from tracemill.ingest.formats import Format, FormatOptions, Source, register
from tracemill.ingest.formats.otlp_json import (
    MAPPING_ERRORS,
    _decode_failure,
    hex_id,
    iter_json_lines,
    read_whole,
    status_of,
    unix_ns,
)
from tracemill.ingest.records import Item, Rejected, Span
from tracemill.ingest.semconv import Event, ToolCallTracker, decode_kvlist, map_span

NAME = "span-list"
_ID_KEYS = ("spanContext", "context", "traceId", "trace_id", "spanId", "span_id")
_ATTR_PREFIXES = ("gen_ai.", "openinference.", "llm.", "ai.operationId")
_EVENTS_DETAILS = "gen_ai.client.inference.operation.details"


# -- shape detection -----------------------------------------------------------------------------------


def _is_span_obj(d: Any) -> bool:
    return isinstance(d, dict) and any(k in d for k in _ID_KEYS)


def _is_flat_attrs(d: Any) -> bool:
    if not isinstance(d, dict) or not d or _is_span_obj(d):
        return False
    if "openinference.span.kind" not in d and not any(k.startswith(_ATTR_PREFIXES) for k in d):
        return False
    # Attribute values are scalars or lists of scalars (or structured GenAI messages), never sub-documents.
    return not any(isinstance(v, dict) for v in d.values())


def _is_examples_doc(d: Any) -> bool:
    recs = d.get("records") if isinstance(d, dict) else None
    return isinstance(recs, list) and bool(recs) and all(
        isinstance(r, dict) and "record_type" in r and isinstance(r.get("attributes"), dict) for r in recs
    )


def classify(doc: Any) -> str | None:
    """Which span-list shape a parsed document is: spans | grouped | attributes | examples | None."""
    if isinstance(doc, list):
        return "spans" if doc and all(_is_span_obj(x) for x in doc) else None
    if not isinstance(doc, dict) or "resourceSpans" in doc or "resource_spans" in doc:
        return None
    if _is_span_obj(doc):
        return "spans"
    if _is_examples_doc(doc):
        return "examples"
    if doc and all(isinstance(v, list) and v and all(_is_span_obj(x) for x in v) for v in doc.values()):
        return "grouped"
    if _is_flat_attrs(doc):
        return "attributes"
    return None


# -- field decoding ---------------------------------------------------------------------------------


def _time_ns(v: Any) -> int | None:
    """HrTime ``[s, ns]``, epoch ns (int or string), or an ISO-8601 string."""
    if v is None:
        return None
    if isinstance(v, list):
        if len(v) == 2 and all(type(x) is int for x in v):
            return v[0] * 1_000_000_000 + v[1]
        raise ValueError(f"time {v!r} is not [seconds, nanoseconds]")
    if type(v) is str and not v.lstrip("-").isdigit():
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
        return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000
    return unix_ns(v)


def _flatten_nested(d: dict[str, Any], prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {} if out is None else out
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            _flatten_nested(v, key + ".", out)
        else:
            out[key] = v
    return out


def _attrs(a: Any) -> dict[str, Any]:
    if a is None:
        return {}
    if isinstance(a, list):
        return decode_kvlist(a)
    if isinstance(a, dict):
        return _flatten_nested(a) if any(isinstance(v, dict) for v in a.values()) else dict(a)
    raise TypeError(f"attributes is a {type(a).__name__}, not an object or list")


def _events(evs: Any) -> list[Event] | None:
    if not evs:
        return None
    if not isinstance(evs, list):
        raise TypeError("events is not a list")
    out: list[Event] = []
    for ev in evs:
        if not isinstance(ev, dict):
            raise TypeError("event is not an object")
        t = ev.get("time", ev.get("timeUnixNano", ev.get("timestamp")))
        out.append((str(ev.get("name") or ""), _time_ns(t), _attrs(ev.get("attributes"))))
    return out


def _ids(d: dict[str, Any]) -> tuple[Any, Any, Any]:
    ctx = d.get("spanContext") or d.get("context")
    if isinstance(ctx, dict):
        tid = ctx.get("traceId", ctx.get("trace_id"))
        sid = ctx.get("spanId", ctx.get("span_id"))
    else:
        tid = d.get("traceId", d.get("trace_id"))
        sid = d.get("spanId", d.get("span_id"))
    pctx = d.get("parentSpanContext")
    pid = pctx.get("spanId") if isinstance(pctx, dict) else d.get("parentSpanId", d.get("parent_span_id", d.get("parent_id")))
    return tid, sid, pid


def _synth(*parts: str, n: int) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[: 2 * n]


def _span_name(attrs: dict[str, Any]) -> str | None:
    op = attrs.get("gen_ai.operation.name")
    if op:
        target = attrs.get("gen_ai.request.model") or attrs.get("gen_ai.tool.name") or attrs.get("gen_ai.agent.name")
        return f"{op} {target}" if target else str(op)
    kind = attrs.get("openinference.span.kind")
    return str(kind) if kind else None


def _span(d: dict[str, Any], *, line_no: int | None, synth: tuple[str, str] | None,
          extra_events: list[Event] | None = None) -> tuple[Span | None, list[Item]]:
    """One span object (or flat attribute dict when ``synth`` gives its ids) -> Span + feedback."""
    def raw() -> bytes:
        return orjson.dumps(d, default=str)

    try:
        if synth is not None:
            tid, sid, pid = synth[0], synth[1], None
            attrs = _attrs(d.get("attributes") if "attributes" in d and isinstance(d.get("attributes"), dict) else d)
            name = d.get("span_name") if "attributes" in d else None
            start = end = None
            code, msg = "unset", None
            events = None
        else:
            tid_raw, sid_raw, pid_raw = _ids(d)
            try:
                tid, sid, pid = hex_id(tid_raw, 16), hex_id(sid_raw, 8), hex_id(pid_raw, 8)
            except ValueError as e:
                return None, [Rejected("invalid_value", f"span id: {e}", raw(), line_no)]
            if tid is None or sid is None:
                return None, [Rejected("missing_id", f"span has no {'trace id' if tid is None else 'span id'}", raw(), line_no)]
            attrs = _attrs(d.get("attributes"))
            res = d.get("resource")
            if isinstance(res, dict) and res.get("attributes"):
                base = _attrs(res["attributes"])
                base.update(attrs)
                attrs = base
            name = d.get("name")
            start = _time_ns(d.get("startTime", d.get("startTimeUnixNano", d.get("start_time"))))
            end = _time_ns(d.get("endTime", d.get("endTimeUnixNano", d.get("end_time"))))
            code, msg = status_of(d.get("status"))
            events = _events(d.get("events"))
        if name is not None and type(name) is not str:
            raise TypeError(f"name is a {type(name).__name__}")
    except (TypeError, ValueError, AttributeError, KeyError) as e:
        return None, [Rejected("wrong_type", f"span: {e}", raw(), line_no)]
    if extra_events:
        events = (events or []) + extra_events
    span = Span(trace_id=tid, span_id=sid, source=NAME, parent_span_id=pid, name=name or _span_name(attrs),
                start_ns=start, end_ns=end, status_code=code, status_message=msg, raw=d)
    try:
        fbs = map_span(span, attrs, events)
    except MAPPING_ERRORS as e:   # a value shape no convention allows: quarantine, never crash the load
        return None, [Rejected("invalid_value", f"span {tid}/{sid}: cannot map attributes: {type(e).__name__}: {e}",
                               raw(), line_no)]
    return span, [span, *fbs]



def _observed(span: Span | None, items: list[Item], tracker: ToolCallTracker) -> list[Item]:
    # Observe before yielding: the loader serialises a span's fields when it receives it.
    if span is not None:
        tc = tracker.observe(span)
        if tc is not None:
            items.append(tc)
    return items


# -- parsing ---------------------------------------------------------------------------------------


def _doc_items(doc: Any, digest: str, tracker: ToolCallTracker, path: str) -> Iterator[Item]:
    shape = classify(doc)
    if shape is None:
        raise DataError(
            f"{path} is not a span list: not a list of span objects, a flat GenAI/OpenInference attribute dict "
            "or a GenAI examples document", value=orjson.dumps(doc, default=str)[:200].decode("utf-8", "replace"),
            fix="pass the right --format, or --format auto to detect it")
    if shape == "examples":
        yield from _examples_items(doc, digest, tracker)
        return
    if shape == "attributes":
        tid = _synth("span-list", digest, "trace", n=16)
        spans = [(doc, (tid, _synth(tid, "0", n=8)))]
    else:
        objs = doc if isinstance(doc, list) else [doc] if shape == "spans" else [s for v in doc.values() for s in v]
        spans = [(o, None) for o in objs]
    for d, synth in spans:
        span, items = _span(d, line_no=1, synth=synth)
        yield from _observed(span, items, tracker)


def _examples_items(doc: dict[str, Any], digest: str, tracker: ToolCallTracker) -> Iterator[Item]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in doc["records"]:
        groups.setdefault((str(r.get("section")), str(r.get("example"))), []).append(r)
    for (section, example), recs in groups.items():
        tid = _synth("span-list", digest, section, example, n=16)
        span_recs = [r for r in recs if r.get("record_type") == "span"]
        event_recs = [r for r in recs if r.get("record_type") == "event"]
        for i, r in enumerate(span_recs):
            # The group's event records belong to its first span (the doc shows one span + its event).
            evs: list[Event] | None = [(_EVENTS_DETAILS, None, dict(e["attributes"])) for e in event_recs] if i == 0 else None
            span, items = _span(r, line_no=None, synth=(tid, _synth(tid, str(i), n=8)), extra_events=evs)
            if span is not None:
                span.name = r.get("span_name") or span.name
            yield from _observed(span, items, tracker)


def parse(source: Source, options: FormatOptions) -> Iterator[Item]:
    """Spans of a JSON span dump (one document, or JSON lines of span objects)."""
    tracker = ToolCallTracker()
    max_bytes = options.max_record_bytes
    with source.open() as fh:
        first = fh.readline(max_bytes + 1)
        rest = fh.read(1)
    lines_mode = False
    if rest and first.strip():
        try:
            lines_mode = _is_span_obj(orjson.loads(first))
        except orjson.JSONDecodeError:
            lines_mode = False
    if lines_mode:
        with source.open() as fh:
            for line_no, rec in iter_json_lines(fh, max_bytes):
                if isinstance(rec, Rejected):
                    yield rec
                    continue
                if not _is_span_obj(rec):
                    yield Rejected("wrong_type", f"line {line_no} is not a span object", orjson.dumps(rec, default=str), line_no)
                    continue
                span, items = _span(rec, line_no=line_no, synth=None)
                yield from _observed(span, items, tracker)
    else:
        data = read_whole(source, max_bytes)
        if isinstance(data, Rejected):
            yield data
            return
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            yield _decode_failure(data, e, 1)
            return
        yield from _doc_items(doc, hashlib.sha256(data).hexdigest(), tracker, source.path)
    yield from tracker.finish()


def sniff(source: Source) -> bool:
    head = source.head
    stripped = head.lstrip()
    if not stripped[:1] in (b"[", b"{"):
        return False
    if source.size is not None and len(head) >= source.size:
        # Small file: the head is all of it; decide exactly.
        try:
            return classify(orjson.loads(head)) is not None
        except orjson.JSONDecodeError:
            pass
        first = stripped.split(b"\n", 1)[0]
        try:
            return _is_span_obj(orjson.loads(first))
        except orjson.JSONDecodeError:
            return False
    window = head[:8192]
    if b'"resourceSpans"' in window or b'"$defs"' in window:
        return False
    return b'"spanContext"' in window or (b'"traceId"' in window and b'"spanId"' in window) or (
        b'"trace_id"' in window and b'"span_id"' in window)


FORMAT = register(Format(
    name=NAME,
    description="plain JSON span dumps: lists of span objects, flat GenAI/OpenInference attribute dicts, semconv examples",
    sniff=sniff,
    parse=parse,
    priority=60,
))

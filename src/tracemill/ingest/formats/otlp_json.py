"""OTLP ``ExportTraceServiceRequest`` as JSON: one request per line (the Collector's file exporter),
or one pretty-printed request per file.

The file is streamed line by line (``readline`` with a size limit, so an oversized line is never
held whole); each line is one record. A line that is not JSON, not UTF-8, too big or of the wrong
shape is rejected with the reason, and so is each span with wrong types or missing ids; the rest
of the line is still loaded. The request -> items mapping (``request_items``) is shared with the
protobuf format, which turns its messages into the same dicts with ``MessageToDict``. Where the C
extension is built, each line goes to its ``map_line`` first (``native.line_mapper``), which parses
and maps the common shape itself and hands back what it does not take.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import IO, Any

import orjson

from tracemill.errors import DataError
from tracemill.ingest.formats import Format, FormatOptions, Source, register
from tracemill.ingest.formats._common import raw_json
from tracemill.ingest.native import line_mapper
from tracemill.ingest.records import Item, Rejected, Span
from tracemill.ingest.semconv import Event, ToolCallTracker, decode_kvlist, map_span

NAME = "otlp-json"
_HEX = frozenset("0123456789abcdefABCDEF")
_ZERO_IDS = frozenset({"0" * 32, "0" * 16})
_CHUNK = 1 << 20


# -- field decoding ------------------------------------------------------------------------------------


_ID_CACHES: dict[int, dict[Any, str | None]] = {16: {}, 8: {}}
_TRACE_IDS = _ID_CACHES[16]
_SPAN_IDS = _ID_CACHES[8]
_MISS: Any = object()


def hex_id(v: Any, nbytes: int) -> str | None:
    """Cached ``_hex_id``: trace and parent ids repeat across the spans of a trace."""
    cache = _ID_CACHES.get(nbytes)
    if cache is None:
        return _hex_id(v, nbytes)
    h = cache.get(v, cache)
    if h is not cache:
        return h  # type: ignore[return-value]
    h = _hex_id(v, nbytes)
    if type(v) is str:
        if len(cache) > 100_000:
            cache.clear()
        cache[v] = h
    return h


def _hex_id(v: Any, nbytes: int) -> str | None:
    """An OTLP trace/span id as lowercase hex. OTLP/JSON writes hex; protobuf JSON (``MessageToDict``)
    and some SDKs write base64 - told apart by length. None when absent, empty or all zeros;
    ValueError when it is neither."""
    if v is None or v == "":
        return None
    if type(v) is not str:
        raise ValueError(f"id is a {type(v).__name__}, not a string")
    n = len(v)
    if n == 2 * nbytes and _HEX.issuperset(v):
        h = v.lower()
    elif n == 2 * nbytes + 2 and v[:2] in ("0x", "0X") and _HEX.issuperset(v[2:]):
        h = v[2:].lower()
    else:
        try:
            raw = base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != nbytes:
            raise ValueError(f"id {v[:60]!r} is neither {2 * nbytes} hex digits nor base64 of {nbytes} bytes")
        h = raw.hex()
    return None if h in _ZERO_IDS else h


_MAX_NS = 2**63 - 1
MAPPING_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError)


def unix_ns(v: Any) -> int | None:
    """``*TimeUnixNano``: an int, or a decimal string (proto int64 in JSON). ValueError otherwise."""
    t = type(v)
    if t is int:
        n = v
    elif t is str:
        if v == "":
            return None
        n = int(v)
    elif v is None:
        return None
    elif t is float and v.is_integer():
        n = int(v)
    else:
        raise ValueError(f"time is a {t.__name__}, not a number")
    if not 0 <= n <= _MAX_NS:
        raise ValueError(f"time {n} is outside the int64 nanosecond range")
    return n


_STATUS = {2: "error", 1: "ok", 0: "unset", "STATUS_CODE_ERROR": "error", "STATUS_CODE_OK": "ok",
           "STATUS_CODE_UNSET": "unset", "ERROR": "error", "OK": "ok", "UNSET": "unset", "2": "error", "1": "ok"}


def status_of(st: Any) -> tuple[str, str | None]:
    if not st:
        return "unset", None
    if type(st) is not dict:
        raise ValueError(f"status is a {type(st).__name__}, not an object")
    code = st.get("code", st.get("status_code"))
    msg = st.get("message", st.get("description"))
    return _STATUS.get(code, "unset"), (msg if msg else None)


def _events(evs: Any) -> list[Event]:
    if type(evs) is not list:
        raise TypeError(f"events is a {type(evs).__name__}, not a list")
    out: list[Event] = []
    for ev in evs:
        if type(ev) is not dict:
            raise TypeError("event is not an object")
        a = ev.get("attributes")
        out.append((str(ev.get("name") or ""), unix_ns(ev.get("timeUnixNano")), decode_kvlist(a) if a else {}))
    return out


def _scope_attrs(scope: Any) -> dict[str, Any]:
    if not scope:
        return {}
    if type(scope) is not dict:
        raise TypeError("scope is not an object")
    a = scope.get("attributes")
    out = decode_kvlist(a) if a else {}
    if scope.get("name"):
        out["otel.scope.name"] = scope["name"]
    if scope.get("version"):
        out["otel.scope.version"] = scope["version"]
    return out


def span_item(sp: Any, base: dict[str, Any], fmt: str, line_no: int | None, out: list[Item]) -> Span | None:
    """Map one OTLP span dict onto a ``Span`` (appended to ``out`` with its feedback), or a Rejected."""
    if type(sp) is not dict:
        out.append(Rejected("wrong_type", f"span is a {type(sp).__name__}, not an object", raw_json(sp), line_no))
        return None
    try:
        v = sp.get("traceId")
        tid = _TRACE_IDS.get(v, _MISS) if type(v) is str else _MISS   # inline cache hit: ids repeat
        if tid is _MISS:
            tid = hex_id(v, 16)
        sid = hex_id(sp.get("spanId"), 8)
    except ValueError as e:
        out.append(Rejected("invalid_value", f"span id: {e}", raw_json(sp), line_no))
        return None
    if tid is None or sid is None:
        which = "traceId" if tid is None else "spanId"
        out.append(Rejected("missing_id", f"span has no {which}", raw_json(sp), line_no))
        return None
    try:
        v = sp.get("parentSpanId")
        pid = _SPAN_IDS.get(v, _MISS) if type(v) is str else _MISS
        if pid is _MISS:
            pid = hex_id(v, 8)
        a = sp.get("attributes")
        attrs = decode_kvlist(a) if a else {}
        start = unix_ns(sp.get("startTimeUnixNano"))
        end = unix_ns(sp.get("endTimeUnixNano"))
        code, msg = status_of(sp.get("status"))
        evs = sp.get("events")
        events = _events(evs) if evs else None
        name = sp.get("name")
        if name is not None and type(name) is not str:
            raise TypeError(f"name is a {type(name).__name__}")
    except (TypeError, ValueError, AttributeError, KeyError) as e:
        out.append(Rejected("wrong_type", f"span {tid}/{sid}: {e}", raw_json(sp), line_no))
        return None
    if base:
        merged = base.copy()
        merged.update(attrs)
    else:
        merged = attrs
    span = Span(trace_id=tid, span_id=sid, source=fmt, parent_span_id=pid, name=name, start_ns=start,
                end_ns=end, status_code=code, status_message=msg, raw=sp)
    try:
        fbs = map_span(span, merged, events)
    except MAPPING_ERRORS as e:   # a value shape no convention allows: quarantine, never crash the load
        out.append(Rejected("invalid_value", f"span {tid}/{sid}: cannot map attributes: {type(e).__name__}: {e}",
                            raw_json(sp), line_no))
        return None
    out.append(span)
    if fbs:
        out.extend(fbs)
    return span


def _with_scope(res_attrs: dict[str, Any], scope: Any) -> dict[str, Any]:
    """The attributes a scope's spans start from: the resource's, updated by the scope's."""
    sc = _scope_attrs(scope)
    if not sc:
        return res_attrs
    base = res_attrs.copy()
    base.update(sc)
    return base


def scope_base(resource: Any, scope: Any) -> dict[str, Any]:
    """A scope's starting attributes from its resource and scope objects, as ``request_items`` makes
    them: for the native line path's declined spans."""
    ra = (resource or {}).get("attributes")
    return _with_scope(decode_kvlist(ra) if ra else {}, scope)


def request_items(req: Any, *, fmt: str, line_no: int | None, tracker: ToolCallTracker,
                  raw: bytes | None = None) -> list[Item]:
    """All items of one ``ExportTraceServiceRequest`` dict (OTLP/JSON or ``MessageToDict`` form)."""
    out: list[Item] = []
    if type(req) is not dict:
        out.append(Rejected("wrong_type", f"record is a JSON {type(req).__name__}, not an ExportTraceServiceRequest object",
                            raw if raw is not None else raw_json(req), line_no))
        return out
    rss = req.get("resourceSpans", req.get("resource_spans"))
    if type(rss) is not list:
        what = "missing" if rss is None else f"a {type(rss).__name__}"
        out.append(Rejected("wrong_type", f"resourceSpans is {what}, not a list",
                            raw if raw is not None else raw_json(req), line_no))
        return out
    observe = tracker.observe
    for rs in rss:
        try:
            if type(rs) is not dict:
                raise TypeError(f"resourceSpans entry is a {type(rs).__name__}")
            res = rs.get("resource") or {}
            if type(res) is not dict:
                raise TypeError("resource is not an object")
            ra = res.get("attributes")
            res_attrs = decode_kvlist(ra) if ra else {}
            sss = rs.get("scopeSpans", rs.get("instrumentationLibrarySpans", rs.get("scope_spans"))) or []
            if type(sss) is not list:
                raise TypeError("scopeSpans is not a list")
            scopes = []
            for ss in sss:
                if type(ss) is not dict:
                    raise TypeError("scopeSpans entry is not an object")
                spans = ss.get("spans") or []
                if type(spans) is not list:
                    raise TypeError("spans is not a list")
                scopes.append((_with_scope(res_attrs, ss.get("scope", ss.get("instrumentationLibrary"))), spans))
        except (TypeError, ValueError, AttributeError, KeyError) as e:
            out.append(Rejected("wrong_type", f"resourceSpans entry: {e}", raw_json(rs), line_no))
            continue
        for base, spans in scopes:
            for sp in spans:
                span = span_item(sp, base, fmt, line_no, out)
                if span is not None:
                    tc = observe(span)
                    if tc is not None:
                        out.append(tc)
    return out


# -- reading -------------------------------------------------------------------------------------------


class _LineReader:
    """``readline(limit)`` over big blocks of a binary file: a line is found with ``bytes.find``,
    where a BufferedReader scans for the newline a byte at a time (1.7 instructions a byte with the
    sources' 1 MB buffer, 3x that with the default one). Reads continue from the file's position."""

    __slots__ = ("_buf", "_fh", "_pos")
    _BLOCK = 1 << 22

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh, self._buf, self._pos = fh, b"", 0

    def readline(self, limit: int) -> bytes:
        """Up to ``limit`` bytes: through the next newline if it comes within them (b"" at the end)."""
        while True:
            buf, pos = self._buf, self._pos
            nl = buf.find(b"\n", pos, pos + limit)
            if nl >= 0:
                self._pos = nl + 1
                return buf[pos:nl + 1]
            if len(buf) - pos >= limit:
                self._pos = pos + limit
                return buf[pos:pos + limit]
            more = self._fh.read(max(self._BLOCK, limit))
            if not more:
                self._buf, self._pos = b"", 0
                return buf[pos:]
            self._buf, self._pos = buf[pos:] + more, 0


def _skip_rest_of_line(fh: IO[bytes] | _LineReader) -> int:
    n = 0
    while True:
        chunk = fh.readline(_CHUNK)
        n += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return n


def _decode_failure(line: bytes, err: Exception, line_no: int) -> Rejected:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as u:
        return Rejected("invalid_utf8", f"line {line_no}: invalid UTF-8 at byte {u.start}", line, line_no)
    return Rejected("malformed_json", f"line {line_no}: {err}", line, line_no)


def load_line(line: bytes, line_no: int) -> Any:
    """One JSON line parsed, or its Rejected."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as e:
        return _decode_failure(line.rstrip(b"\r\n"), e, line_no)


def iter_json_lines(fh: IO[bytes], max_bytes: int, first_line_no: int = 1, *,
                    raw: bool = False) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON or Rejected) for each non-blank line, streaming. ``raw``: a line within
    the limit comes as its bytes, for the caller to parse (``load_line``)."""
    line_no = first_line_no - 1
    reader = _LineReader(fh)
    while True:
        line = reader.readline(max_bytes + 1)
        if not line:
            return
        line_no += 1
        if len(line) > max_bytes and not line.endswith(b"\n"):
            total = len(line) + _skip_rest_of_line(reader)
            yield line_no, Rejected("oversized", f"line {line_no} is {total} bytes, over the {max_bytes}-byte limit",
                                    line[:4096], line_no)
            continue
        if not line.strip():
            continue
        yield line_no, line if raw else load_line(line, line_no)


def read_whole(source: Source, max_bytes: int) -> bytes | Rejected:
    """The whole file, if it is within ``max_bytes`` (a single-document file is one record)."""
    with source.open() as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        return Rejected("oversized", f"{source.path} is a single JSON document over the {max_bytes}-byte limit; "
                        "write one record per line (JSON lines) instead", data[:4096], 1)
    return data


def json_records(source: Source, options: FormatOptions, *, raw: bool = False) -> Iterator[tuple[int, Any]]:
    """JSON-lines records, or the single pretty-printed document when the first line is not JSON.
    ``raw``: JSON lines come as bytes (see ``iter_json_lines``)."""
    max_bytes = options.max_record_bytes
    with source.open() as fh:
        first = b""
        first_no = 0
        while True:
            first = fh.readline(max_bytes + 1)
            first_no += 1
            if not first or first.strip():
                break
        if not first:
            return
        if len(first) > max_bytes and not first.endswith(b"\n"):
            total = len(first) + _skip_rest_of_line(fh)
            yield first_no, Rejected("oversized", f"line {first_no} is {total} bytes, over the {max_bytes}-byte limit",
                                     first[:4096], first_no)
            yield from iter_json_lines(fh, max_bytes, first_no + 1, raw=raw)
            return
        try:
            first_obj = orjson.loads(first)
        except orjson.JSONDecodeError as e:
            stripped = first.strip()
            if stripped[:1] not in (b"{", b"["):
                yield first_no, _decode_failure(first.rstrip(b"\r\n"), e, first_no)
                yield from iter_json_lines(fh, max_bytes, first_no + 1, raw=raw)
                return
            # An opening brace that does not parse alone: a pretty-printed document (handled below),
            # or a JSON-lines file whose first line is broken.
            pretty = stripped in (b"{", b"[")
        else:
            # JSON lines: replay the first line, then stream the rest.
            yield first_no, first if raw else first_obj
            yield from iter_json_lines(fh, max_bytes, first_no + 1, raw=raw)
            return
    data = read_whole(source, max_bytes)
    if isinstance(data, Rejected):
        yield 1, data
        return
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        if pretty:
            yield 1, _decode_failure(data, e, 1)
            return
        with source.open() as fh:
            yield from iter_json_lines(fh, max_bytes)
        return
    yield 1, doc


def parse(source: Source, options: FormatOptions) -> Iterator[Item]:
    """Items of an OTLP/JSON file: spans, their tool calls and feedback, and rejected records."""
    tracker = ToolCallTracker()
    map_line = line_mapper() if options.native else None
    observe = tracker.observe
    first = True
    for line_no, rec in json_records(source, options, raw=map_line is not None):
        if type(rec) is bytes:
            out: list[Item] = []
            if map_line(rec, NAME, line_no, out, observe, span_item, scope_base):   # type: ignore[misc]
                first = False
                yield from out
                continue
            rec = load_line(rec, line_no)   # a line the native path does not take: Python maps it
        if isinstance(rec, Rejected):
            yield rec
            continue
        if first and not (isinstance(rec, dict) and ("resourceSpans" in rec or "resource_spans" in rec)):
            # The first well-formed record is not a request at all: this is not OTLP, say so.
            shown = orjson.dumps(rec, default=str)[:200].decode("utf-8", "replace")
            raise DataError(f"{source.path} is not OTLP/JSON: record {line_no} has no resourceSpans", value=shown,
                            fix="pass the right --format, or --format auto to detect it")
        first = False
        yield from request_items(rec, fmt=NAME, line_no=line_no, tracker=tracker)
    yield from tracker.finish()


def sniff(source: Source) -> bool:
    head = source.head.lstrip()
    if not head and source.size == 0 and source.path.endswith((".jsonl", ".json", ".ndjson")):
        return True   # an empty file (a rotated, unused Collector output) loads as nothing
    if not head.startswith(b"{"):
        return False
    window = head[:4096]
    return b'"resourceSpans"' in window or b'"resource_spans"' in window


FORMAT = register(Format(
    name=NAME,
    description="OTLP ExportTraceServiceRequest as JSON lines (OTel Collector file exporter) or one JSON document",
    sniff=sniff,
    parse=parse,
    priority=10,
))

"""The optional native (C) fast path for OTLP/JSON lines, and the switch for it.

``_otlp_native.c`` parses each line with yyjson (vendored in ``_vendor/yyjson``) and maps the common
span shape (GenAI conventions, no events but exceptions and evaluation results, plain attribute
values, parts-based messages) straight to a frozen ``Span``: the work of ``orjson.loads``,
``otlp_json.span_item``, ``semconv.map_span`` and the loader's freeze, without a Python object for
every JSON value. It declines every other span, which ``span_item`` then maps, so Python stays the
reference: the C code calls the Python helpers for every value rule that is not plain, and
``tests/test_native_parity.py`` checks that both paths give the same rows. It also builds the span table's Arrow columns from the spans (``span_columns``).

The extension is built when the package is installed (``hatch_build.py``) if a C compiler is there;
without one, ingest runs the Python path only. ``TRACEMILL_NATIVE=0`` turns the fast path off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pyarrow as pa

from tracemill.ingest import semconv
from tracemill.ingest.records import FrozenSpan, Span, json_text, tool_call_from_span

__all__ = ["LineMapper", "available", "line_mapper", "span_columns"]

_API = 6   # _otlp_native.c's NATIVE_API: a build of an older source is not used (make install rebuilds it)
try:
    from tracemill.ingest import _otlp_native as _ext  # type: ignore[attr-defined]
except ImportError:   # not compiled (no C compiler at install time): the Python path does everything
    _ext = None
if _ext is not None and getattr(_ext, "API", None) != _API:
    _ext = None

# Attribute keys only the Python path maps: OpenInference, Vercel AI SDK, deprecated GenAI message
# forms, evaluation results, input/output values. A span (or its resource) carrying one is declined.
_DECLINE_PREFIXES = ("openinference.", "llm.", "tool.", "tool_call.", "ai.", "input.", "output.", "tag.",
                     "gen_ai.prompt", "gen_ai.completion", "gen_ai.system_instructions", "gen_ai.evaluation.")
_DECLINE_KEYS = frozenset({"input", "output"})
_SETUP_DONE = False
_FIELD_ORDER = (
    "trace_id", "span_id", "source", "parent_span_id", "name", "kind", "start_ns", "end_ns", "status_code",
    "status_message", "model", "provider", "input_tokens", "output_tokens", "total_tokens", "cost_usd",
    "input_text", "output_text", "input_messages", "output_messages", "tool_name", "tool_call_id",
    "tool_arguments", "tool_result", "user_id", "session_id", "tags", "environment", "app_version",
    "service_name", "attributes", "raw",
)


def _declined(key: str) -> bool:
    return key in _DECLINE_KEYS or key.startswith(_DECLINE_PREFIXES)


def _fast_keys() -> dict[str, tuple[int, int]]:
    """Attribute key -> (field index, rank when GenAI is native), from semconv's own dispatch table."""
    out: dict[str, tuple[int, int]] = {}
    for key, (field, g_rank, _o_rank) in semconv._DISPATCH.items():
        if _declined(key) or field >= len(semconv._FIELDS):
            continue
        if not 0 <= g_rank < 16:   # a key GenAI-native spans never read would be a table change: fail loudly
            raise RuntimeError(f"native mapper: unexpected rank {g_rank} for {key!r}")
        out[key] = (field, g_rank)
    return out


def _setup() -> None:
    global _SETUP_DONE
    names = tuple(Span.__dataclass_fields__)
    if names != _FIELD_ORDER:   # the C code writes the slots in this order
        raise RuntimeError(f"native mapper: Span fields changed ({names}); update _otlp_native.c")
    _ext.setup({
        "dumps": orjson.dumps, "loads": orjson.loads, "to_int": semconv._int, "to_float": semconv._float,
        "to_str": semconv._str, "tags": semconv._tags, "maybe_json": semconv._maybe_json,
        "normalize_messages": semconv.normalize_messages, "render_tool_calls": semconv.render_tool_calls,
        "json_text": json_text, "tracker_observe": semconv.ToolCallTracker.observe,
        "tool_call_from_span": tool_call_from_span, "evaluation_feedback": semconv._evaluation_feedback,
        "kind_map": semconv._GENAI_KIND, "status_map": _status_map(),
        "role_aliases": semconv._ROLE_ALIASES, "fast_keys": _fast_keys(),
        "decline_prefixes": _DECLINE_PREFIXES, "decline_keys": set(_DECLINE_KEYS),
        "span_type": FrozenSpan, "descriptors": tuple(Span.__dict__[n] for n in names),
    })
    _SETUP_DONE = True


def _status_map() -> dict[Any, str]:
    from tracemill.ingest.formats.otlp_json import _STATUS

    return _STATUS


def available() -> bool:
    """True when the C extension is compiled and importable."""
    return _ext is not None


LineMapper = Callable[[bytes, str, int, list, Callable, Callable, Callable], bool]


def line_mapper() -> LineMapper | None:
    """``map_line(line, source, line_no, out, observe, slow, scope_base) -> bool``: one OTLP/JSON line
    (an ``ExportTraceServiceRequest``), parsed with yyjson and mapped in C without a Python object per
    JSON value. Spans off the fast shape go to ``slow`` (``otlp_json.span_item``) as the dicts orjson
    would make, with their scope's attributes from ``scope_base(resource, scope)``. False when the
    line is not one it takes (not JSON, or a request of another shape), or while another call is
    using its buffers (another thread's): nothing was done, and the caller parses and maps the line
    in Python. None when the extension is not compiled."""
    if _ext is None:
        return None
    if not _SETUP_DONE:
        _setup()
    return _ext.map_line


# Column kinds of span_columns() (the loader's names) -> the C builder's codes.
_KIND_CODES = {"text": 0, "int": 1, "float": 2, "tags": 3, "text_or_null": 4, "json": 0}
_SPECS: dict[tuple, tuple] = {}


def span_columns(spans: list[Span], fields: tuple[tuple[str, str], ...]) -> dict[str, pa.Array] | None:
    """Arrow arrays of the given Span fields, built in C straight from the spans' slots, or None when
    some value is of a type only pyarrow's own conversion takes (the caller then uses ``pa.array``).

    ``fields``: (field name, kind) with kind text | text_or_null (empty string -> NULL) | int | float
    | json (text already serialised, stored as Arrow's JSON type) | tags (list of strings)."""
    if not _SETUP_DONE:
        _setup()
    spec = _SPECS.get(fields)
    if spec is None:
        index = {n: i for i, n in enumerate(_FIELD_ORDER)}
        spec = _SPECS[fields] = tuple((index[name], _KIND_CODES[kind]) for name, kind in fields)
    raw = _ext.columns(spans, spec)
    if raw is None:
        return None
    n = len(spans)
    out: dict[str, pa.Array] = {}
    for (name, kind), bufs in zip(fields, raw):
        if kind in ("int", "float"):
            nulls, valid, values = bufs
            typ = pa.int64() if kind == "int" else pa.float64()
            arr = pa.Array.from_buffers(typ, n, [_buf(valid), pa.py_buffer(values)], null_count=nulls)
        elif kind == "tags":
            nulls, valid, offsets, (cn, cnulls, cvalid, coffsets, cdata) = bufs
            child = pa.Array.from_buffers(pa.string(), cn, [_buf(cvalid), pa.py_buffer(coffsets), pa.py_buffer(cdata)],
                                          null_count=cnulls)
            arr = pa.Array.from_buffers(pa.list_(pa.string()), n, [_buf(valid), pa.py_buffer(offsets)], null_count=nulls,
                                        children=[child])
        else:
            nulls, valid, offsets, data = bufs
            arr = pa.Array.from_buffers(pa.string(), n, [_buf(valid), pa.py_buffer(offsets), pa.py_buffer(data)],
                                        null_count=nulls)
            if kind == "json":
                arr = pa.ExtensionArray.from_storage(pa.json_(), arr)
        out[name] = arr
    return out


def _buf(b: bytes | None) -> pa.Buffer | None:
    return None if b is None else pa.py_buffer(b)

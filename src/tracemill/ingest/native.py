"""The optional native (C) fast path for OTLP spans, and the switch for it.

``_otlp_native.c`` maps the common span shape (GenAI conventions, no events, plain attribute values,
parts-based messages) straight to a frozen ``Span``: the work of ``otlp_json.span_item``,
``semconv.map_span`` and the loader's freeze, about four times faster. It declines every other span
(returns None) and the Python path maps it, so Python stays the reference: the C code calls the
Python helpers for every value rule that is not plain, and ``tests/test_native_parity.py`` checks
that both paths give the same rows.

The extension is built when the package is installed (``hatch_build.py``) if a C compiler is there;
without one, ingest runs the Python path only. ``TRACEMILL_NATIVE=0`` turns the fast path off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from tracemill.ingest import semconv
from tracemill.ingest.records import FrozenSpan, Span, json_text

__all__ = ["available", "span_mapper"]

try:
    from tracemill.ingest import _otlp_native as _ext  # type: ignore[attr-defined]
except ImportError:   # not compiled (no C compiler at install time): the Python path does everything
    _ext = None

# Attribute keys only the Python path maps: OpenInference, Vercel AI SDK, deprecated GenAI message
# forms, evaluation results, input/output values. A span (or its resource) carrying one is declined.
_DECLINE_PREFIXES = ("openinference.", "llm.", "tool.", "tool_call.", "ai.", "input.", "output.", "tag.",
                     "gen_ai.prompt", "gen_ai.completion", "gen_ai.system_instructions", "gen_ai.evaluation.")
_DECLINE_KEYS = frozenset({"input", "output"})
_MESSAGE_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages")
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
        "json_text": json_text, "kind_map": semconv._GENAI_KIND, "status_map": _status_map(),
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


def span_mapper() -> Callable[[Any, dict[str, Any], str], tuple[Span, list | None] | None] | None:
    """``map(sp, base_attrs, source) -> (frozen Span, parsed output messages) | None``, or None when
    the extension is not compiled. (The loader asks for it unless ``TRACEMILL_NATIVE=0``.)"""
    if _ext is None:
        return None
    if not _SETUP_DONE:
        _setup()
    return _ext.span_row

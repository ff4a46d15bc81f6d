"""The normalised records every input format is parsed into before loading.

Parsers yield ``Span``, ``ToolCall``, ``Feedback`` and ``Rejected`` items; the loader batches them
into Arrow tables, validates, de-duplicates and writes them. Times are epoch nanoseconds (UTC).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

SPAN_KINDS = frozenset(
    {"llm", "tool", "agent", "chain", "retriever", "embedding", "reranker", "guardrail", "evaluator", "unknown"}
)
STATUS_CODES = frozenset({"ok", "error", "unset"})
FEEDBACK_SOURCES = frozenset({"human", "llm", "code", "user"})


@dataclass(slots=True)
class Span:
    """One span mapped onto the common schema. ``raw`` keeps the source record untouched."""

    trace_id: str
    span_id: str
    source: str                                   # format name, e.g. "otlp-json"
    parent_span_id: str | None = None
    name: str | None = None
    kind: str = "unknown"
    start_ns: int | None = None
    end_ns: int | None = None
    status_code: str = "unset"
    status_message: str | None = None
    model: str | None = None
    provider: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None
    input_text: str | None = None
    output_text: str | None = None
    input_messages: list[dict[str, Any]] | None = None
    output_messages: list[dict[str, Any]] | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None
    tool_arguments: Any = None
    tool_result: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    tags: list[str] | None = None
    environment: str | None = None
    app_version: str | None = None
    service_name: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    raw: Any = None


class FrozenSpan(Span):
    """A ``Span`` whose JSON fields (raw, attributes, messages, tool arguments) already hold JSON text,
    as ``json_text`` writes it (raw, attributes and messages as its UTF-8 bytes): what the native OTLP
    mapper returns. The loader does not freeze it again."""

    __slots__ = ()


def json_text(value: Any) -> str | None:
    """A value as the JSON text the warehouse stores (None stays None; a string that is JSON is kept)."""
    t = type(value)
    if t is dict or t is list:   # the common case first
        return orjson.dumps(value, default=str).decode()
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "backslashreplace")
    if isinstance(value, str):
        # Keep a JSON string as given when it parses; otherwise store it as a JSON string value.
        try:
            orjson.loads(value)
            return value
        except orjson.JSONDecodeError:
            return orjson.dumps(value).decode()
    return orjson.dumps(value, default=str).decode()


@dataclass(slots=True)
class ToolCall:
    """One tool call in a trace: from a tool span, or requested in an LLM message with no tool span."""

    trace_id: str
    call_id: str
    tool_name: str
    source: str
    span_id: str | None = None
    seq: int | None = None                        # position within the source, when known
    arguments: Any = None
    result: str | None = None
    status: str = "unset"
    error_message: str | None = None
    start_ns: int | None = None
    duration_ms: float | None = None


@dataclass(slots=True)
class Feedback:
    """A score, label or correction on a trace. An ingested outcome is ``key='outcome'``."""

    trace_id: str
    key: str
    source: str = "code"                          # human | llm | code | user
    score: float | None = None
    label: str | None = None
    comment: str | None = None
    correction: Any = None
    author: str | None = None
    created_ns: int | None = None
    span_id: str | None = None
    raw: Any = None
    feedback_id: str | None = None

    def resolved_id(self) -> str:
        """Stable id so re-ingesting the same feedback is a duplicate, not a new row."""
        if self.feedback_id:
            return self.feedback_id
        h = hashlib.sha256(
            "\x1f".join(
                str(x) for x in (self.trace_id, self.span_id, self.key, self.score, self.label, self.comment, self.author, self.created_ns)
            ).encode()
        ).hexdigest()
        return f"fb_{h[:24]}"


@dataclass(slots=True)
class Rejected:
    """Input that cannot be loaded. It goes to quarantine with the reason; it is never dropped.

    reason is one of: malformed_json, wrong_type, missing_id, oversized, invalid_utf8,
    unknown_format, invalid_value, malformed_proto.
    """

    reason: str
    detail: str
    raw: str | bytes | None = None
    line_no: int | None = None


Item = Span | ToolCall | Feedback | Rejected


def tool_call_from_span(span: Span, seq: int | None = None) -> ToolCall:
    """The ToolCall a tool-kind span stands for."""
    return ToolCall(
        trace_id=span.trace_id,
        call_id=span.tool_call_id or span.span_id,
        tool_name=span.tool_name or span.name or "unknown",
        source=span.source,
        span_id=span.span_id,
        seq=seq,
        arguments=span.tool_arguments,
        result=span.tool_result,
        status=span.status_code,
        error_message=span.status_message if span.status_code == "error" else None,
        start_ns=span.start_ns,
        duration_ms=(span.end_ns - span.start_ns) / 1e6 if span.start_ns is not None and span.end_ns is not None else None,
    )

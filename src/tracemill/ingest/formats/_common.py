"""Helpers shared by the JSON vendor formats (chat trajectories, LangSmith, Langfuse).

Reading a file as JSON lines, a JSON array or one JSON document; turning bad records into
``Rejected`` instead of raising; parsing timestamps to epoch ns; normalising chat messages to the
OpenAI shape; deterministic ids.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from tracemill.ingest.formats import FormatOptions, Source
from tracemill.ingest.records import Item, Rejected
from tracemill.lineage import canonical_json


# ---------------------------------------------------------------------------------------------
# Reading records
# ---------------------------------------------------------------------------------------------
def iter_json_records(
    source: Source, options: FormatOptions, *, split_arrays: bool = True
) -> Iterator[tuple[Any, int | None] | Rejected]:
    """Yield ``(record, line_no)`` for every JSON record in the source, or ``Rejected`` for bad ones.

    The file may be JSON lines, one JSON array of records (split into its elements unless
    ``split_arrays`` is false) or one JSON document. A whole-file document is yielded as is: callers
    unwrap containers such as ``{"data": [...]}``. ``line_no`` is None for whole-file records.
    """
    limit = options.max_record_bytes
    with source.open() as fh:
        line_no = 0
        first = b""
        while not first.strip():
            first = fh.readline()
            line_no += 1
            if not first:
                return
        value = _try_load(first.strip())
        if isinstance(value, dict):
            # JSON lines: the first line is a complete record on its own.
            yield _line_record(first, line_no, limit)
            yield from _lines(fh, limit, line_no)
            return
        if isinstance(value, list):
            rest = _lines(fh, limit, line_no)
            nxt = next(rest, None)
            if nxt is None:   # a one-line array file
                yield from _elements(value, limit, split_arrays)
                return
            yield _line_record(first, line_no, limit)
            yield nxt
            yield from rest
            return
        data = first + fh.read()
    if limit and len(data) > limit and not (split_arrays and data.lstrip()[:1] == b"["):
        yield Rejected("oversized", f"document of {len(data)} bytes is over the {limit}-byte limit", raw=data[:limit])
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield Rejected("invalid_utf8", f"file is not valid UTF-8: {exc}", raw=data)
        return
    try:
        whole = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        lines = data.splitlines()
        if len([x for x in lines if x.strip()]) > 1 and lines[0].strip()[:1] == b"{":
            # JSON lines whose first line is bad: judge each line on its own.
            for i, line in enumerate(lines, start=line_no):
                if line.strip():
                    yield _line_record(line, i, limit)
            return
        yield Rejected("malformed_json", f"not valid JSON: {exc}", raw=data)
        return
    if isinstance(whole, list):
        yield from _elements(whole, limit, split_arrays)
    else:
        yield whole, None


_FAIL = object()


def _try_load(b: bytes) -> Any:
    try:
        return orjson.loads(b)
    except orjson.JSONDecodeError:
        return _FAIL


def _elements(value: list[Any], limit: int, split: bool) -> Iterator[tuple[Any, None] | Rejected]:
    if not split:
        yield value, None
        return
    for i, elem in enumerate(value):
        if limit and _size(elem) > limit:
            yield Rejected("oversized", f"array element {i} is over the {limit}-byte limit", raw=raw_json(elem)[:limit])
        else:
            yield elem, None


def _line_record(line: bytes, line_no: int, limit: int) -> tuple[Any, int] | Rejected:
    s = line.strip()
    if limit and len(s) > limit:
        return Rejected("oversized", f"line of {len(s)} bytes is over the {limit}-byte limit", raw=s[:limit], line_no=line_no)
    try:
        s.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejected("invalid_utf8", f"line is not valid UTF-8: {exc}", raw=s, line_no=line_no)
    try:
        return orjson.loads(s), line_no
    except orjson.JSONDecodeError as exc:
        return Rejected("malformed_json", f"not valid JSON: {exc}", raw=s, line_no=line_no)


def _lines(fh: Any, limit: int, after: int) -> Iterator[tuple[Any, int] | Rejected]:
    line_no = after
    for line in fh:
        line_no += 1
        if line.strip():
            yield _line_record(line, line_no, limit)


def _size(value: Any) -> int:
    return len(raw_json(value))


def raw_json(value: Any) -> bytes:
    """A record as JSON bytes, for ``Rejected.raw`` (anything not JSON-native becomes a string;
    what orjson cannot encode at all, e.g. non-string keys or huge ints, is kept as its repr)."""
    try:
        return orjson.dumps(value, default=str)
    except TypeError:
        return repr(value).encode()


def parse_records(
    source: Source, options: FormatOptions, items_of: Callable[[Any], Iterable[Item]]
) -> Iterator[Item]:
    """Items of every JSON record in ``source``; rejected records and items carry their line number."""
    for rec in iter_json_records(source, options):
        if isinstance(rec, Rejected):
            yield rec
            continue
        record, line_no = rec
        for item in items_of(record):
            if isinstance(item, Rejected):
                item.line_no = line_no
            yield item


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------
def stable_hash(value: Any, n: int = 32) -> str:
    """Hex digest of the canonical JSON of ``value`` (first ``n`` chars)."""
    return hashlib.sha256(canonical_json(value)).hexdigest()[:n]


def derived_id(*parts: Any, n: int = 16) -> str:
    """A deterministic id from its parts, so re-ingest yields the same span ids."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:n]


def to_text(value: Any) -> str | None:
    """A value as text: strings unchanged, anything else as compact JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()


def maybe_json(value: Any) -> Any:
    """Parse a string holding a JSON object/array; anything else unchanged."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def to_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return None


def to_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


_ISO = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)


def parse_time_ns(value: Any) -> int | None:
    """Epoch nanoseconds from an ISO-8601 string (no zone = UTC) or an epoch number (s, ms, us or ns)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        v = float(value)
        if v <= 0:
            return None
        if v < 1e11:      # seconds
            return int(round(v * 1e9))
        if v < 1e14:      # milliseconds
            return int(round(v * 1e6))
        if v < 1e17:      # microseconds
            return int(round(v * 1e3))
        return int(v)
    if not isinstance(value, str):
        return None
    s = value.strip()
    m = _ISO.match(s)
    if not m:
        try:
            return parse_time_ns(float(s))
        except ValueError:
            return None
    date, hh, mm, ss, frac, tz = m.groups()
    tzs = "+00:00" if tz in (None, "Z", "z") else (tz if ":" in tz else f"{tz[:3]}:{tz[3:]}")
    try:
        dt = datetime.fromisoformat(f"{date}T{hh}:{mm}:{ss or '00'}{tzs}")
    except ValueError:
        return None
    ns = int((frac or "0")[:9].ljust(9, "0"))
    return int(dt.astimezone(UTC).timestamp()) * 1_000_000_000 + ns


# ---------------------------------------------------------------------------------------------
# Chat messages
# ---------------------------------------------------------------------------------------------
_ROLE_ALIASES = {
    "human": "user", "user": "user", "humanmessage": "user", "humanmessagechunk": "user",
    "ai": "assistant", "assistant": "assistant", "aimessage": "assistant", "aimessagechunk": "assistant",
    "model": "assistant", "bot": "assistant",
    "system": "system", "systemmessage": "system", "developer": "system",
    "tool": "tool", "toolmessage": "tool", "function": "function", "functionmessage": "function",
}


def content_text(content: Any) -> str | None:
    """Text of an OpenAI/Anthropic content value: a string, or the text parts of a list of parts."""
    if content is None:
        return None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for p in content:
            if isinstance(p, str):
                parts.append(p)
            elif isinstance(p, dict):
                if isinstance(p.get("text"), str):
                    parts.append(p["text"])
                elif p.get("type") == "tool_result":
                    t = content_text(p.get("content"))
                    if t:
                        parts.append(t)
        return "\n".join(parts) if parts else to_text(content)
    return to_text(content)


def normalize_tool_call(tc: Any) -> dict[str, Any] | None:
    """``{id, name, arguments}`` from an OpenAI tool call, a legacy function_call or a LangChain tool call."""
    if not isinstance(tc, dict):
        return None
    fn = tc.get("function") if isinstance(tc.get("function"), dict) else None
    name = (fn or {}).get("name") or tc.get("name")
    if not name:
        return None
    if fn is not None:
        args = fn.get("arguments")
    else:
        args = tc.get("arguments", tc.get("args", tc.get("input")))
    return {"id": tc.get("id") or tc.get("tool_call_id"), "name": str(name), "arguments": maybe_json(args)}


def normalize_message(msg: Any) -> dict[str, Any] | None:
    """One message in OpenAI shape: ``{role, content, tool_calls?, tool_call_id?, name?}``.

    Accepts OpenAI messages (``tool_calls`` or legacy ``function_call`` / role ``function``),
    LangChain dumps (``type: human|ai|tool`` or ``{"lc": 1, "kwargs": {...}}``) and Anthropic-style
    ``tool_use`` content blocks. Returns None when ``msg`` is not a message.
    """
    if not isinstance(msg, dict):
        return None
    if msg.get("lc") and isinstance(msg.get("kwargs"), dict):
        ids = msg.get("id") or []
        kind = str(ids[-1]).lower() if ids else ""
        inner = dict(msg["kwargs"])
        inner.setdefault("type", kind)
        msg = inner
    role_raw = msg.get("role") or msg.get("type")
    role = _ROLE_ALIASES.get(str(role_raw).lower()) if role_raw is not None else None
    if role is None:
        return None
    out: dict[str, Any] = {"role": role, "content": content_text(msg.get("content"))}
    calls: list[dict[str, Any]] = []
    raw_calls = msg.get("tool_calls")
    if raw_calls is None and isinstance(msg.get("additional_kwargs"), dict):
        raw_calls = msg["additional_kwargs"].get("tool_calls")
    if isinstance(raw_calls, list):
        calls.extend(c for c in (normalize_tool_call(t) for t in raw_calls) if c)
    fc = msg.get("function_call")
    if fc is None and isinstance(msg.get("additional_kwargs"), dict):
        fc = msg["additional_kwargs"].get("function_call")
    if isinstance(fc, dict) and not calls:
        c = normalize_tool_call(fc)
        if c:
            calls.append(c)
    if isinstance(msg.get("content"), list):
        for p in msg["content"]:
            if isinstance(p, dict) and p.get("type") == "tool_use":
                c = normalize_tool_call(p)
                if c:
                    calls.append(c)
    if calls:
        out["tool_calls"] = calls
    if role in ("tool", "function"):
        if msg.get("tool_call_id"):
            out["tool_call_id"] = str(msg["tool_call_id"])
        if msg.get("name"):
            out["name"] = str(msg["name"])
    return out


def openai_shape(msg: dict[str, Any]) -> dict[str, Any]:
    """A normalised message in the stored OpenAI shape (tool calls as ``{id, type, function}``)."""
    out: dict[str, Any] = {"role": "tool" if msg["role"] == "function" else msg["role"], "content": msg.get("content")}
    if msg.get("tool_calls"):
        out["tool_calls"] = [
            {"id": c.get("id"), "type": "function",
             "function": {"name": c["name"], "arguments": c["arguments"] if isinstance(c["arguments"], str) else to_text(c["arguments"])}}
            for c in msg["tool_calls"]
        ]
    for k in ("tool_call_id", "name"):
        if msg.get(k):
            out[k] = msg[k]
    return out


def get_path(record: Any, path: str) -> tuple[bool, Any]:
    """``(found, value)`` at a dotted path; integer segments index lists (``-1`` is the last)."""
    cur = record
    for seg in path.split("."):
        if isinstance(cur, dict):
            if seg not in cur:
                return False, None
            cur = cur[seg]
        elif isinstance(cur, list):
            try:
                cur = cur[int(seg)]
            except (ValueError, IndexError):
                return False, None
        else:
            return False, None
    return True, cur

"""Map OTel GenAI and OpenInference span attributes (and Vercel AI SDK ``ai.*`` ones) onto ``Span``.

Shared by every span-shaped input (OTLP JSON, OTLP protobuf, plain span lists) and usable by
any other format: call ``map_span(span, attrs, events)`` with the span's flat attribute dict.

"Native wins" rule: the convention the span itself declares is native. A span that carries
``openinference.span.kind`` is an OpenInference span, so its ``llm.*``/``input.value``/``tool.*``
attributes win over any ``gen_ai.*`` ones; every other span is read as GenAI first, with
OpenInference and then Vercel ``ai.*`` attributes as fallbacks for fields GenAI left empty.
``session.id``/``user.id``/``enduser.id`` and the resource attributes are general OTel
attributes and are read the same way for both (``session.id`` before ``gen_ai.conversation.id``,
``user.id`` before ``enduser.id``, ``tracemill.tags`` before OpenInference ``tag.tags``).
Cost: ``tracemill.cost_usd``, else ``llm.cost.total`` / ``gen_ai.usage.cost`` by the same rule.

Feedback: a ``gen_ai.evaluation.result`` event (or ``gen_ai.evaluation.*`` span attributes) becomes a
``Feedback`` with key = ``gen_ai.evaluation.name``, score, label and comment (explanation). Its source
is ``user`` for user thumbs (name ``user_feedback`` or a ``thumbs_*`` label, as the demo generator
writes them), ``code`` otherwise (``tracemill.feedback.source`` overrides).

Messages are normalised to ``[{role, content, tool_calls?: [{id, name, arguments}], tool_call_id?}]``
(plus ``name``, ``finish_reason``, ``reasoning``, ``attachments`` when present) from any of:
GenAI parts-based JSON (``gen_ai.input.messages``/``gen_ai.output.messages``/``gen_ai.system_instructions``),
the ``gen_ai.client.inference.operation.details`` event, the deprecated indexed
``gen_ai.prompt.N.*``/``gen_ai.completion.N.*`` attributes, the deprecated event form
(``gen_ai.{system,user,assistant,tool}.message`` and ``gen_ai.choice``), the deprecated JSON
``gen_ai.prompt``/``gen_ai.completion`` strings, OpenInference ``llm.{input,output}_messages.N.message.*``
and JSON ``input.value``/``output.value``, and Vercel ``ai.prompt``/``ai.prompt.messages``/``ai.response.*``.
``normalize_messages`` also accepts OpenAI chat, Anthropic and Gemini message shapes.

Kind inference when no convention names it: a span with a tool name is ``tool``; one with a
model or token usage is ``llm``; else ``unknown``.
Token counts of Vercel wrapper spans (``ai.generateText`` etc., kind ``chain``) are not mapped:
they repeat their ``doGenerate`` child's usage and would be counted twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from tracemill.ingest.records import Feedback, Span, ToolCall, tool_call_from_span

__all__ = [
    "Event",
    "ToolCallTracker",
    "decode_any",
    "decode_kvlist",
    "map_span",
    "normalize_messages",
    "normalize_system_instructions",
    "render_tool_calls",
    "requested_tool_calls",
]

# (name, time_ns, attributes) of one span event, attributes already decoded.
Event = tuple[str, int | None, dict[str, Any]]

# -- OTLP AnyValue ---------------------------------------------------------------------------------


def decode_any(v: Any) -> Any:
    """Decode an OTLP ``AnyValue`` (OTLP/JSON or ``MessageToDict`` form) to a plain Python value.

    Raises TypeError/ValueError on a value of the wrong shape (the parser turns it into ``wrong_type``).
    """
    if v is None:
        return None
    if type(v) is not dict:
        raise TypeError(f"attribute value is a {type(v).__name__}, not an AnyValue object")
    s = v.get("stringValue")
    if s is not None:
        return s
    for k, x in v.items():
        if k == "intValue":
            if type(x) is int:
                return x
            if type(x) is str:
                return int(x)
            raise TypeError(f"intValue is a {type(x).__name__}")
        if k == "doubleValue":
            return float(x)
        if k == "boolValue":
            if type(x) is not bool:
                raise TypeError(f"boolValue is a {type(x).__name__}")
            return x
        if k == "arrayValue":
            vals = x.get("values") or []
            if type(vals) is not list:
                raise TypeError("arrayValue.values is not a list")
            return [decode_any(i) for i in vals]
        if k == "kvlistValue":
            return decode_kvlist(x.get("values") or [])
        if k == "bytesValue":
            return x  # base64 text, as OTLP/JSON writes it
    return None


def decode_kvlist(kvs: Any) -> dict[str, Any]:
    """``[{"key", "value": AnyValue}]`` -> ``{key: value}``. Raises TypeError on a wrong shape."""
    if type(kvs) is not list:
        raise TypeError(f"attributes is a {type(kvs).__name__}, not a list")
    out: dict[str, Any] = {}
    # Fast path for well-formed input; anything odd is redone by the careful loop below.
    try:
        for kv in kvs:
            k = kv["key"]
            v = kv["value"]
            x = v.get("stringValue")
            if x is None:
                x = decode_any(v)
            if type(k) is not str:
                raise TypeError
            out[k] = x
        return out
    except (KeyError, TypeError, AttributeError, ValueError):
        out = {}
    for kv in kvs:
        if type(kv) is not dict:
            raise TypeError(f"attribute is a {type(kv).__name__}, not a key/value object")
        key = kv.get("key")
        if type(key) is not str:
            raise TypeError("attribute without a string key")
        out[key] = decode_any(kv.get("value"))
    return out


# -- small coercions -------------------------------------------------------------------------------


_INT64 = 2**63


def _int(v: Any) -> int | None:
    """A token count as an int; None when absent, not a number or beyond int64."""
    t = type(v)
    if t is int:
        return v if -_INT64 < v < _INT64 else None
    if t is float:
        return _int(int(v)) if math.isfinite(v) else None
    if t is str:
        try:
            return _int(int(v))
        except ValueError:
            try:
                return _int(int(float(v)))
            except (ValueError, OverflowError):
                return None
    return None


def _float(v: Any) -> float | None:
    """A finite float, or None. (Negative values pass: rejecting them is validation's job.)"""
    t = type(v)
    if t is int or t is float:
        f = float(v)
    elif t is str:
        try:
            f = float(v)
        except ValueError:
            return None
    else:
        return None
    return f if math.isfinite(f) else None


def _str(v: Any) -> str | None:
    if v is None:
        return None
    if type(v) is str:
        return v
    return orjson.dumps(v, default=str).decode()


def _maybe_json(v: Any) -> Any:
    """Parse a JSON-looking string; anything else is returned unchanged."""
    if type(v) is str:
        s = v.lstrip()
        if s[:1] in ("{", "["):
            try:
                return orjson.loads(s)
            except orjson.JSONDecodeError:
                return v
    return v


def _unquote(v: Any) -> Any:
    """A JSON-encoded string literal (``'"text"'``, as the Vercel AI SDK records values) -> its text."""
    if type(v) is str and len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        try:
            return orjson.loads(v)
        except orjson.JSONDecodeError:
            return v
    return v


def _tags(v: Any) -> list[str] | None:
    if v is None:
        return None
    if type(v) is str:
        parsed = _maybe_json(v)
        if isinstance(parsed, list):
            v = parsed
        else:
            return [t.strip() for t in v.split(",") if t.strip()] or None
    if isinstance(v, list):
        return [str(t) for t in v if t is not None] or None
    return [str(v)]


# -- messages ----------------------------------------------------------------------------------------

_ROLE_ALIASES = {"human": "user", "ai": "assistant", "model": "assistant", "function": "tool", "bot": "assistant"}
_TEXT_TYPES = frozenset({"text", "input_text", "output_text"})
_ATTACHMENT_KEYS = ("type", "modality", "mime_type", "mimeType", "uri", "url", "file_id", "image_url")


def _call(cid: Any, name: Any, arguments: Any) -> dict[str, Any]:
    return {"id": None if cid is None else str(cid), "name": None if name is None else str(name),
            "arguments": _maybe_json(arguments)}


def _openai_tool_call(tc: Any) -> dict[str, Any] | None:
    if not isinstance(tc, dict):
        return None
    fn = tc.get("function")
    if isinstance(fn, dict):
        return _call(tc.get("id"), fn.get("name"), fn.get("arguments"))
    args = tc.get("arguments")
    if args is None:
        args = tc.get("args", tc.get("input"))
    return _call(tc.get("id", tc.get("toolCallId")), tc.get("name", tc.get("toolName")), args)


class _Acc:
    __slots__ = ("texts", "calls", "responses", "server_results", "reasoning", "attachments")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.calls: list[dict[str, Any]] = []
        self.responses: list[tuple[Any, Any]] = []
        self.server_results: dict[Any, Any] = {}
        self.reasoning: list[str] = []
        self.attachments: list[dict[str, Any]] = []

    def part(self, p: Any) -> None:
        if type(p) is str:
            self.texts.append(p)
            return
        if not isinstance(p, dict):
            return
        t = p.get("type")
        if t in _TEXT_TYPES or (t is None and "text" in p):
            txt = p.get("content")
            if txt is None:
                txt = p.get("text")
            if txt is not None:
                self.texts.append(txt if type(txt) is str else _str(txt) or "")
        elif t == "tool_call":                       # GenAI
            self.calls.append(_call(p.get("id"), p.get("name"), p.get("arguments")))
        elif t == "tool-call":                       # Vercel AI SDK
            self.calls.append(_call(p.get("toolCallId"), p.get("toolName"), p.get("input", p.get("args"))))
        elif t == "tool_use":                        # Anthropic
            self.calls.append(_call(p.get("id"), p.get("name"), p.get("input")))
        elif t == "function_call":                   # OpenAI Responses
            self.calls.append(_call(p.get("call_id", p.get("id")), p.get("name"), p.get("arguments")))
        elif t == "server_tool_call":                # GenAI built-in (provider-executed) tool
            c = _call(p.get("id"), p.get("name"), p.get("server_tool_call"))
            c["server"] = True
            self.calls.append(c)
        elif t == "tool_call_response":
            self.responses.append((p.get("id"), p.get("response")))
        elif t == "tool-result":
            self.responses.append((p.get("toolCallId"), p.get("output", p.get("result"))))
        elif t == "tool_result":
            self.responses.append((p.get("tool_use_id"), p.get("content")))
        elif t == "function_call_output":
            self.responses.append((p.get("call_id"), p.get("output")))
        elif t == "server_tool_call_response":
            self.server_results[p.get("id")] = p.get("server_tool_call_response")
        elif t in ("reasoning", "thinking"):
            r = p.get("content", p.get("text", p.get("thinking")))
            if r is not None:
                self.reasoning.append(r if type(r) is str else _str(r) or "")
        elif "functionCall" in p:                    # Gemini
            fc = p["functionCall"] if isinstance(p["functionCall"], dict) else {}
            self.calls.append(_call(fc.get("id"), fc.get("name"), fc.get("args")))
        elif "functionResponse" in p:
            fr = p["functionResponse"] if isinstance(p["functionResponse"], dict) else {}
            self.responses.append((fr.get("id") or fr.get("name"), fr.get("response")))
        else:  # blob / file / uri / image: keep a small reference, never inline bytes
            att = {k: p[k] for k in _ATTACHMENT_KEYS if k in p}
            if att:
                self.attachments.append(att)


def _norm_one(m: Any, default_role: str | None, out: list[dict[str, Any]]) -> None:
    if m is None:
        return
    if type(m) is str:
        out.append({"role": default_role or "user", "content": m})
        return
    if not isinstance(m, dict):
        out.append({"role": default_role or "user", "content": _str(m)})
        return
    inner = m.get("message")
    if isinstance(inner, str):
        inner = _maybe_json(inner)
    if isinstance(inner, dict) and "parts" not in m and "content" not in m:   # a gen_ai.choice body
        n0 = len(out)
        _norm_one(inner, default_role or "assistant", out)
        fr = m.get("finish_reason")
        if fr is not None:
            for msg in out[n0:]:
                msg.setdefault("finish_reason", fr)
        return
    role = m.get("role")
    if role is None:
        t = m.get("type")
        role = t if t in ("human", "ai", "system", "tool", "user", "assistant") else default_role
    role = _ROLE_ALIASES.get(role, role) if type(role) is str else (default_role or "user")
    acc = _Acc()
    parts = m.get("parts")
    if isinstance(parts, list):
        for p in parts:
            acc.part(p)
    content = m.get("content")
    if type(content) is str:
        acc.texts.append(content)
    elif isinstance(content, list):
        for p in content:
            acc.part(p)
    elif isinstance(content, dict):
        acc.part(content)
    elif content is not None:
        acc.texts.append(_str(content) or "")
    if not parts and content is None:
        txt = m.get("text")
        if txt is not None:
            acc.texts.append(txt if type(txt) is str else _str(txt) or "")
    tcs = m.get("tool_calls")
    if isinstance(tcs, str):
        tcs = _maybe_json(tcs)
    if isinstance(tcs, list):
        for tc in tcs:
            c = _openai_tool_call(tc)
            if c is not None:
                acc.calls.append(c)
    fc = m.get("function_call")
    if isinstance(fc, dict):
        acc.calls.append(_call(None, fc.get("name"), fc.get("arguments")))
    if acc.server_results:
        for c in acc.calls:
            if c.get("server") and c["id"] in acc.server_results:
                c["result"] = acc.server_results[c["id"]]

    # Each tool result becomes its own tool message, so every result has its tool_call_id.
    for rid, resp in acc.responses:
        out.append({"role": "tool", "content": _str(resp),
                    "tool_call_id": None if rid is None else str(rid)})
    if acc.responses and not acc.texts and not acc.calls:
        return
    msg: dict[str, Any] = {"role": role, "content": "\n".join(acc.texts) if acc.texts else None}
    if acc.calls:
        msg["tool_calls"] = acc.calls
    tcid = m.get("tool_call_id", m.get("id") if role == "tool" else None)
    if tcid is not None:
        msg["tool_call_id"] = str(tcid)
    for k in ("name", "finish_reason"):
        v = m.get(k)
        if v is not None:
            msg[k] = v
    if acc.reasoning:
        msg["reasoning"] = "\n".join(acc.reasoning)
    if acc.attachments:
        msg["attachments"] = acc.attachments
    out.append(msg)


def normalize_messages(value: Any, default_role: str | None = None) -> list[dict[str, Any]] | None:
    """Normalise a message list (or one message, or its JSON text) to the common message shape.

    Accepts GenAI parts-based messages, OpenAI chat (``content`` + ``tool_calls``), Vercel AI SDK
    and Anthropic content parts, Gemini parts, and gen_ai.choice bodies. A plain string becomes one
    message with ``default_role``. Returns None for None.
    """
    if value is None:
        return None
    if type(value) is str:
        parsed = _maybe_json(value)
        if parsed is value:
            return [{"role": default_role or "user", "content": value}]
        value = parsed
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        value = value["messages"]
    out: list[dict[str, Any]] = []
    if isinstance(value, list):
        for m in value:
            # Fast path: a GenAI message with a single text / tool_call / tool_call_response part.
            if type(m) is dict:
                parts = m.get("parts")
                if type(parts) is list and len(parts) == 1 and len(m) <= 3:
                    p = parts[0]
                    role = m.get("role")
                    if type(p) is dict and type(role) is str and role not in _ROLE_ALIASES:
                        t = p.get("type")
                        fr = m.get("finish_reason")
                        if len(m) == 2 or fr is not None:
                            if t == "text":
                                c = p.get("content")
                                if type(c) is str:
                                    msg = {"role": role, "content": c}
                                    if fr is not None:
                                        msg["finish_reason"] = fr
                                    out.append(msg)
                                    continue
                            elif t == "tool_call":
                                msg = {"role": role, "content": None,
                                       "tool_calls": [_call(p.get("id"), p.get("name"), p.get("arguments"))]}
                                if fr is not None:
                                    msg["finish_reason"] = fr
                                out.append(msg)
                                continue
                            elif t == "tool_call_response" and fr is None:
                                rid = p.get("id")
                                out.append({"role": "tool", "content": _str(p.get("response")),
                                            "tool_call_id": None if rid is None else str(rid)})
                                continue
            _norm_one(m, default_role, out)
    else:
        _norm_one(value, default_role, out)
    return out


def normalize_system_instructions(value: Any) -> list[dict[str, Any]] | None:
    """``gen_ai.system_instructions`` (a list of parts, or text) -> system message(s)."""
    if value is None:
        return None
    value = _maybe_json(value)
    if type(value) is str:
        return [{"role": "system", "content": value}]
    if isinstance(value, dict):
        value = [value]
    acc = _Acc()
    for p in value if isinstance(value, list) else []:
        acc.part(p)
    if not acc.texts:
        return None
    return [{"role": "system", "content": "\n".join(acc.texts)}]


def render_tool_calls(calls: Sequence[dict[str, Any]]) -> str:
    """``name(arguments)`` for each call, one per line: a readable output for tool-call-only replies."""
    return "\n".join(
        f"{c.get('name')}({_str(c.get('arguments')) if c.get('arguments') is not None else ''})" for c in calls
    )


def _indexed_messages(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]] | None:
    """Flattened indexed messages: OpenInference ``llm.input_messages.N.message.*`` and the
    deprecated GenAI ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` forms."""
    plen = len(prefix)
    msgs: dict[int, dict[str, Any]] = {}
    for k, v in attrs.items():
        if not k.startswith(prefix):
            continue
        i, _, sub = k[plen:].partition(".")
        if not i.isdigit():
            continue
        m = msgs.setdefault(int(i), {})
        if sub.startswith("message."):
            sub = sub[8:]
        if sub in ("role", "content", "name", "tool_call_id", "finish_reason"):
            m[sub] = v
        elif sub.startswith("contents."):
            j, _, f = sub[9:].partition(".")
            part = m.setdefault("_contents", {}).setdefault(int(j) if j.isdigit() else 0, {})
            f = f.removeprefix("message_content.")
            if f == "text":
                part["text"] = v
            elif f == "type":
                part["type"] = v
            elif f.endswith("url"):
                part["url"] = v
        elif sub.startswith("tool_calls."):
            j, _, f = sub[11:].partition(".")
            tc = m.setdefault("_calls", {}).setdefault(int(j) if j.isdigit() else 0, {})
            f = f.removeprefix("tool_call.").removeprefix("function.")
            if f in ("id", "name", "arguments"):
                tc[f] = v
    if not msgs:
        return None
    raw: list[dict[str, Any]] = []
    for _, m in sorted(msgs.items()):
        d: dict[str, Any] = {k: v for k, v in m.items() if not k.startswith("_")}
        if "_contents" in m and d.get("content") is None:
            d["content"] = [
                {"type": "text", "text": p.get("text")} if p.get("type", "text") == "text" else
                {"type": p.get("type"), "url": p.get("url")}
                for _, p in sorted(m["_contents"].items())
            ]
        if "_calls" in m:
            d["tool_calls"] = [c for _, c in sorted(m["_calls"].items())]
        raw.append(d)
    return normalize_messages(raw)


def _value_messages(v: Any, default_role: str) -> list[dict[str, Any]] | None:
    """Messages inside an ``input.value``/``output.value`` JSON (a message list or ``{"messages": [...]}``)."""
    if v is None:
        return None
    parsed = _maybe_json(v)
    if isinstance(parsed, dict) and isinstance(parsed.get("messages"), list):
        parsed = parsed["messages"]
    if isinstance(parsed, list) and parsed and all(isinstance(m, dict) and "role" in m for m in parsed):
        return normalize_messages(parsed, default_role)
    return None


_TEXT_KEYS = ("text", "content", "output", "answer", "result", "response")


_PLAIN = "text/plain"


def _render_value(v: Any, mime: Any = None) -> str | None:
    """A readable string for an input/output value: JSON ``{"text": ...}`` shapes are unwrapped
    (unless the value's mime type says it is plain text)."""
    if v is None:
        return None
    if mime == _PLAIN and type(v) is str:
        return v
    parsed = _maybe_json(v)
    if isinstance(parsed, dict):
        for k in _TEXT_KEYS:
            x = parsed.get(k)
            if type(x) is str:
                return x
        if isinstance(parsed.get("prompt"), str):
            return parsed["prompt"]
    return v if type(v) is str else _str(v)


def _last_content(msgs: list[dict[str, Any]] | None, roles: tuple[str, ...]) -> str | None:
    if not msgs:
        return None
    for m in reversed(msgs):
        if m.get("role") in roles:
            c = m.get("content")
            if c:
                return c
            if m.get("tool_calls"):
                return render_tool_calls(m["tool_calls"])
    return None


# -- per-convention extraction -----------------------------------------------------------------------

_OI_KIND = {
    "LLM": "llm", "TOOL": "tool", "AGENT": "agent", "CHAIN": "chain", "RETRIEVER": "retriever",
    "EMBEDDING": "embedding", "RERANKER": "reranker", "GUARDRAIL": "guardrail", "EVALUATOR": "evaluator",
}
_GENAI_KIND = {
    "chat": "llm", "text_completion": "llm", "generate_content": "llm", "execute_tool": "tool",
    "invoke_agent": "agent", "create_agent": "agent", "embeddings": "embedding",
}
_VERCEL_KIND = {
    "ai.generateText": "chain", "ai.streamText": "chain", "ai.generateObject": "chain", "ai.streamObject": "chain",
    "ai.embed": "chain", "ai.embedMany": "chain",
    "ai.generateText.doGenerate": "llm", "ai.streamText.doStream": "llm",
    "ai.generateObject.doGenerate": "llm", "ai.streamObject.doStream": "llm",
    "ai.embed.doEmbed": "embedding", "ai.embedMany.doEmbed": "embedding", "ai.toolCall": "tool",
}
_EVENT_ROLE = {
    "gen_ai.system.message": "system", "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant", "gen_ai.tool.message": "tool",
}
_EVENT_META = frozenset({"gen_ai.system", "gen_ai.provider.name", "event.name"})

# Attribute keys per field, per convention. Order within a tuple = preference.
_GENAI = {
    "model": ("gen_ai.response.model", "gen_ai.request.model"),
    "provider": ("gen_ai.provider.name", "gen_ai.system"),
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    "output_tokens": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    "total_tokens": ("gen_ai.usage.total_tokens",),
    "cost": ("gen_ai.usage.cost",),
    "session": ("session.id", "gen_ai.conversation.id"),
    "tool_name": ("gen_ai.tool.name",),
    "tool_call_id": ("gen_ai.tool.call.id",),
    "tool_args": ("gen_ai.tool.call.arguments",),
    "tool_result": ("gen_ai.tool.call.result",),
}
_OI = {
    "model": ("llm.model_name",),
    "provider": ("llm.provider", "llm.system"),
    "input_tokens": ("llm.token_count.prompt",),
    "output_tokens": ("llm.token_count.completion",),
    "total_tokens": ("llm.token_count.total",),
    "cost": ("llm.cost.total",),
    "session": ("session.id",),
    "tool_name": ("tool.name", "tool_call.function.name"),
    "tool_call_id": ("tool_call.id",),
    "tool_args": ("tool_call.function.arguments",),
    "tool_result": (),
}
_VERCEL = {
    "model": ("ai.response.model", "ai.model.id"),
    "provider": ("ai.model.provider",),
    "input_tokens": ("ai.usage.inputTokens", "ai.usage.promptTokens"),
    "output_tokens": ("ai.usage.outputTokens", "ai.usage.completionTokens"),
    "total_tokens": ("ai.usage.totalTokens", "ai.usage.tokens"),
    "cost": (),
    "session": (),
    "tool_name": ("ai.toolCall.name",),
    "tool_call_id": ("ai.toolCall.id",),
    "tool_args": ("ai.toolCall.args", "ai.toolCall.input"),
    "tool_result": ("ai.toolCall.result", "ai.toolCall.output"),
}
_COMMON_FIRST = {"cost": ("tracemill.cost_usd",)}
_KEYS_GENAI_NATIVE = {f: _COMMON_FIRST.get(f, ()) + _GENAI[f] + _OI[f] + _VERCEL[f] for f in _GENAI}
_KEYS_OI_NATIVE = {f: _COMMON_FIRST.get(f, ()) + _OI[f] + _GENAI[f] + _VERCEL[f] for f in _GENAI}
_TOKEN_KINDS = frozenset({"llm", "embedding"})
_LLM_HINTS = ("gen_ai.request.model", "gen_ai.response.model", "llm.model_name",
              "gen_ai.usage.input_tokens", "llm.token_count.prompt")


def _event_body(ea: dict[str, Any]) -> Any:
    if "gen_ai.event.content" in ea:
        return _maybe_json(ea["gen_ai.event.content"])
    if "body" in ea:
        return _maybe_json(ea["body"])
    return {k: _maybe_json(v) if k in ("tool_calls", "message") else v for k, v in ea.items() if k not in _EVENT_META}


def _genai_messages(attrs: dict[str, Any], events: Sequence[Event] | None) -> tuple[list | None, list | None]:
    get = attrs.get
    inp = normalize_messages(get("gen_ai.input.messages"), "user")
    out = normalize_messages(get("gen_ai.output.messages"), "assistant")
    if events and (inp is None or out is None):
        ev_in: list[dict[str, Any]] = []
        choices: list[tuple[int, list[dict[str, Any]]]] = []
        for name, _t, ea in events:
            role = _EVENT_ROLE.get(name)
            if role is not None:
                body = _event_body(ea)
                if isinstance(body, dict):
                    body = dict(body)
                    body.setdefault("role", role)
                    if role == "tool" and "id" in body:
                        body.setdefault("tool_call_id", body["id"])
                _norm_one(body, role, ev_in)
            elif name == "gen_ai.choice":
                body = _event_body(ea)
                idx = _int(body.get("index")) if isinstance(body, dict) else None
                msgs: list[dict[str, Any]] = []
                _norm_one(body, "assistant", msgs)
                choices.append((idx if idx is not None else len(choices), msgs))
            elif name == "gen_ai.client.inference.operation.details":
                if inp is None:
                    inp = normalize_messages(ea.get("gen_ai.input.messages"), "user")
                if out is None:
                    out = normalize_messages(ea.get("gen_ai.output.messages"), "assistant")
                si = normalize_system_instructions(ea.get("gen_ai.system_instructions"))
                if si and "gen_ai.system_instructions" not in attrs:
                    inp = si + (inp or [])
        if inp is None and ev_in:
            inp = ev_in
        if out is None and choices:
            out = [m for _, ms in sorted(choices, key=lambda c: c[0]) for m in ms]
    if inp is None and ("gen_ai.prompt.0.content" in attrs or "gen_ai.prompt.0.role" in attrs):
        inp = _indexed_messages(attrs, "gen_ai.prompt.")
    if out is None and ("gen_ai.completion.0.content" in attrs or "gen_ai.completion.0.role" in attrs):
        out = _indexed_messages(attrs, "gen_ai.completion.")
    if inp is None:
        inp = normalize_messages(get("gen_ai.prompt"), "user")
    if out is None:
        out = normalize_messages(get("gen_ai.completion"), "assistant")
    si = normalize_system_instructions(get("gen_ai.system_instructions"))
    if si:
        inp = si + (inp or [])
    return inp, out


def _oi_messages(attrs: dict[str, Any], kind: str) -> tuple[list | None, list | None]:
    inp = out = None
    if "llm.input_messages.0.message.role" in attrs or "llm.input_messages.0.message.content" in attrs:
        inp = _indexed_messages(attrs, "llm.input_messages.")
    if "llm.output_messages.0.message.role" in attrs or "llm.output_messages.0.message.content" in attrs:
        out = _indexed_messages(attrs, "llm.output_messages.")
    if kind == "llm":
        if inp is None and attrs.get("input.mime_type") != _PLAIN:
            inp = _value_messages(attrs.get("input.value"), "user")
        if out is None:
            ov = attrs.get("output.value")
            out = _value_messages(ov, "assistant") if attrs.get("output.mime_type") != _PLAIN else None
            if out is None and ov is not None:
                text = _render_value(ov, attrs.get("output.mime_type"))
                out = [{"role": "assistant", "content": text}] if text is not None else None
    return inp, out


def _vercel_messages(attrs: dict[str, Any]) -> tuple[list | None, list | None]:
    get = attrs.get
    inp = None
    pm = get("ai.prompt.messages")
    if pm is not None:
        inp = normalize_messages(pm, "user")
    else:
        p = _maybe_json(get("ai.prompt"))
        if isinstance(p, dict):
            msgs: list[dict[str, Any]] = []
            if isinstance(p.get("system"), str):
                msgs.append({"role": "system", "content": p["system"]})
            if isinstance(p.get("messages"), list):
                msgs.extend(normalize_messages(p["messages"], "user") or [])
            elif p.get("prompt") is not None:
                msgs.extend(normalize_messages(p["prompt"], "user") or [])
            inp = msgs or None
        elif type(p) is str:
            inp = [{"role": "user", "content": p}]
    out = None
    text = get("ai.response.text")
    obj = get("ai.response.object")
    tcs = _maybe_json(get("ai.response.toolCalls"))
    if text is not None or obj is not None or tcs:
        m: dict[str, Any] = {"role": "assistant", "content": text if text is not None else _str(obj)}
        if isinstance(tcs, list) and tcs:
            m["tool_calls"] = [c for c in (_openai_tool_call(t) for t in tcs) if c is not None]
        fr = get("ai.response.finishReason")
        if fr is not None:
            m["finish_reason"] = fr
        out = [m]
    return inp, out


def _evaluation_feedback(span: Span, ea: dict[str, Any], t: int | None) -> Feedback | None:
    name = ea.get("gen_ai.evaluation.name")
    score = _float(ea.get("gen_ai.evaluation.score.value"))
    label = ea.get("gen_ai.evaluation.score.label")
    if name is None and score is None and label is None:
        return None
    label_s = None if label is None else str(label)
    # User thumbs (the demo's user_feedback) are user feedback; other evaluations are automated.
    src = ea.get("tracemill.feedback.source")
    if src not in ("human", "llm", "code", "user"):
        src = "user" if (name == "user_feedback" or (label_s or "").startswith("thumbs")) else "code"
    return Feedback(
        trace_id=span.trace_id, span_id=span.span_id, key=str(name or "evaluation"), source=src,
        score=score, label=label_s, comment=_str(ea.get("gen_ai.evaluation.explanation")),
        author=_str(ea.get("gen_ai.evaluation.author")), created_ns=t, raw=ea,
    )


# Single-pass dispatch: attribute key -> (field index, rank when GenAI is native, rank when
# OpenInference is native). Lower rank wins; the loop visits each attribute once.
_FIELDS = ("model", "provider", "input_tokens", "output_tokens", "total_tokens", "cost", "session",
           "tool_name", "tool_call_id", "tool_args", "tool_result", "user", "tags", "env", "version", "service")
(F_MODEL, F_PROVIDER, F_IN, F_OUT, F_TOTAL, F_COST, F_SESSION, F_TOOL_NAME, F_TOOL_ID, F_TOOL_ARGS,
 F_TOOL_RES, F_USER, F_TAGS, F_ENV, F_VERSION, F_SERVICE) = range(len(_FIELDS))
_GENERAL = {
    "user": ("user.id", "enduser.id"), "tags": ("tracemill.tags", "tag.tags"),
    "env": ("deployment.environment.name", "deployment.environment"), "version": ("service.version",),
    "service": ("service.name",),
}


def _build_dispatch() -> dict[str, tuple[int, int, int]]:
    table: dict[str, tuple[int, int, int]] = {}
    for fi, f in enumerate(_FIELDS):
        g_order = _GENERAL.get(f) or _KEYS_GENAI_NATIVE[f]
        o_order = _GENERAL.get(f) or _KEYS_OI_NATIVE[f]
        for k in dict.fromkeys(g_order + o_order):
            table[k] = (fi, g_order.index(k) if k in g_order else 99, o_order.index(k) if k in o_order else 99)
    return table


_DISPATCH = _build_dispatch()
# Presence flags for message-bearing keys, so spans without them skip the message extractors.
F_GENAI_MSG, F_OI_MSG = len(_FIELDS), len(_FIELDS) + 1
for _k in ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.prompt",
           "gen_ai.completion", "gen_ai.prompt.0.role", "gen_ai.prompt.0.content", "gen_ai.completion.0.role",
           "gen_ai.completion.0.content"):
    _DISPATCH[_k] = (F_GENAI_MSG, 0, 0)
for _k in ("llm.input_messages.0.message.role", "llm.input_messages.0.message.content",
           "llm.output_messages.0.message.role", "llm.output_messages.0.message.content", "input.value", "output.value"):
    _DISPATCH[_k] = (F_OI_MSG, 0, 0)
_NF = len(_FIELDS) + 2


def map_span(span: Span, attrs: dict[str, Any], events: Sequence[Event] | None = None) -> list[Feedback]:
    """Fill ``span``'s typed fields from its flat attributes (resource + scope + span) and events.

    ``span.attributes`` is set to ``attrs``. Ids, times, status and name are the caller's job
    (they are not attributes). Returns feedback carried by the span (``gen_ai.evaluation.*``).
    """
    get = attrs.get
    span.attributes = attrs
    oi_kind = get("openinference.span.kind")
    native_oi = oi_kind is not None
    kind = _OI_KIND.get(str(oi_kind).upper()) if native_oi else None
    if kind is None:
        op = get("gen_ai.operation.name")
        if type(op) is str:
            kind = _GENAI_KIND.get(op)
    vercel = "ai.operationId" in attrs
    if kind is None and vercel and type(attrs["ai.operationId"]) is str:
        kind = _VERCEL_KIND.get(attrs["ai.operationId"])
    if kind is None:
        if "gen_ai.tool.name" in attrs or "tool.name" in attrs:
            kind = "tool"
        elif any(k in attrs for k in _LLM_HINTS):
            kind = "llm"
        else:
            kind = "unknown"
    span.kind = kind

    vals: list[Any] = [None] * _NF
    ranks = [100] * _NF
    r = 2 if native_oi else 1
    dispatch = _DISPATCH.get
    for k, v in attrs.items():
        d = dispatch(k)
        if d is not None and v is not None:
            fi = d[0]
            rk = d[r]
            if rk < ranks[fi]:
                ranks[fi] = rk
                vals[fi] = v

    v = vals[F_MODEL]
    span.model = None if v is None else str(v)
    v = vals[F_PROVIDER]
    span.provider = None if v is None else str(v)
    if kind in _TOKEN_KINDS or not vercel:
        span.input_tokens = _int(vals[F_IN])
        span.output_tokens = _int(vals[F_OUT])
        span.total_tokens = _int(vals[F_TOTAL])
    span.cost_usd = _float(vals[F_COST])
    v = vals[F_USER]
    span.user_id = None if v is None else str(v)
    v = vals[F_SESSION]
    span.session_id = None if v is None else str(v)
    span.tags = _tags(vals[F_TAGS])
    v = vals[F_ENV]
    span.environment = None if v is None else str(v)
    v = vals[F_VERSION]
    span.app_version = None if v is None else str(v)
    v = vals[F_SERVICE]
    span.service_name = None if v is None else str(v)

    # Tools
    if kind == "tool" or vals[F_TOOL_NAME] is not None:
        v = vals[F_TOOL_NAME]
        span.tool_name = None if v is None else str(v)
        v = vals[F_TOOL_ID]
        span.tool_call_id = None if v is None else str(v)
        args = vals[F_TOOL_ARGS]
        if args is None and kind == "tool":
            args = get("input.value") if native_oi else None
            if args is None:
                args = get("input")
            if args is None and not native_oi:
                args = get("input.value")
        span.tool_arguments = _maybe_json(args)
        res = vals[F_TOOL_RES]
        if res is None and kind == "tool":
            res = get("output.value")
            if res is None:
                res = get("output")
        span.tool_result = _str(res)

    # Messages: native convention first, the others fill what it left empty.
    order = ("oi", "genai", "vercel") if native_oi else ("genai", "oi", "vercel")
    inp = out = None
    for conv in order:
        if conv == "genai":
            if vals[F_GENAI_MSG] is None and not events:
                continue
            i, o = _genai_messages(attrs, events)
        elif conv == "oi":
            if vals[F_OI_MSG] is None:
                continue
            i, o = _oi_messages(attrs, kind)
        else:
            if not vercel:
                continue
            i, o = _vercel_messages(attrs)
        if inp is None:
            inp = i
        if out is None:
            out = o
        if inp is not None and out is not None:
            break
    span.input_messages = inp
    span.output_messages = out

    # Readable input/output text.
    iv = get("input.value")
    ov = get("output.value")
    imime = get("input.mime_type")
    omime = get("output.mime_type")
    if native_oi:
        if iv is None or (imime != _PLAIN and _value_messages(iv, "user")):
            in_text = _last_content(inp, ("user",))
        else:
            in_text = _render_value(iv, imime)
        out_text = _render_value(ov, omime) if ov is not None else _last_content(out, ("assistant",))
    else:
        in_text = _last_content(inp, ("user",))
        out_text = _last_content(out, ("assistant",))
        if in_text is None and iv is not None:
            in_text = _render_value(iv, imime)
        if out_text is None and ov is not None:
            out_text = _render_value(ov, omime)
    if in_text is None:
        if kind == "tool" and span.tool_arguments is not None:
            in_text = _str(span.tool_arguments)
        elif get("ai.value") is not None or get("ai.values") is not None:
            av = get("ai.value")
            av = _maybe_json(av if av is not None else get("ai.values"))
            if isinstance(av, list):
                av = "\n".join(_str(_unquote(y)) or "" for y in av)
            in_text = _str(_unquote(av))
        elif get("input") is not None:
            in_text = _render_value(get("input"))
        elif inp:
            in_text = _last_content(inp, ("user", "tool", "system"))
    if out_text is None:
        if kind == "tool" and span.tool_result is not None:
            out_text = span.tool_result
        elif get("output") is not None:
            out_text = _render_value(get("output"))
    span.input_text = in_text
    span.output_text = out_text

    # Feedback and exception details.
    fbs: list[Feedback] = []
    if "gen_ai.evaluation.name" in attrs or "gen_ai.evaluation.score.value" in attrs:
        fb = _evaluation_feedback(span, attrs, span.end_ns)
        if fb is not None:
            fbs.append(fb)
    if events:
        for name, t, ea in events:
            if name == "gen_ai.evaluation.result":
                fb = _evaluation_feedback(span, ea, t)
                if fb is not None:
                    fbs.append(fb)
            elif name == "exception" and span.status_code == "error" and not span.status_message:
                msg = ea.get("exception.message")
                if msg is not None:
                    typ = ea.get("exception.type")
                    span.status_message = f"{typ}: {msg}" if typ else str(msg)
    return fbs


def requested_tool_calls(span: Span, output_messages: list[dict[str, Any]] | None = None) -> Iterable[tuple[int, int, dict[str, Any]]]:
    """(message index, call index, call) for each tool call the span's output messages request
    (``output_messages``, when given, stands for a frozen span's parsed ones)."""
    for i, m in enumerate((span.output_messages if output_messages is None else output_messages) or ()):
        for j, c in enumerate(m.get("tool_calls") or ()):
            yield i, j, c


class ToolCallTracker:
    """Tool calls of the traces in one input: one per tool span, plus requested-but-not-executed calls.

    Rule (no double counting): an LLM span's output messages request tool calls. At the end of the
    input each request is matched (1) by id to a tool span with that ``tool_call_id``, else (2) by tool
    name to a tool span of the same trace that no request matched by id, first come first served.
    Requests still unmatched become ``ToolCall`` rows (status 'unset', or 'ok' for a provider-executed
    ``server_tool_call`` with its result); their ``call_id`` is the request's id, or
    ``<llm span id>:<message>:<call>`` when the request has none. Tool calls in *input* messages are
    history and never counted (a chat app resends them on every turn). Only the traces seen in the
    same input are matched: a late tool span in a later file with the same call id is a duplicate
    (same ``call_id``), one without ids may be counted twice.
    """

    __slots__ = ("_traces",)

    def __init__(self) -> None:
        # trace_id -> [next seq, executed tool spans [(call_id, name)], requests [(seq, span, i, j, call)]]
        # _otlp_native.c (track) keeps these records itself for the spans it maps: change both together
        # (tests/test_native_parity.py compares the tool calls).
        self._traces: dict[str, list[Any]] = {}

    def _entry(self, trace_id: str) -> list[Any]:
        e = self._traces.get(trace_id)
        if e is None:
            e = self._traces[trace_id] = [0, [], []]
        return e

    def observe(self, span: Span, output_messages: list[dict[str, Any]] | None = None) -> ToolCall | None:
        """Register a mapped span BEFORE yielding it (the loader serialises a span's fields as it
        receives it); returns the ToolCall of a tool span, to yield right after the span. A frozen
        span (native mapper) passes its parsed ``output_messages``."""
        if span.kind == "tool":
            e = self._entry(span.trace_id)
            seq = e[0]
            e[0] += 1
            e[1].append((span.tool_call_id, span.tool_name or span.name))
            return tool_call_from_span(span, seq)
        if output_messages or span.output_messages:
            reqs = list(requested_tool_calls(span, output_messages))
            if reqs:
                e = self._entry(span.trace_id)
                ref = (span.span_id, span.source, span.end_ns)   # not the span: the loader may mutate it
                for i, j, c in reqs:
                    e[2].append((e[0], ref, i, j, c))
                    e[0] += 1
        return None

    def finish(self) -> Iterable[ToolCall]:
        """The requested calls no tool span executed (call once, after the last span)."""
        for trace_id, (_, executed, requests) in self._traces.items():
            if not requests:
                continue
            exec_ids = {cid for cid, _ in executed if cid is not None}
            req_ids = {c.get("id") for *_, c in requests if c.get("id") is not None}
            pool: dict[str, int] = {}
            for cid, name in executed:
                if cid is None or cid not in req_ids:
                    pool[name] = pool.get(name, 0) + 1
            for seq, (span_id, source, end_ns), i, j, c in requests:
                cid = c.get("id")
                if cid is not None and cid in exec_ids:
                    continue
                name = c.get("name") or "unknown"
                if pool.get(name, 0) > 0:
                    pool[name] -= 1
                    continue
                result = c.get("result")
                yield ToolCall(
                    trace_id=trace_id, call_id=cid or f"{span_id}:{i}:{j}", tool_name=name,
                    source=source, span_id=span_id, seq=seq, arguments=c.get("arguments"),
                    result=_str(result), status="ok" if result is not None else "unset",
                    start_ns=end_ns,
                )
        self._traces.clear()

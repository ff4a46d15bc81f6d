"""Langfuse exports: traces, observations and scores as the Langfuse public API returns them.

Accepted records (JSON lines, a JSON array, or API pages ``{"data": [...], "meta": {...}}``):

* a trace with its observations and scores inline (``GET /api/public/traces/{id}``,
  TraceWithFullDetails) or a ``{"trace": {...}, "observations": [...]}`` bundle;
* a trace alone (``GET /api/public/traces`` items, where ``observations`` lists only ids);
* an observation (``GET /api/public/observations`` items: ``traceId``, ``type``, ``startTime``);
* a score (``traceId``, ``name``, ``value``/``stringValue``, ``dataType``, ``source``).

A trace becomes a root span whose id is the trace id (kind ``chain``; input/output, user,
session, tags, environment, release); each observation a child span (``parentObservationId``,
else the trace root). Observation types map to span kinds (GENERATION -> llm, TOOL -> tool, ...);
``level: ERROR`` marks a span failed with ``statusMessage``; tokens and cost come from
``usageDetails``/``costDetails`` (or the deprecated ``usage`` and calculated costs). Scores become
``Feedback`` with source ANNOTATION -> human, EVAL -> llm, API -> code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any


from tracemill.ingest.formats import Format, FormatOptions, Source, register
from tracemill.ingest.formats._common import (
    content_text,
    parse_records,
    raw_json,
    normalize_message,
    openai_shape,
    parse_time_ns,
    to_float,
    to_int,
    to_text,
)
from tracemill.ingest.records import Feedback, Item, Rejected, Span, tool_call_from_span

NAME = "langfuse"

OBSERVATION_KINDS = {
    "GENERATION": "llm", "SPAN": "chain", "EVENT": "unknown", "AGENT": "agent", "TOOL": "tool",
    "CHAIN": "chain", "RETRIEVER": "retriever", "EMBEDDING": "embedding", "EVALUATOR": "evaluator",
    "GUARDRAIL": "guardrail",
}
SCORE_SOURCES = {"ANNOTATION": "human", "EVAL": "llm", "API": "code"}

_OBS_TYPE_RE = re.compile(rb'"type"\s*:\s*"(' + "|".join(OBSERVATION_KINDS).encode() + rb')"')
_SCORE_RE = re.compile(rb'"dataType"\s*:\s*"(NUMERIC|CATEGORICAL|BOOLEAN|CORRECTION|TEXT)"')


def sniff(source: Source) -> bool:
    """Langfuse's camelCase trace/observation/score shapes; never OTLP (``resourceSpans``) or LangSmith."""
    head = source.head
    if any(m in head for m in (b'"resourceSpans"', b'"scopeSpans"', b'"run_type"', b'"startTimeUnixNano"')):
        return False
    if b'"parentObservationId"' in head or b'"htmlPath"' in head:
        return True
    if b'"traceId"' in head and (_OBS_TYPE_RE.search(head) or _SCORE_RE.search(head)):
        return True
    return b'"observations"' in head and b'"timestamp"' in head and b'"id"' in head


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------
def _is_observation(r: dict[str, Any]) -> bool:
    return "traceId" in r and isinstance(r.get("type"), str) and ("startTime" in r or r["type"] in OBSERVATION_KINDS)


def _is_score(r: dict[str, Any]) -> bool:
    return ("traceId" in r or "sessionId" in r) and "name" in r and "type" not in r and (
        "dataType" in r or "value" in r or "stringValue" in r)


def _is_trace(r: dict[str, Any]) -> bool:
    return "id" in r and "traceId" not in r and ("timestamp" in r or "observations" in r or "htmlPath" in r)


def record_items(record: Any) -> Iterator[Item]:
    """Items for one record of any accepted shape (pages and bundles are unwrapped)."""
    if isinstance(record, dict) and isinstance(record.get("data"), list) and isinstance(record.get("meta"), dict):
        for r in record["data"]:
            yield from record_items(r)
        return
    if not isinstance(record, dict):
        yield Rejected("wrong_type", f"a Langfuse record must be an object, got {type(record).__name__}", raw=raw_json(record))
        return
    if isinstance(record.get("trace"), dict) and "id" not in record:
        full = dict(record["trace"])
        full["observations"] = record.get("observations") or []
        full["scores"] = record.get("scores") or full.get("scores") or []
        yield from trace_items(full)
    elif _is_observation(record):
        yield from observation_items(record)
    elif _is_score(record):
        yield score_item(record)
    elif _is_trace(record):
        yield from trace_items(record)
    elif "id" not in record and ("timestamp" in record or "observations" in record):
        yield Rejected("missing_id", "Langfuse trace has no id", raw=raw_json(record))
    else:
        yield Rejected("wrong_type", "not a Langfuse trace, observation or score (keys: "
                       + ", ".join(sorted(map(str, record))[:12]) + ")", raw=raw_json(record))


def trace_items(trace: dict[str, Any]) -> list[Item]:
    """The root span of a trace, plus its inline observations and scores when they are objects."""
    tid = trace.get("id")
    if not tid or not isinstance(tid, str):
        return [Rejected("missing_id", "Langfuse trace has no string id", raw=raw_json(trace))]
    for k in ("tags", "observations", "scores"):
        if trace.get(k) is not None and not isinstance(trace[k], list):
            return [Rejected("wrong_type", f"trace {k} must be a list, got {type(trace[k]).__name__}", raw=raw_json(trace))]
    start = parse_time_ns(trace.get("timestamp"))
    if trace.get("timestamp") is not None and start is None:
        return [Rejected("invalid_value", f"trace timestamp is not a time: {trace.get('timestamp')!r}", raw=raw_json(trace))]
    obs = [o for o in trace.get("observations") or [] if isinstance(o, dict)]
    scores = [s for s in trace.get("scores") or [] if isinstance(s, dict)]
    latency = to_float(trace.get("latency"))
    end = None
    if start is not None and latency is not None and latency >= 0:
        end = start + int(latency * 1e9)
    obs_ends = [e for e in (parse_time_ns(o.get("endTime")) or parse_time_ns(o.get("startTime")) for o in obs) if e]
    if obs_ends:
        end = max([end or 0, *obs_ends])
    if end is not None and start is not None and end < start:
        end = start
    in_msgs, in_text = _io(trace.get("input"), last=False)
    out_msgs, out_text = _io(trace.get("output"), last=True)
    raw = {k: v for k, v in trace.items() if k not in ("observations", "scores") or not (obs or scores)}
    if obs or scores:
        raw["observations"] = [o.get("id") for o in obs]
        raw["scores"] = [s.get("id") for s in scores]
    root = Span(
        trace_id=tid, span_id=tid, source=NAME, name=trace.get("name"), kind="chain", start_ns=start, end_ns=end,
        status_code="ok" if end is not None else "unset",
        input_text=in_text, output_text=out_text, input_messages=in_msgs, output_messages=out_msgs,
        user_id=to_text(trace.get("userId")), session_id=to_text(trace.get("sessionId")),
        tags=[str(t) for t in trace.get("tags") or []] or None, environment=to_text(trace.get("environment")),
        app_version=to_text(trace.get("release") or trace.get("version")),
        cost_usd=None,   # totalCost is the sum of the observations' costs: counting it here would double it
        attributes={k: v for k, v in {
            "metadata": trace.get("metadata"), "langfuse.release": trace.get("release"),
            "langfuse.version": trace.get("version"), "langfuse.total_cost": trace.get("totalCost"),
            "langfuse.latency_s": latency, "langfuse.html_path": trace.get("htmlPath"),
            "langfuse.public": trace.get("public"), "langfuse.bookmarked": trace.get("bookmarked"),
        }.items() if v is not None},
        raw=raw,
    )
    items: list[Item] = [root]
    for o in obs:
        o = dict(o)
        o.setdefault("traceId", tid)
        items.extend(observation_items(o))
    items.extend(score_item(s if s.get("traceId") else {**s, "traceId": tid}) for s in scores)
    return items


def observation_items(o: dict[str, Any]) -> list[Item]:
    """The span (and tool call) of one observation."""
    oid, tid = o.get("id"), o.get("traceId")
    if not oid or not tid:
        return [Rejected("missing_id", "observation has no " + ("id" if not oid else "traceId"), raw=raw_json(o))]
    otype = str(o.get("type") or "").upper()
    kind = OBSERVATION_KINDS.get(otype, "unknown")
    start, end = parse_time_ns(o.get("startTime")), parse_time_ns(o.get("endTime"))
    if o.get("startTime") is not None and start is None:
        return [Rejected("invalid_value", f"startTime is not a time: {o.get('startTime')!r}", raw=raw_json(o))]
    if otype == "EVENT" and end is None:
        end = start
    for k in ("usageDetails", "costDetails", "usage"):
        if o.get(k) is not None and not isinstance(o[k], dict):
            return [Rejected("wrong_type", f"{k} must be an object, got {type(o[k]).__name__}", raw=raw_json(o))]
    level = str(o.get("level") or "DEFAULT").upper()
    status = "error" if level == "ERROR" else ("ok" if end is not None else "unset")
    pin, pout, tot = _usage(o)
    in_msgs, in_text = _io(o.get("input"), last=False)
    out_msgs, out_text = _io(o.get("output"), last=True)
    span = Span(
        trace_id=str(tid), span_id=str(oid), parent_span_id=str(o.get("parentObservationId") or tid), source=NAME,
        name=o.get("name"), kind=kind, start_ns=start, end_ns=end, status_code=status,
        status_message=to_text(o.get("statusMessage")) if o.get("statusMessage") else None,
        model=to_text(o.get("model") or o.get("providedModelName")) if kind in ("llm", "embedding") else None,
        input_tokens=pin, output_tokens=pout, total_tokens=tot, cost_usd=_cost(o),
        input_text=in_text, output_text=out_text,
        input_messages=in_msgs if kind == "llm" else None, output_messages=out_msgs if kind == "llm" else None,
        environment=to_text(o.get("environment")),
        attributes={k: v for k, v in {
            "langfuse.type": otype, "langfuse.level": level, "metadata": o.get("metadata"),
            "langfuse.model_parameters": o.get("modelParameters"), "langfuse.version": o.get("version"),
            "langfuse.completion_start_time": o.get("completionStartTime"),
            "langfuse.prompt_name": o.get("promptName"), "langfuse.prompt_version": o.get("promptVersion"),
            "langfuse.usage_details": o.get("usageDetails"), "langfuse.cost_details": o.get("costDetails"),
        }.items() if v not in (None, {}, [])},
        raw=o,
    )
    items: list[Item] = [span]
    if kind == "tool":
        span.tool_name = o.get("name") or "unknown"
        span.tool_arguments = o.get("input")
        span.tool_result = content_text(o.get("output")) if not isinstance(o.get("output"), dict) else to_text(o.get("output"))
        meta = o.get("metadata") if isinstance(o.get("metadata"), dict) else {}
        span.tool_call_id = to_text(meta.get("tool_call_id")) if meta.get("tool_call_id") else None
        items.append(tool_call_from_span(span))
    return items


def score_item(s: dict[str, Any]) -> Item:
    """A score as ``Feedback``; a session-only score (no trace) is rejected with the reason."""
    tid = s.get("traceId")
    if not tid:
        return Rejected("missing_id", "score has no traceId (a session or dataset-run score)", raw=raw_json(s))
    if not s.get("name"):
        return Rejected("invalid_value", "score has no name", raw=raw_json(s))
    dtype = str(s.get("dataType") or "").upper()
    value = s.get("value")
    label = s.get("stringValue")
    if dtype == "CATEGORICAL" and label is None and isinstance(value, str):
        label, value = value, None
    score = to_float(value)
    if value is not None and score is None and dtype not in ("CATEGORICAL", "CORRECTION", "TEXT"):
        return Rejected("invalid_value", f"score value {value!r} is not a number", raw=raw_json(s))
    if str(s["name"]) == "outcome" and score is not None and str(label or "").lower() not in ("success", "failure"):
        # The trace rollup reads outcome labels: a numeric or boolean outcome of 1 is a success.
        label = "success" if score >= 1.0 else "failure"
    return Feedback(
        trace_id=str(tid), key=str(s["name"]), source=SCORE_SOURCES.get(str(s.get("source") or "").upper(), "code"),
        score=score, label=to_text(label), comment=to_text(s.get("comment")),
        correction=label if dtype == "CORRECTION" else None, author=to_text(s.get("authorUserId")),
        created_ns=parse_time_ns(s.get("timestamp") or s.get("createdAt")),
        span_id=to_text(s.get("observationId")), raw=s,
        feedback_id=f"lf_{s['id']}" if s.get("id") else None,
    )


def _usage(o: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    ud = o.get("usageDetails") if isinstance(o.get("usageDetails"), dict) else {}
    u = o.get("usage") if isinstance(o.get("usage"), dict) else {}

    def pick(keys: tuple[str, ...]) -> int | None:
        for src in (ud, u):
            for k in keys:
                if src.get(k) is not None:
                    return to_int(src[k])
        return None

    pin = pick(("input", "prompt_tokens", "input_tokens", "promptTokens"))
    pout = pick(("output", "completion_tokens", "output_tokens", "completionTokens"))
    tot = pick(("total", "total_tokens", "totalTokens"))
    if not ud and not u:
        pin = to_int(o.get("promptTokens")) if o.get("promptTokens") is not None else None
        pout = to_int(o.get("completionTokens")) if o.get("completionTokens") is not None else None
        tot = to_int(o.get("totalTokens")) if o.get("totalTokens") is not None else None
    if tot is None and (pin is not None or pout is not None):
        tot = (pin or 0) + (pout or 0)
    # Langfuse fills usage with zeros on non-LLM observations: no usage, not zero usage.
    if (pin, pout, tot) == (0, 0, 0) and str(o.get("type") or "").upper() != "GENERATION":
        return None, None, None
    return pin, pout, tot


def _cost(o: dict[str, Any]) -> float | None:
    cd = o.get("costDetails") if isinstance(o.get("costDetails"), dict) else {}
    if cd:
        if cd.get("total") is not None:
            return to_float(cd["total"])
        vals = [to_float(v) for v in cd.values()]
        return sum(v for v in vals if v is not None) or None
    for k in ("calculatedTotalCost", "totalCost", "totalPrice"):
        if o.get(k) is not None:
            return to_float(o[k])
    u = o.get("usage") if isinstance(o.get("usage"), dict) else {}
    return to_float(u.get("totalCost"))


def _io(value: Any, *, last: bool) -> tuple[list[dict[str, Any]] | None, str | None]:
    """(messages in OpenAI shape, text) of a Langfuse input/output value."""
    if value is None:
        return None, None
    cands: list[Any] | None = None
    if isinstance(value, list) and value and all(isinstance(m, dict) and ("role" in m or "type" in m) for m in value):
        cands = value
    elif isinstance(value, dict) and isinstance(value.get("messages"), list):
        cands = value["messages"]
    elif isinstance(value, dict) and "role" in value:
        cands = [value]
    if cands:
        msgs = [openai_shape(m) for m in (normalize_message(c) for c in cands) if m is not None]
        if msgs:
            texts = [m for m in msgs if m.get("content")]
            if last:
                text = texts[-1]["content"] if texts else None
            else:
                text = next((m["content"] for m in reversed(texts) if m["role"] == "user"), texts[-1]["content"] if texts else None)
            return msgs, text
    if isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), str):
        return None, next(iter(value.values()))
    return None, to_text(value)


def parse(source: Source, options: FormatOptions) -> Iterator[Item]:
    """Parse a Langfuse export. Bad records become ``Rejected`` with the reason."""
    return parse_records(source, options, record_items)


FORMAT = register(Format(
    name=NAME,
    description="Langfuse traces/observations/scores as the public API returns them (JSON lines, arrays or pages)",
    sniff=sniff,
    parse=parse,
    priority=41,
))

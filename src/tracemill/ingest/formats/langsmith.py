"""LangSmith run exports: Run objects as the LangSmith API and SDK return them.

A file holds runs as JSON lines, a JSON array, ``{"runs": [...]}`` (the runs query response), or
run trees with nested ``child_runs``. Each run is one span: ``id`` is the span id, ``trace_id`` (or
the first segment of ``dotted_order``) the trace, ``parent_run_id`` (or the previous
``dotted_order`` segment) the parent. ``run_type`` maps to the span kind; ``error`` marks the span
failed; tokens and cost come from ``prompt_tokens``/``completion_tokens``/``total_tokens``/
``total_cost`` (or the model output's usage); ``extra.metadata`` gives model, user, session,
environment and app version; ``feedback_stats`` becomes one ``Feedback`` per key (the aggregate).
The LangSmith ``session_id`` is the tracing project, kept as ``langsmith.project_id``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any


from tracemill.ingest.formats import Format, FormatOptions, Source, register
from tracemill.ingest.formats._common import (
    content_text,
    derived_id,
    parse_records,
    raw_json,
    maybe_json,
    normalize_message,
    openai_shape,
    parse_time_ns,
    to_float,
    to_int,
    to_text,
)
from tracemill.ingest.records import Feedback, Item, Rejected, Span, tool_call_from_span

NAME = "langsmith"

_KINDS = {
    "llm": "llm", "chat_model": "llm", "tool": "tool", "chain": "chain", "retriever": "retriever",
    "embedding": "embedding", "prompt": "chain", "parser": "chain",
}
_RUN_TYPE_RE = re.compile(rb'"run_type"\s*:\s*"')


def sniff(source: Source) -> bool:
    """Runs carry ``run_type`` with ``trace_id``/``dotted_order``/``parent_run_id``; OTLP and Langfuse never do."""
    head = source.head
    if b'"resourceSpans"' in head or b'"scopeSpans"' in head:
        return False
    return bool(_RUN_TYPE_RE.search(head)) and any(
        k in head for k in (b'"dotted_order"', b'"trace_id"', b'"parent_run_id"', b'"child_runs"')
    )


def _runs(value: Any, depth: int = 0) -> Iterator[Any]:
    """Runs in a record: the record itself, a ``{"runs": [...]}`` page, and nested ``child_runs``."""
    if isinstance(value, dict) and "run_type" not in value and isinstance(value.get("runs"), list):
        for r in value["runs"]:
            yield from _runs(r, depth)
        return
    yield value
    if isinstance(value, dict) and isinstance(value.get("child_runs"), list) and depth < 200:
        for child in value["child_runs"]:
            if isinstance(child, dict):
                child.setdefault("parent_run_id", value.get("id"))
                if value.get("trace_id"):
                    child.setdefault("trace_id", value.get("trace_id"))
            yield from _runs(child, depth + 1)


def _dotted(dotted: Any) -> list[str]:
    """Run ids along a ``dotted_order`` (``<time>Z<uuid>.<time>Z<uuid>...``)."""
    if not isinstance(dotted, str) or not dotted:
        return []
    out = []
    for seg in dotted.split("."):
        _, _, rid = seg.partition("Z")
        if rid:
            out.append(rid)
    return out


def _messages(value: Any) -> list[dict[str, Any]] | None:
    """Chat messages from LangChain/OpenAI inputs or outputs, in OpenAI shape."""
    if not isinstance(value, dict):
        return None
    cands: list[Any] = []
    if isinstance(value.get("messages"), list):
        msgs = value["messages"]
        cands = msgs[0] if msgs and isinstance(msgs[0], list) and len(msgs) == 1 else msgs
    elif isinstance(value.get("generations"), list):
        gens = value["generations"]
        flat = gens[0] if gens and isinstance(gens[0], list) else gens
        for g in flat:
            if isinstance(g, dict):
                cands.append(g.get("message") or {"role": "assistant", "content": g.get("text")})
    elif isinstance(value.get("choices"), list):
        cands = [c.get("message") for c in value["choices"] if isinstance(c, dict) and c.get("message")]
    elif isinstance(value.get("output"), dict):
        cands = [value["output"]]
    out = []
    for c in cands:
        m = normalize_message(c)
        if m is not None:
            out.append(openai_shape(m))
    return out or None


def _text(value: Any, messages: list[dict[str, Any]] | None, *, last: bool) -> str | None:
    if messages:
        pick = [m for m in messages if m.get("content")]
        if not pick:
            return None   # e.g. an assistant turn that only requested tool calls
        return pick[-1]["content"] if last else next((m["content"] for m in reversed(pick) if m["role"] == "user"), pick[-1]["content"])
    if isinstance(value, dict):
        if len(value) == 1:
            only = next(iter(value.values()))
            return content_text(only) if not isinstance(only, dict) else _dict_text(only)
        for k in ("input", "question", "query", "output", "answer", "text", "prompts"):
            if k in value:
                v = value[k]
                return "\n".join(map(str, v)) if isinstance(v, list) and all(isinstance(x, str) for x in v) else _dict_text(v)
    return to_text(value)


def _dict_text(v: Any) -> str | None:
    if isinstance(v, dict) and v.get("lc") and isinstance(v.get("kwargs"), dict):
        return content_text(v["kwargs"].get("content"))
    return content_text(v) if not isinstance(v, dict) else to_text(v)


def _usage(run: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    pin, pout, tot = to_int(run.get("prompt_tokens")), to_int(run.get("completion_tokens")), to_int(run.get("total_tokens"))
    if pin is None and pout is None:
        out = run.get("outputs") if isinstance(run.get("outputs"), dict) else {}
        usage = (out.get("llm_output") or {}).get("token_usage") if isinstance(out.get("llm_output"), dict) else None
        usage = usage or out.get("usage")
        if isinstance(usage, dict):
            pin = to_int(usage.get("prompt_tokens", usage.get("input_tokens")))
            pout = to_int(usage.get("completion_tokens", usage.get("output_tokens")))
            tot = tot if tot is not None else to_int(usage.get("total_tokens"))
    if tot is None and (pin is not None or pout is not None):
        tot = (pin or 0) + (pout or 0)
    return pin, pout, tot


def run_items(run: Any) -> list[Item]:
    """The span (and tool call, feedback) one LangSmith run stands for, or a ``Rejected``."""
    if not isinstance(run, dict):
        return [Rejected("wrong_type", f"a LangSmith run must be an object, got {type(run).__name__}", raw=raw_json(run))]
    rid = run.get("id")
    if not rid:
        return [Rejected("missing_id", "run has no id", raw=raw_json(run))]
    chain = _dotted(run.get("dotted_order"))
    parent = run.get("parent_run_id") or (chain[-2] if len(chain) >= 2 else None)
    trace_id = run.get("trace_id") or (chain[0] if chain else None) or (None if parent else rid)
    if not trace_id:
        return [Rejected("missing_id", "child run has no trace_id or dotted_order", raw=raw_json(run))]
    run_type = run.get("run_type")
    if run_type is not None and not isinstance(run_type, str):
        return [Rejected("wrong_type", f"run_type must be a string, got {type(run_type).__name__}", raw=raw_json(run))]
    for k in ("inputs", "outputs", "extra"):
        if run.get(k) is not None and not isinstance(run[k], dict):
            return [Rejected("wrong_type", f"{k} must be an object, got {type(run[k]).__name__}", raw=raw_json(run))]
    tags = run.get("tags")
    if tags is not None and not isinstance(tags, list):
        return [Rejected("wrong_type", f"tags must be a list, got {type(tags).__name__}", raw=raw_json(run))]
    extra = run.get("extra") or {}
    meta = extra.get("metadata") if isinstance(extra.get("metadata"), dict) else (
        run["metadata"] if isinstance(run.get("metadata"), dict) else {})
    invocation = extra.get("invocation_params") if isinstance(extra.get("invocation_params"), dict) else {}
    kind = _KINDS.get((run_type or "").lower(), "unknown")
    inputs, outputs = run.get("inputs"), run.get("outputs")
    error = run.get("error")
    start, end = parse_time_ns(run.get("start_time")), parse_time_ns(run.get("end_time"))
    if run.get("start_time") is not None and start is None:
        return [Rejected("invalid_value", f"start_time is not a time: {run.get('start_time')!r}", raw=raw_json(run))]
    status = "error" if error else ("ok" if (run.get("status") == "success" or end is not None) else "unset")
    in_msgs = _messages(inputs) if kind == "llm" else None
    out_msgs = _messages(outputs) if kind == "llm" else None
    # Chain/agent runs carry their children's token and cost totals: only llm runs count them.
    pin, pout, tot = _usage(run) if kind == "llm" else (None, None, None)
    attrs: dict[str, Any] = {
        "langsmith.run_type": run_type, "langsmith.project_id": run.get("session_id") or run.get("project_id"),
        "langsmith.dotted_order": run.get("dotted_order"), "langsmith.status": run.get("status"),
        "langsmith.reference_example_id": run.get("reference_example_id"), "metadata": meta or None,
        "invocation_params": invocation or None,
        "langsmith.total_tokens": run.get("total_tokens") if kind != "llm" else None,
        "langsmith.total_cost": run.get("total_cost") if kind != "llm" else None,
    }
    span = Span(
        trace_id=str(trace_id), span_id=str(rid), parent_span_id=str(parent) if parent else None, source=NAME,
        name=run.get("name"), kind=kind, start_ns=start, end_ns=end, status_code=status,
        status_message=to_text(error) if error else None,
        model=meta.get("ls_model_name") or invocation.get("model") or invocation.get("model_name") if kind == "llm" else None,
        provider=meta.get("ls_provider") if kind == "llm" else None,
        input_tokens=pin, output_tokens=pout, total_tokens=tot,
        cost_usd=to_float(run.get("total_cost")) if kind == "llm" else None,
        input_text=_text(inputs, in_msgs, last=False), output_text=_text(outputs, out_msgs, last=True),
        input_messages=in_msgs, output_messages=out_msgs,
        user_id=to_text(meta.get("user_id") or meta.get("user")),
        session_id=to_text(meta.get("session_id") or meta.get("thread_id") or meta.get("conversation_id") or run.get("thread_id")),
        tags=[str(t) for t in tags] if tags else None,
        environment=to_text(meta.get("environment") or meta.get("env")),
        app_version=to_text(meta.get("revision_id") or meta.get("app_version") or meta.get("version")),
        attributes={k: v for k, v in attrs.items() if v is not None},
        raw={k: v for k, v in run.items() if k != "child_runs"},
    )
    items: list[Item] = [span]
    if kind == "tool":
        args = (inputs or {}).get("input", inputs) if isinstance(inputs, dict) and set(inputs) <= {"input", "tool_call_id"} else inputs
        span.tool_name = run.get("name") or "unknown"
        span.tool_arguments = maybe_json(args)
        out = (outputs or {}).get("output", outputs) if isinstance(outputs, dict) else outputs
        call_id = (inputs or {}).get("tool_call_id") if isinstance(inputs, dict) else None
        if isinstance(out, dict) and out.get("lc") and isinstance(out.get("kwargs"), dict):
            call_id = call_id or out["kwargs"].get("tool_call_id")
            out = out["kwargs"].get("content")
        span.tool_call_id = to_text(call_id) if call_id else None
        span.tool_result = content_text(out) if not isinstance(out, dict) else to_text(out)
        items.append(tool_call_from_span(span))
    stats = run.get("feedback_stats")
    if isinstance(stats, dict):
        for key, st in sorted(stats.items()):
            if not isinstance(st, dict):
                continue
            items.append(Feedback(
                trace_id=str(trace_id), span_id=None if parent is None else str(rid), key=str(key), source="human",
                score=to_float(st.get("avg")), label=_top_value(st.get("values")),
                comment=f"LangSmith feedback_stats aggregate over n={st.get('n')}",
                raw=st, feedback_id=f"ls_{derived_id(trace_id, rid, key, n=24)}",
            ))
    return items


def _top_value(values: Any) -> str | None:
    # feedback_stats "values" counts categorical labels: keep the most frequent.
    if isinstance(values, dict) and values:
        return str(max(values.items(), key=lambda kv: (to_float(kv[1]) or 0, kv[0]))[0])
    return None


def _record_items(record: Any) -> Iterator[Item]:
    for run in _runs(record):
        yield from run_items(run)


def parse(source: Source, options: FormatOptions) -> Iterator[Item]:
    """Parse LangSmith runs. Bad records become ``Rejected`` with the reason."""
    return parse_records(source, options, _record_items)


FORMAT = register(Format(
    name=NAME,
    description="LangSmith run exports (Run objects: JSON lines, array, {runs: [...]}, or child_runs trees)",
    sniff=sniff,
    parse=parse,
    priority=40,
))

"""Chat-message trajectories: OpenAI-style message lists with tool calls, as benchmarks and apps log them.

A file holds one trajectory per JSON line, a JSON array of them, or one trajectory object. A field
mapping (``--map id=task_id,messages=traj,outcome=reward``) names where the id, messages, outcome
and metadata are; dotted paths are allowed and integer segments index lists (``a.b.-1``). Keys:

    id, messages, outcome, metadata (several paths joined with ``|``), name, user, session, tags,
    timestamp, model, success_threshold (default 1.0), preset

Built-in presets (``--map preset=NAME``; detected per record when no mapping names the messages):

    toolbench   ToolBench DFS answer files (``answer_generation.train_messages``, ``win``)
    tau-bench   tau-bench results (``task_id``, ``traj``, ``reward``) and few-shot files (``messages_display``)
    tau2-bench  tau2-bench tasks: the expected actions as a reference trajectory (no outcome)

Each trajectory becomes one trace: a root ``agent`` span, one ``llm`` span per assistant message
(input = the messages before it), one ``tool`` span and ``ToolCall`` per requested tool call (result
from the matching tool message by ``tool_call_id``, else by name and order), and the outcome as
``Feedback(key='outcome')``. Ids are deterministic, so re-ingesting a file adds nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from tracemill.errors import ConfigError
from tracemill.ingest.formats import Format, FormatOptions, Source, register
from tracemill.ingest.formats._common import (
    content_text,
    derived_id,
    get_path,
    iter_json_records,
    maybe_json,
    normalize_message,
    openai_shape,
    parse_time_ns,
    stable_hash,
    to_float,
    to_text,
)
from tracemill.ingest.records import Feedback, Item, Rejected, Span, tool_call_from_span

NAME = "messages"
MAPPING_KEYS = frozenset({
    "id", "messages", "outcome", "metadata", "name", "user", "session", "tags", "timestamp", "model",
    "success_threshold", "preset",
})
_DEFAULT_ID = ("id", "trajectory_id", "conversation_id", "task_id", "uuid")
_DEFAULT_MESSAGES = ("messages", "traj", "trajectory", "conversation", "chat", "history")
_DEFAULT_OUTCOME = ("outcome", "reward", "success", "win", "is_success", "passed", "resolved")

_SUCCESS_WORDS = {"success", "succeeded", "pass", "passed", "true", "yes", "win", "won", "solved", "resolved", "correct", "ok"}
_FAILURE_WORDS = {"failure", "failed", "fail", "false", "no", "lose", "lost", "unsolved", "unresolved", "incorrect", "error", "wrong"}


@dataclass
class Trajectory:
    """One trajectory extracted from a record, before it is turned into spans."""

    trace_id: str
    messages: list[dict[str, Any]]           # normalised (see _common.normalize_message)
    raw_messages: list[Any]
    preset: str | None = None
    external_id: Any = None
    outcome: Any = None
    outcome_field: str | None = None
    outcome_comment: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    tags: list[str] | None = None
    start_ns: int | None = None
    model: str | None = None
    input_text: str | None = None            # root input, when the record says it better than message 1
    output_text: str | None = None
    # Reads a tool result and returns the error it reports, if any.
    tool_error: Callable[[str | None], str | None] | None = None


class _Reject(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(detail)


# ---------------------------------------------------------------------------------------------
# Sniffing
# ---------------------------------------------------------------------------------------------
# A list of message objects under a trajectory-ish key, or a file that is itself a list of messages.
_TRAJ_RE = re.compile(
    rb'"(messages|traj|trajectory|conversation|chat|history)"\s*:\s*\[\s*\{\s*"(role|content|type)"\s*:'
)
_BARE_LIST_RE = re.compile(rb'^\s*\[\s*\{\s*"role"\s*:')
_TOOLBENCH_RE = re.compile(rb'^\s*\{\s*"win"\s*:\s*(true|false)\s*,\s*"tree"\s*:')
_FOREIGN = (b'"resourceSpans"', b'"scopeSpans"', b'"run_type"', b'"dotted_order"', b'"observations"',
            b'"parentObservationId"', b'"traceId"')


def sniff(source: Source) -> bool:
    """Chat trajectories or one of the benchmark shapes the presets know; never OTLP/LangSmith/Langfuse."""
    head = source.head
    if _TOOLBENCH_RE.match(head) or b'"answer_generation"' in head:
        return True
    if any(m in head for m in _FOREIGN):
        return False
    if b'"messages_display"' in head or (b'"user_scenario"' in head and b'"evaluation_criteria"' in head):
        return True
    if b'"relevant_policies"' in head and b'"user_scenario"' in head:
        return True
    if b'"traj"' in head and b'"reward"' in head and b'"task_id"' in head:
        return True
    return bool(_BARE_LIST_RE.match(head) or _TRAJ_RE.search(head))


# ---------------------------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------------------------
def _toolbench(record: dict[str, Any], mapping: Mapping[str, str]) -> Trajectory:
    # ToolBench DFS answers: train_messages is a list of growing prefixes of the final chain (one
    # training sample per assistant step); its last element is the whole trajectory. Files with
    # valid_data=false have no train_messages (no usable chain): they keep the query and the failed outcome.
    ag = record.get("answer_generation")
    if not isinstance(ag, dict):
        raise _Reject("wrong_type", "toolbench record: answer_generation must be an object")
    samples = ag.get("train_messages")
    if samples is None:
        raw: list[Any] = []
    elif isinstance(samples, list) and all(isinstance(x, list) for x in samples):
        raw = samples[-1] if samples else []
    else:
        raise _Reject("wrong_type", "toolbench record: answer_generation.train_messages must be a list of message lists")
    query = ag.get("query")
    if not raw and isinstance(query, str):
        raw = [{"role": "user", "content": query}]
    final = maybe_json(ag.get("final_answer"))
    final_text = final.get("final_answer") if isinstance(final, dict) else (final or None)
    win = record.get("win")
    finish = ag.get("finish_type")
    functions = ag.get("function") if isinstance(ag.get("function"), list) else []
    return Trajectory(
        trace_id=f"toolbench:{stable_hash(record)}",
        messages=[],
        raw_messages=raw,
        preset="toolbench",
        outcome=win,
        outcome_field="win",
        outcome_comment=f"win={win}; finish_type={finish}; valid_data={ag.get('valid_data')}",
        metadata={
            "finish_type": finish,
            "valid_data": ag.get("valid_data"),
            "query_count": ag.get("query_count"),
            "total_tokens": ag.get("total_tokens"),
            "forward_args": record.get("forward_args"),
            "functions": [f.get("name") for f in functions if isinstance(f, dict)],
        },
        name="toolbench",
        input_text=query if isinstance(query, str) else None,
        output_text=to_text(final_text) if final_text else None,
        tool_error=_toolbench_tool_error,
    )


def _toolbench_tool_error(result: str | None) -> str | None:
    # ToolBench tool results are JSON like {"error": "...", "response": "..."}; a non-empty error failed.
    value = maybe_json(result)
    if isinstance(value, dict) and isinstance(value.get("error"), str) and value["error"].strip():
        return value["error"].strip()
    return None


_ERROR_RESULT = re.compile(r"^\s*(error|exception|traceback)\b", re.IGNORECASE)


def generic_tool_error(result: str | None) -> str | None:
    """A tool result that reads as an error (``Error: ...``, ``Exception ...``, ``Traceback ...``)."""
    if result and _ERROR_RESULT.match(result):
        return result.strip()[:500]
    return None


_DISPLAY_LINE = re.compile(r"^(user|assistant|tool|system): ", re.MULTILINE)


def _parse_display(text: str) -> list[dict[str, Any]]:
    """tau-bench ``messages_display``: ``role: content`` lines; continuation lines extend the message.

    The display drops tool names and arguments: an assistant message followed by k tool lines made
    k tool calls (content ``None`` when it made calls only). Those calls get the name ``unknown``.
    """
    msgs: list[dict[str, Any]] = []
    starts = list(_DISPLAY_LINE.finditer(text))
    if not starts or starts[0].start() != 0:
        raise _Reject("invalid_value", "messages_display does not start with 'user: ', 'assistant: ', 'tool: ' or 'system: '")
    for i, m in enumerate(starts):
        end = starts[i + 1].start() - 1 if i + 1 < len(starts) else len(text)
        body = text[m.end():end]
        msgs.append({"role": m.group(1), "content": None if (m.group(1) == "assistant" and body == "None") else body})
    last_assistant: dict[str, Any] | None = None
    n = 0
    for msg in msgs:
        if msg["role"] == "assistant":
            last_assistant = msg
        elif msg["role"] == "tool" and last_assistant is not None:
            n += 1
            call_id = f"call_{n}"
            last_assistant.setdefault("tool_calls", []).append(
                {"id": call_id, "type": "function", "function": {"name": "unknown", "arguments": None}}
            )
            msg["tool_call_id"] = call_id
    return msgs


def _tau_bench(record: dict[str, Any], mapping: Mapping[str, str]) -> Trajectory:
    if "traj" in record:
        task_id = record.get("task_id")
        trial = record.get("trial")
        raw = record.get("traj")
        if not isinstance(raw, list):
            raise _Reject("wrong_type", f"tau-bench record: traj must be a list, got {type(raw).__name__}")
        ident = f"task-{task_id}:trial-{trial if trial is not None else 0}:{stable_hash(record, 12)}"
        info = record.get("info") if isinstance(record.get("info"), dict) else {}
        return Trajectory(
            trace_id=f"tau-bench:{ident}", messages=[], raw_messages=raw, preset="tau-bench", external_id=task_id,
            outcome=record.get("reward"), outcome_field="reward",
            metadata={"task_id": task_id, "trial": trial, "info": info}, name="tau-bench",
            tool_error=generic_tool_error,
        )
    display = record.get("messages_display")
    if not isinstance(display, str):
        raise _Reject("wrong_type", "tau-bench record: needs traj (a list) or messages_display (a string)")
    return Trajectory(
        trace_id=f"tau-bench:{stable_hash(record)}", messages=[], raw_messages=_parse_display(display),
        preset="tau-bench", metadata={"kind": "few_shot"}, name="tau-bench", tool_error=generic_tool_error,
    )


def _tau2_bench(record: dict[str, Any], mapping: Mapping[str, str]) -> Trajectory:
    # A tau2 task is not a run: its expected actions are the reference trajectory the agent should
    # take. We ingest it as a trace (user request, then one assistant turn per expected tool call,
    # no tool results, no outcome) tagged "reference", so datasets can take it as ground truth.
    task_id = record.get("id")
    if task_id is None or task_id == "":
        raise _Reject("missing_id", "tau2-bench task has no id")
    scenario = record.get("user_scenario") if isinstance(record.get("user_scenario"), dict) else {}
    instr = scenario.get("instructions")
    if isinstance(instr, dict):
        domain = instr.get("domain") or "unknown"
        request = "\n".join(str(instr[k]) for k in ("reason_for_call", "known_info", "unknown_info", "task_instructions") if instr.get(k))
    else:
        domain, request = "unknown", to_text(instr) or ""
    crit = record.get("evaluation_criteria") if isinstance(record.get("evaluation_criteria"), dict) else {}
    actions = crit.get("actions") or []
    if not isinstance(actions, list):
        raise _Reject("wrong_type", "tau2-bench task: evaluation_criteria.actions must be a list")
    raw: list[Any] = [{"role": "user", "content": request}]
    for i, act in enumerate(actions):
        if not isinstance(act, dict) or not act.get("name"):
            raise _Reject("invalid_value", f"tau2-bench task {task_id}: action {i} has no name")
        raw.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": act.get("action_id") or f"{task_id}_{i}", "type": "function",
             "function": {"name": act["name"], "arguments": act.get("arguments")}}]})
    return Trajectory(
        trace_id=f"tau2-bench:{domain}:{task_id}", messages=[], raw_messages=raw, preset="tau2-bench",
        external_id=task_id,
        metadata={"reference": True, "task_id": task_id, "domain": domain,
                  "reward_basis": crit.get("reward_basis"), "communicate_info": crit.get("communicate_info"),
                  "nl_assertions": crit.get("nl_assertions"), "description": record.get("description"),
                  "issues": record.get("issues")},
        name=f"tau2-bench:{domain}", tags=["reference", "tau2-bench"], input_text=request,
    )


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    matches: Callable[[dict[str, Any]], bool]
    extract: Callable[[dict[str, Any], Mapping[str, str]], Trajectory]


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("toolbench", "ToolBench DFS answer files", lambda r: isinstance(r.get("answer_generation"), dict), _toolbench),
        Preset("tau-bench", "tau-bench results (traj/reward) and few-shot files (messages_display)",
               lambda r: "messages_display" in r or ("traj" in r and "reward" in r and "task_id" in r), _tau_bench),
        Preset("tau2-bench", "tau2-bench tasks as reference trajectories",
               lambda r: "evaluation_criteria" in r and "user_scenario" in r, _tau2_bench),
    )
}


# ---------------------------------------------------------------------------------------------
# Generic mapping
# ---------------------------------------------------------------------------------------------
def _first(record: Any, mapping: Mapping[str, str], key: str, defaults: tuple[str, ...]) -> tuple[str | None, bool, Any]:
    """(path used, found, value) for a mapped key, or the first default field present."""
    if key in mapping:
        found, value = get_path(record, mapping[key])
        return mapping[key], found, value
    if isinstance(record, dict):
        for d in defaults:
            if d in record:
                return d, True, record[d]
    return None, False, None


def _generic(record: Any, mapping: Mapping[str, str]) -> Trajectory:
    if isinstance(record, list):
        raw, id_path, has_id, ext_id = record, None, False, None
    else:
        if not isinstance(record, dict):
            raise _Reject("wrong_type", f"a trajectory must be an object or a list of messages, got {type(record).__name__}")
        msg_path, found, raw = _first(record, mapping, "messages", _DEFAULT_MESSAGES)
        if not found:
            where = f"field {msg_path!r}" if msg_path else f"any of {', '.join(_DEFAULT_MESSAGES)}"
            raise _Reject("wrong_type", f"no messages: {where} missing (name it with --map messages=FIELD)")
        id_path, has_id, ext_id = _first(record, mapping, "id", _DEFAULT_ID)
        if "id" in mapping and (not has_id or ext_id in (None, "")):
            raise _Reject("missing_id", f"id field {mapping['id']!r} is missing or empty")
        if has_id and not isinstance(ext_id, (str, int)):
            raise _Reject("wrong_type", f"id field {id_path!r} must be a string or integer, got {type(ext_id).__name__}")
    trace_id = str(ext_id) if has_id and ext_id not in (None, "") else f"traj:{stable_hash(record)}"
    traj = Trajectory(trace_id=trace_id, messages=[], raw_messages=raw, external_id=ext_id, tool_error=generic_tool_error)
    if isinstance(record, dict):
        out_path, found, outcome = _first(record, mapping, "outcome", _DEFAULT_OUTCOME)
        if found:
            traj.outcome, traj.outcome_field = outcome, out_path
        meta_paths = mapping.get("metadata")
        if meta_paths:
            for p in meta_paths.split("|"):
                ok, v = get_path(record, p.strip())
                if ok:
                    if isinstance(v, dict) and len(meta_paths.split("|")) == 1:
                        traj.metadata.update(v)
                    else:
                        traj.metadata[p.strip()] = v
        elif isinstance(record.get("metadata"), dict):
            traj.metadata.update(record["metadata"])
        for key, attr in (("name", "name"), ("user", "user_id"), ("session", "session_id"), ("model", "model")):
            ok, v = get_path(record, mapping[key]) if key in mapping else (False, None)
            if ok and v is not None:
                setattr(traj, attr, to_text(v))
        if "tags" in mapping:
            ok, v = get_path(record, mapping["tags"])
            if ok and v is not None:
                traj.tags = [str(x) for x in v] if isinstance(v, list) else [str(v)]
        if "timestamp" in mapping:
            ok, v = get_path(record, mapping["timestamp"])
            if ok:
                traj.start_ns = parse_time_ns(v)
                if traj.start_ns is None and v is not None:
                    raise _Reject("invalid_value", f"timestamp field {mapping['timestamp']!r} is not a time: {v!r}")
    return traj


def _extract(record: Any, mapping: Mapping[str, str]) -> Trajectory:
    preset_name = mapping.get("preset")
    if preset_name:
        preset = PRESETS[preset_name]
        if not isinstance(record, dict):
            raise _Reject("wrong_type", f"{preset_name} record must be an object, got {type(record).__name__}")
        return preset.extract(record, mapping)
    if "messages" not in mapping and isinstance(record, dict):
        for preset in PRESETS.values():
            if preset.matches(record):
                return preset.extract(record, mapping)
    return _generic(record, mapping)


# ---------------------------------------------------------------------------------------------
# Outcome
# ---------------------------------------------------------------------------------------------
def outcome_label(value: Any, threshold: float = 1.0) -> tuple[float, str]:
    """(score, 'success'|'failure') for a bool, a number (success when >= threshold) or a word."""
    if isinstance(value, bool):
        return (1.0 if value else 0.0), ("success" if value else "failure")
    if isinstance(value, (int, float)):
        return float(value), ("success" if float(value) >= threshold - 1e-9 else "failure")
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _SUCCESS_WORDS:
            return 1.0, "success"
        if word in _FAILURE_WORDS:
            return 0.0, "failure"
        num = to_float(word)
        if num is not None:
            return num, ("success" if num >= threshold - 1e-9 else "failure")
    raise _Reject("invalid_value", f"outcome {value!r} is not a bool, a number or a success/failure word")


# ---------------------------------------------------------------------------------------------
# Trajectory -> records
# ---------------------------------------------------------------------------------------------
def _normalize_all(traj: Trajectory) -> None:
    if not isinstance(traj.raw_messages, list):
        raise _Reject("wrong_type", f"messages must be a list, got {type(traj.raw_messages).__name__}")
    out = []
    for i, m in enumerate(traj.raw_messages):
        if not isinstance(m, dict):
            raise _Reject("wrong_type", f"message {i} must be an object, got {type(m).__name__}")
        n = normalize_message(m)
        if n is None:
            raise _Reject("invalid_value", f"message {i} has no known role: {m.get('role', m.get('type'))!r}")
        out.append(n)
    traj.messages = out


def trajectory_items(traj: Trajectory, record: Any, *, threshold: float = 1.0) -> list[Item]:
    """The spans, tool calls and outcome feedback of one trajectory (deterministic ids)."""
    _normalize_all(traj)
    tid = traj.trace_id
    fb: Feedback | None = None
    if traj.outcome is not None:
        score, label = outcome_label(traj.outcome, threshold)
        fb = Feedback(
            trace_id=tid, key="outcome", source="code", score=score, label=label,
            comment=traj.outcome_comment or f"{traj.outcome_field}={traj.outcome!r}",
            raw={"field": traj.outcome_field, "value": traj.outcome},
        )
    msgs = traj.messages
    stored = [openai_shape(m) for m in msgs]
    root_id = derived_id(tid, "root")
    first_user = next((m for m in msgs if m["role"] == "user"), None)
    answer_i = next((i for i in range(len(msgs) - 1, -1, -1) if msgs[i]["role"] == "assistant" and msgs[i].get("content")), None)
    last_answer = msgs[answer_i] if answer_i is not None else None
    lead_n = next((i + 1 for i, m in enumerate(msgs) if m["role"] == "user"), 0)
    root = Span(
        trace_id=tid, span_id=root_id, source=NAME, name=traj.name or traj.preset or "trajectory", kind="agent",
        start_ns=traj.start_ns, status_code="unset",
        input_text=traj.input_text or (first_user or {}).get("content"),
        output_text=traj.output_text or (last_answer or {}).get("content"),
        input_messages=stored[:lead_n] or None,
        output_messages=[stored[answer_i]] if answer_i is not None else None,
        model=None, user_id=traj.user_id, session_id=traj.session_id, tags=traj.tags,
        attributes={k: v for k, v in {
            "trajectory.preset": traj.preset, "trajectory.id": traj.external_id,
            "trajectory.messages": len(msgs), "outcome.field": traj.outcome_field,
            "outcome.value": traj.outcome, "metadata": traj.metadata or None,
        }.items() if v is not None},
        raw=record,
    )
    items: list[Item] = [root]

    # Pass 1: every requested call, in order, and the result that answers it.
    calls: list[dict[str, Any]] = []     # {call, llm, result, msg_index, result_index?, unmatched?}
    llm_ids: dict[int, str] = {}
    pending: list[dict[str, Any]] = []
    last_llm: str | None = None
    for i, m in enumerate(msgs):
        if m["role"] == "assistant":
            last_llm = llm_ids[i] = derived_id(tid, "llm", i)
            for tc in m.get("tool_calls") or []:
                entry = {"call": tc, "llm": last_llm, "result": None, "msg_index": i}
                calls.append(entry)
                pending.append(entry)
        elif m["role"] in ("tool", "function"):
            match = None
            if m.get("tool_call_id"):
                match = next((p for p in pending if p["call"].get("id") == m["tool_call_id"]), None)
            if match is None and m.get("name"):
                match = next((p for p in pending if p["call"]["name"] == m["name"]), None)
            if match is None and not m.get("tool_call_id") and pending:
                match = pending[0]
            if match is None:
                # A result with no call to answer: keep it as its own call, never drop it.
                match = {"call": {"id": m.get("tool_call_id"), "name": m.get("name") or "unknown", "arguments": None},
                         "llm": last_llm, "result": None, "msg_index": i, "unmatched": True}
                calls.append(match)
            else:
                pending.remove(match)
            match["result"] = m
            match["result_index"] = i

    # LLM spans.
    for turn, i in enumerate(sorted(llm_ids), start=1):
        m = msgs[i]
        prev = msgs[i - 1] if i > 0 else None
        items.append(Span(
            trace_id=tid, span_id=llm_ids[i], parent_span_id=root_id, source=NAME, kind="llm",
            name=f"assistant turn {turn}",
            status_code="unset", model=_message_model(traj.raw_messages[i]) or traj.model,
            input_text=(prev or {}).get("content"), output_text=m.get("content"),
            input_messages=stored[:i], output_messages=[stored[i]],
            attributes={"message.index": i}, raw=traj.raw_messages[i],
        ))

    # Tool spans and calls, in request order.
    seen_ids: set[str] = set()
    for seq, entry in enumerate(calls):
        tc = entry["call"]
        res = entry["result"]
        span_id = derived_id(tid, "tool", seq)
        call_id = tc.get("id")
        if call_id in seen_ids:   # a log that reuses call ids: keep both calls apart
            call_id = None
        if call_id:
            seen_ids.add(call_id)
        result_text = content_text(res.get("content")) if res else None
        err = traj.tool_error(result_text) if (traj.tool_error and res) else None
        status = "error" if err else ("ok" if res else "unset")
        attrs: dict[str, Any] = {"message.index": entry["msg_index"]}
        if entry.get("unmatched"):
            attrs["tool.unmatched_result"] = True
        span = Span(
            trace_id=tid, span_id=span_id, parent_span_id=root_id, source=NAME, kind="tool", name=tc["name"],
            status_code=status, status_message=err, tool_name=tc["name"], tool_call_id=call_id,
            tool_arguments=tc.get("arguments"), tool_result=result_text,
            input_text=to_text(tc.get("arguments")), output_text=result_text,
            attributes=attrs | {"tool.requested_by": entry["llm"]} if entry["llm"] else attrs,
            raw=traj.raw_messages[entry["result_index"]] if res else None,
        )
        items.append(span)
        items.append(tool_call_from_span(span, seq=seq))
    if fb is not None:
        items.append(fb)
    return items


def _message_model(raw: Any) -> str | None:
    model = raw.get("model") if isinstance(raw, dict) else None
    return model if isinstance(model, str) else None


def parse(source: Source, options: FormatOptions) -> Iterator[Item]:
    """Parse a file of trajectories. Bad records become ``Rejected`` with the reason."""
    mapping = dict(options.mapping or {})
    unknown = set(mapping) - MAPPING_KEYS
    if unknown:
        raise ConfigError(f"unknown --map keys: {', '.join(sorted(unknown))}", value=mapping,
                          fix=f"use some of: {', '.join(sorted(MAPPING_KEYS))}")
    if mapping.get("preset") and mapping["preset"] not in PRESETS:
        raise ConfigError("unknown trajectory preset", value=mapping["preset"], fix=f"use one of: {', '.join(PRESETS)}")
    threshold = to_float(mapping.get("success_threshold")) if mapping.get("success_threshold") else 1.0
    if threshold is None:
        raise ConfigError("success_threshold must be a number", value=mapping.get("success_threshold"))
    # A file that is one bare list of messages is one trajectory, not an array of records.
    whole_list = source.head.lstrip()[:1] == b"[" and re.match(rb'\s*\[\s*\{\s*"(role|content)"', source.head) is not None
    for rec in iter_json_records(source, options, split_arrays=not whole_list):
        if isinstance(rec, Rejected):
            yield rec
            continue
        record, line_no = rec
        try:
            traj = _extract(record, mapping)
            items = trajectory_items(traj, record, threshold=threshold)
        except _Reject as r:
            yield Rejected(r.reason, r.detail, raw=_raw(record), line_no=line_no)
            continue
        yield from items


def _raw(record: Any) -> bytes:
    return orjson.dumps(record, default=str)


FORMAT = register(Format(
    name=NAME,
    description="chat-message trajectories (OpenAI tool_calls or legacy function_call); presets: " + ", ".join(PRESETS),
    sniff=sniff,
    parse=parse,
    priority=70,
))

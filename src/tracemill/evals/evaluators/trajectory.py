"""Trajectory match (agentevals / openevals ``create_trajectory_match_evaluator`` semantics).

Modes: ``strict`` (same messages in the same order; tool calls within one message in any order),
``unordered`` (same tool calls, any order), ``subset`` (output calls ⊆ reference calls),
``superset`` (output calls ⊇ reference calls). Tool arguments are compared ``exact``, ``ignore``d,
as a ``subset`` (output args ⊆ reference args) or ``superset``; per-tool overrides take a mode,
a list of (dotted) keys that must be equal, or a callable ``(output_args, reference_args) -> bool``.

Trajectories may be OpenAI chat messages, LangChain-style message dicts (``type: ai|human|tool``),
a dict with a ``messages`` key, or a plain list of tool calls ``{name, arguments}`` (what the
runner records; each call then counts as its own step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import orjson

from tracemill.evals.evaluators.result import EvalResult

TrajectoryMode = Literal["strict", "unordered", "subset", "superset"]
ArgsMode = Literal["exact", "ignore", "subset", "superset"]
ArgsMatcher = Callable[[dict, dict], bool]
ArgsOverride = ArgsMode | list[str] | ArgsMatcher

_ROLES = {"human": "user", "ai": "assistant", "tool": "tool", "system": "system", "user": "user", "assistant": "assistant"}


def _args(value: Any) -> dict:
    if isinstance(value, (str, bytes)):
        return orjson.loads(value) if value else {}
    return dict(value or {})


def _tool_call(call: dict) -> dict:
    """An OpenAI-format tool call from OpenAI, LangChain or ``{name, arguments}`` shapes."""
    if isinstance(call.get("function"), dict):
        fn = call["function"]
        arguments = fn.get("arguments", "{}")
        if not isinstance(arguments, str):
            arguments = orjson.dumps(arguments).decode()
        return {"id": call.get("id", ""), "type": "function", "function": {"name": fn["name"], "arguments": arguments}}
    args = call.get("args", call.get("arguments", {}))
    if not isinstance(args, str):
        args = orjson.dumps(args).decode()
    return {"id": call.get("id", ""), "type": "function", "function": {"name": call["name"], "arguments": args}}


def _message(m: Any) -> dict:
    if hasattr(m, "model_dump"):
        m = m.model_dump()
    m = dict(m)
    role = _ROLES.get(m.get("role") or m.get("type") or "", m.get("role") or m.get("type"))
    out: dict[str, Any] = {"role": role, "content": m.get("content") or ""}
    if role == "assistant" and m.get("tool_calls"):
        out["tool_calls"] = [_tool_call(c) for c in m["tool_calls"]]
    if role == "tool":
        out["tool_call_id"] = m.get("tool_call_id") or ""
    return out


def normalize_trajectory(value: Any) -> list[dict]:
    """OpenAI-format messages from any supported trajectory shape."""
    if value is None:
        raise ValueError("a missing trajectory cannot be evaluated (got None); record an empty list for 'no calls'")
    if isinstance(value, dict):
        if "role" in value or "type" in value:
            value = [value]
        elif "messages" in value:
            value = value["messages"]
        elif "trajectory" in value:
            value = value["trajectory"]
        else:
            raise ValueError("a trajectory dict must contain 'messages' (or be a single message)")
    if not isinstance(value, list):
        value = [value]
    messages: list[dict] = []
    for item in value:
        if hasattr(item, "model_dump"):
            item = item.model_dump()
        if isinstance(item, dict) and "role" not in item and "type" not in item and ("name" in item or "function" in item):
            messages.append({"role": "assistant", "content": "", "tool_calls": [_tool_call(item)]})
        else:
            messages.append(_message(item))
    return messages


def extract_tool_calls(messages: list[dict]) -> list[dict]:
    """``[{name, args}]`` in order from normalised messages."""
    calls = []
    for m in messages:
        for c in m.get("tool_calls") or []:
            calls.append({"name": c["function"]["name"], "args": _args(c["function"]["arguments"])})
    return calls


def _exact(a: dict, b: dict) -> bool:
    return a == b


def _subset(a: dict, b: dict) -> bool:  # every output arg appears in the reference
    return all(k in b and b[k] == v for k, v in a.items())


def _superset(a: dict, b: dict) -> bool:  # every reference arg appears in the output
    return all(k in a and a[k] == v for k, v in b.items())


def _ignore(a: dict, b: dict) -> bool:
    return True


_MODES: dict[str, ArgsMatcher] = {"exact": _exact, "subset": _subset, "superset": _superset, "ignore": _ignore}
_MISSING = object()


def _keys_matcher(keys: list[str]) -> ArgsMatcher:
    def get(d: Any, path: str) -> Any:
        for part in path.split("."):
            if not isinstance(d, dict) or part not in d:
                return _MISSING
            d = d[part]
        return d

    def matcher(out: dict, ref: dict) -> bool:
        for k in keys:
            a, b = get(out, k), get(ref, k)
            if a is _MISSING or b is _MISSING or a != b:
                return False
        return True

    return matcher


def _matcher(name: str, mode: ArgsMode, overrides: dict[str, ArgsOverride] | None) -> ArgsMatcher:
    override = (overrides or {}).get(name)
    if not override:
        return _MODES[mode]
    if isinstance(override, str):
        if override not in _MODES:
            raise ValueError(f"unknown tool args match mode {override!r} for tool {name!r}")
        return _MODES[override]
    if isinstance(override, list):
        return _keys_matcher(override)
    if callable(override):
        return override
    raise ValueError(f"invalid tool args match override for {name!r}: {override!r}")


def _is_superset(outputs: list[dict], references: list[dict], mode: ArgsMode, overrides: dict | None) -> bool:
    """Every reference call has its own matching output call."""
    out_calls, used = extract_tool_calls(outputs), set()
    for ref in extract_tool_calls(references):
        matcher = _matcher(ref["name"], mode, overrides)
        for idx, out in enumerate(out_calls):
            if idx not in used and out["name"] == ref["name"] and matcher(out["args"], ref["args"]):
                used.add(idx)
                break
        else:
            return False
    return True


def _strict(outputs: list[dict], references: list[dict], mode: ArgsMode, overrides: dict | None) -> bool:
    if len(outputs) != len(references):
        return False
    for out, ref in zip(outputs, references, strict=True):
        if out["role"] != ref["role"]:
            return False
        out_calls, ref_calls = out.get("tool_calls"), ref.get("tool_calls")
        if (out_calls is None) != (ref_calls is None):
            return False
        if out_calls is None:
            continue
        if len(out_calls) != len(ref_calls):
            return False
        if not _is_superset([out], [ref], mode, overrides):
            return False
    return True


def create_trajectory_match_evaluator(
    *,
    trajectory_match_mode: TrajectoryMode = "strict",
    tool_args_match_mode: ArgsMode = "exact",
    tool_args_match_overrides: dict[str, ArgsOverride] | None = None,
    key: str | None = None,
) -> Callable[..., EvalResult]:
    """Compare the output trajectory with the reference trajectory. Score is True/False."""
    if trajectory_match_mode not in ("strict", "unordered", "subset", "superset"):
        raise ValueError(f"unknown trajectory match mode {trajectory_match_mode!r}")
    if tool_args_match_mode not in _MODES:
        raise ValueError(f"unknown tool args match mode {tool_args_match_mode!r}")
    name = key or f"trajectory_{trajectory_match_mode}_match"
    mode, overrides = tool_args_match_mode, tool_args_match_overrides

    def evaluator(
        *, inputs: Any = None, outputs: Any, reference_outputs: Any = None, **kw: Any
    ) -> EvalResult:
        # The runner passes the recorded trajectory separately from the final output.
        got = kw.get("trajectory") if kw.get("trajectory") is not None else outputs
        want = kw.get("reference_trajectory") if kw.get("reference_trajectory") is not None else reference_outputs
        out, ref = normalize_trajectory(got), normalize_trajectory(want)
        if trajectory_match_mode == "strict":
            score = _strict(out, ref, mode, overrides)
        elif trajectory_match_mode == "unordered":
            score = _is_superset(out, ref, mode, overrides) and _is_superset(ref, out, mode, overrides)
        elif trajectory_match_mode == "superset":
            score = _is_superset(out, ref, mode, overrides)
        else:
            score = _is_superset(ref, out, mode, overrides)
        return EvalResult(key=name, score=score)

    return evaluator

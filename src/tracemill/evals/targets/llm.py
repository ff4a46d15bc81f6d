"""The llm target: a litellm chat call over the example inputs, with an optional tool loop.

Tool calls the model makes are recorded as the trajectory. When the spec maps a tool to a Python
function (``module:function``) or to ``recorded`` (the result stored for that call in the example's
source trace), the call is answered and the loop continues, so a multi-step agent can be replayed.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import defaultdict
from typing import Any

import jinja2
import orjson

from tracemill.datasets.example import Example
from tracemill.errors import ConfigError, TransientError
from tracemill.evals.spec import LLMTarget
from tracemill.evals.targets import litellm_fast
from tracemill.evals.targets.base import TargetOutput, TraceLookup
from tracemill.evals.targets.litellm_fast import acompletion, classify_error, cost_of

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


def _render(template: str, inputs: dict[str, Any]) -> str:
    try:
        return _ENV.from_string(template).render(inputs=inputs, **inputs)
    except jinja2.UndefinedError as exc:
        raise ConfigError("prompt template refers to a missing input field", value=str(exc),
                          fix=f"the example inputs have keys {sorted(inputs)}") from exc


def build_messages(spec: LLMTarget, inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """Chat messages for one example: the spec's system prompt and user template, else the recorded messages."""
    if spec.prompt_template:
        messages = [{"role": "user", "content": _render(spec.prompt_template, inputs)}]
    elif isinstance(inputs.get("messages"), list):
        messages = [dict(m) for m in inputs["messages"]]
        if spec.system_prompt:  # the candidate's system prompt replaces the recorded one
            messages = [m for m in messages if m.get("role") != "system"]
    else:
        for k in ("input", "question", "prompt", "query", "text"):
            if isinstance(inputs.get(k), str):
                messages = [{"role": "user", "content": inputs[k]}]
                break
        else:
            messages = [{"role": "user", "content": orjson.dumps(inputs).decode()}]
    if spec.system_prompt:
        messages.insert(0, {"role": "system", "content": _render(spec.system_prompt, inputs)})
    return messages


class RecordedTools:
    """Answers tool calls with the results recorded in a source trace: the k-th call of a tool gets
    the recorded result of the call with equal arguments, else the k-th recorded call of that tool."""

    def __init__(self, calls: list[dict[str, Any]]) -> None:
        self._by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for c in calls:
            self._by_name[c["name"]].append(c)
        self._used: set[int] = set()

    def answer(self, name: str, arguments: dict[str, Any]) -> str:
        candidates = [c for c in self._by_name.get(name, []) if id(c) not in self._used]
        if not candidates:
            raise LookupError(f"no recorded result left for tool {name!r}")
        chosen = next((c for c in candidates if c.get("arguments") == arguments), candidates[0])
        self._used.add(id(chosen))
        result = chosen.get("result")
        return result if isinstance(result, str) else orjson.dumps(result).decode()


class LLMChatTarget:
    """litellm ``acompletion`` with the spec's model, prompt, params and tools."""

    kind = "llm"
    cacheable = True

    def __init__(self, spec: LLMTarget, *, api_key: str | None = None, timeout_s: float = 60.0,
                 traces: TraceLookup | None = None, prices: dict[str, float] | None = None) -> None:
        from tracemill.evals.evaluators import import_ref

        self.spec = spec
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.traces = traces
        self.prices = prices or (spec.prices.model_dump() if spec.prices else None)
        self.handlers: dict[str, Any] = {}
        for name, ref in spec.tools.items():
            self.handlers[name] = "recorded" if ref == "recorded" else import_ref(ref)
        self.uses_traces = "recorded" in spec.tools.values()

    def _handler(self, name: str) -> Any:
        return self.handlers.get(name, self.handlers.get("*"))

    async def _answer_tool(self, name: str, arguments: dict[str, Any], recorded: RecordedTools | None) -> str:
        handler = self._handler(name)
        if handler == "recorded":
            if recorded is None:
                raise LookupError("tool results are 'recorded' but the example has no source trace")
            return recorded.answer(name, arguments)
        value = handler(**arguments)
        if inspect.isawaitable(value):
            value = await value
        return value if isinstance(value, str) else orjson.dumps(value).decode()

    async def __call__(self, example: Example) -> TargetOutput:
        spec = self.spec
        messages = build_messages(spec, example.inputs)
        recorded: RecordedTools | None = None
        if self.uses_traces and example.source_trace_id and self.traces is not None:
            trace = self.traces.get(example.source_trace_id)
            recorded = RecordedTools(trace.tool_calls if trace else [])
        trajectory: list[dict[str, Any]] = []
        tokens_in = tokens_out = 0
        cost: float | None = 0.0
        kwargs: dict[str, Any] = dict(spec.params)
        if spec.tool_schemas:
            kwargs["tools"] = spec.tool_schemas
        content: Any = None
        for _step in range(spec.max_steps):
            try:
                response = await acompletion(
                    model=spec.model, messages=messages, api_base=spec.api_base, api_key=self.api_key,
                    timeout=self.timeout_s, **kwargs,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # litellm maps provider errors to its exception types
                raise classify_error(exc) from exc
            usage = response.get("usage") or {}
            step_in, step_out = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            tokens_in += step_in
            tokens_out += step_out
            step_cost = cost_of(spec.model, step_in, step_out, self.prices)
            cost = None if cost is None or step_cost is None else cost + step_cost
            message = response["choices"][0]["message"]
            content = message.get("content")
            calls = message.get("tool_calls") or []
            if not calls:
                break
            answerable = all(self._handler(c["function"]["name"]) is not None for c in calls)
            messages.append({"role": "assistant", "content": content, "tool_calls": calls})
            for call in calls:
                name = call["function"]["name"]
                try:
                    arguments = orjson.loads(call["function"].get("arguments") or "{}")
                except orjson.JSONDecodeError:
                    arguments = {"_raw": call["function"].get("arguments")}
                step: dict[str, Any] = {"name": name, "arguments": arguments}
                if answerable:
                    try:
                        step["result"] = await self._answer_tool(name, arguments, recorded)
                    except TransientError:
                        raise
                    except Exception as exc:  # a failing tool is part of the trajectory, not a crash
                        step["result"] = f"error: {exc}"
                        step["error"] = str(exc)
                    messages.append({"role": "tool", "tool_call_id": call.get("id", ""), "content": step["result"]})
                trajectory.append(step)
            if not answerable:
                break
        return TargetOutput(output=content, trajectory=trajectory, input_tokens=tokens_in,
                            output_tokens=tokens_out, cost_usd=cost)

    async def aclose(self) -> None:
        await litellm_fast.aclose()  # the HTTP session of this event loop

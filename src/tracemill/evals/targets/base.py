"""What every target returns, and the recorded traces some targets read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tracemill.datasets.example import Example


@dataclass
class TargetOutput:
    """One answer: the output, the tool calls made on the way, and what it cost."""

    output: Any
    trajectory: list[dict[str, Any]] | None = None   # [{name, arguments, result?}]
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None                  # set by replay (the recorded latency)

    def to_cache(self) -> dict[str, Any]:
        return {"output": self.output, "trajectory": self.trajectory}


@dataclass
class RecordedTrace:
    """A production trace's output and tool calls, for the replay target and recorded tool answers."""

    trace_id: str
    output: Any = None
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    status: str | None = None
    error_message: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{name, arguments, result, status}] in order


class TraceLookup(Protocol):
    def get(self, trace_id: str) -> RecordedTrace | None: ...


class Target(Protocol):
    """Answers one example. ``cacheable`` targets get their answers stored in the response cache."""

    kind: str
    cacheable: bool
    uses_traces: bool

    async def __call__(self, example: Example) -> TargetOutput: ...

    async def aclose(self) -> None: ...


AsyncFn = Callable[..., Awaitable[Any]]

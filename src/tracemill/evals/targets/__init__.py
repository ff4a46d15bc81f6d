"""Targets answer examples: llm (litellm chat), python (module:function), http (JSON POST), replay (recorded)."""

from __future__ import annotations

from tracemill.evals.spec import CandidateSpec, HttpTarget, LLMTarget, PythonTarget
from tracemill.evals.spec import ReplayTarget as ReplaySpec
from tracemill.evals.targets.base import RecordedTrace, Target, TargetOutput, TraceLookup
from tracemill.evals.targets.http import HttpPostTarget
from tracemill.evals.targets.llm import LLMChatTarget
from tracemill.evals.targets.python import PythonFunctionTarget
from tracemill.evals.targets.replay import DictTraces, ReplayTarget, WarehouseTraces


def needs_traces(spec: CandidateSpec) -> bool:
    """Whether the target reads the examples' source traces (replay, or recorded tool results)."""
    t = spec.target
    return isinstance(t, ReplaySpec) or (isinstance(t, LLMTarget) and "recorded" in t.tools.values())


def build_target(
    spec: CandidateSpec, *, traces: TraceLookup | None = None, prices: dict[str, float] | None = None
) -> Target:
    """The target object for a spec."""
    t = spec.target
    if isinstance(t, LLMTarget):
        return LLMChatTarget(t, api_key=spec.resolved_api_key(), timeout_s=spec.timeout_s, traces=traces, prices=prices)
    if isinstance(t, PythonTarget):
        return PythonFunctionTarget(t)
    if isinstance(t, HttpTarget):
        return HttpPostTarget(t, timeout_s=spec.timeout_s)
    return ReplayTarget(traces)


__all__ = [
    "DictTraces",
    "HttpPostTarget",
    "LLMChatTarget",
    "PythonFunctionTarget",
    "RecordedTrace",
    "ReplayTarget",
    "Target",
    "TargetOutput",
    "TraceLookup",
    "WarehouseTraces",
    "build_target",
    "needs_traces",
]

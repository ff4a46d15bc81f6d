"""Paired comparison of two experiments, and the release gate judged on it."""

from tracemill.gate.compare import (
    Comparison,
    ExampleDelta,
    ExampleInfo,
    ExperimentData,
    GroupBreakdown,
    MetricComparison,
    RunStats,
    compare,
    example_infos,
)
from tracemill.gate.policy import Check, GatePolicy, GateResult, evaluate, load_policy

__all__ = [
    "Check",
    "Comparison",
    "ExampleDelta",
    "ExampleInfo",
    "ExperimentData",
    "GatePolicy",
    "GateResult",
    "GroupBreakdown",
    "MetricComparison",
    "RunStats",
    "compare",
    "evaluate",
    "example_infos",
    "load_policy",
]

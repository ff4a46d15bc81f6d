"""Budget checks: did one call stay under a latency or cost limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tracemill.evals.evaluators.result import EvalResult


def create_latency_budget(*, max_ms: float, key: str = "latency_budget") -> Callable[..., EvalResult]:
    """Pass when the call's ``latency_ms`` (passed by the runner) is at most ``max_ms``."""

    def evaluator(*, inputs: Any = None, outputs: Any = None, reference_outputs: Any = None, **kw: Any) -> EvalResult:
        latency = kw.get("latency_ms")
        if latency is None:
            return EvalResult(key=key, score=None, comment="no latency recorded")
        ok = float(latency) <= max_ms
        return EvalResult(key=key, score=ok, comment=None if ok else f"{latency:.0f} ms > {max_ms:g} ms",
                          metadata={"latency_ms": latency, "max_ms": max_ms})

    return evaluator


def create_cost_budget(*, max_usd: float, key: str = "cost_budget") -> Callable[..., EvalResult]:
    """Pass when the call's ``cost_usd`` (passed by the runner) is at most ``max_usd``."""

    def evaluator(*, inputs: Any = None, outputs: Any = None, reference_outputs: Any = None, **kw: Any) -> EvalResult:
        cost = kw.get("cost_usd")
        if cost is None:
            return EvalResult(key=key, score=None, comment="no cost recorded (unknown model price)")
        ok = float(cost) <= max_usd
        return EvalResult(key=key, score=ok, comment=None if ok else f"${cost:.6f} > ${max_usd:g}",
                          metadata={"cost_usd": cost, "max_usd": max_usd})

    return evaluator

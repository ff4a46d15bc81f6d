"""The one result shape every evaluator returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

# An evaluator: ``fn(*, inputs, outputs, reference_outputs=None, **kw) -> EvalResult | list[EvalResult]``.
# Extra keyword arguments the runner passes: trajectory, reference_trajectory, latency_ms, cost_usd,
# input_tokens, output_tokens, metadata (the example's), example_id, cache (a ResponseCache or None).
Evaluator = Callable[..., "EvalResult | list[EvalResult]"]


@dataclass(frozen=True)
class EvalResult:
    """One score. ``score`` is a bool (pass/fail) or a float; ``label`` a category when there is one."""

    key: str
    score: bool | float | None
    label: str | None = None
    comment: str | None = None
    metadata: dict[str, Any] | None = field(default=None)

    @property
    def numeric(self) -> float | None:
        """The score as a float (True -> 1.0) for storage and averaging."""
        if self.score is None:
            return None
        return float(self.score)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def as_results(value: EvalResult | list[EvalResult] | dict[str, Any] | None) -> list[EvalResult]:
    """Normalise what a (custom) evaluator returned into a list of EvalResult."""
    if value is None:
        return []
    if isinstance(value, EvalResult):
        return [value]
    if isinstance(value, dict):
        if "results" in value and isinstance(value["results"], list):
            return [r for v in value["results"] for r in as_results(v)]
        return [
            EvalResult(
                key=str(value.get("key", "custom")),
                score=value.get("score"),
                label=value.get("label") or value.get("value"),
                comment=value.get("comment"),
                metadata=value.get("metadata"),
            )
        ]
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in as_results(v)]
    raise TypeError(f"an evaluator returned {type(value).__name__}; return EvalResult, a list of them, or a dict")

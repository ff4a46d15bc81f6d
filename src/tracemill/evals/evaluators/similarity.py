"""String similarity: normalised Levenshtein (rapidfuzz)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from rapidfuzz.distance import Levenshtein

from tracemill.evals.evaluators.result import EvalResult


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def create_levenshtein_similarity(
    *, key: str = "levenshtein_distance", threshold: float | None = None
) -> Callable[..., EvalResult]:
    """``1 - distance / max(len)`` between output and reference text (1.0 = identical), as openevals.

    With ``threshold``, the label says pass/fail at that similarity.
    """

    def evaluator(*, inputs: Any = None, outputs: Any, reference_outputs: Any = None, **kw: Any) -> EvalResult:
        got, want = _text(outputs), _text(reference_outputs)
        score = float(Levenshtein.normalized_similarity(got, want)) if (got or want) else 1.0
        label = None if threshold is None else ("pass" if score >= threshold else "fail")
        return EvalResult(key=key, score=score, label=label)

    return evaluator


levenshtein_similarity = create_levenshtein_similarity()

"""Evaluators: plain keyword-only functions ``(*, inputs, outputs, reference_outputs=None, **kw)``
returning :class:`EvalResult` (or a list of them). Configured ones come from ``create_*`` factories.

``BUILTINS`` maps the names used in candidate specs to factories; a spec may also name a custom
evaluator as ``module:function`` (a factory when the spec gives params, else the evaluator itself).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from tracemill.errors import ConfigError
from tracemill.evals.evaluators.budget import create_cost_budget, create_latency_budget
from tracemill.evals.evaluators.code_exec import create_pass_at_k, pass_at_k, run_program
from tracemill.evals.evaluators.json_match import create_json_match_evaluator, create_json_schema, json_valid
from tracemill.evals.evaluators.judge import create_llm_judge
from tracemill.evals.evaluators.matching import (
    create_contains,
    create_exact_match,
    create_numeric_match,
    create_regex,
    exact_match,
    extract_number,
    numeric_match,
)
from tracemill.evals.evaluators.result import EvalResult, Evaluator, as_results
from tracemill.evals.evaluators.similarity import create_levenshtein_similarity, levenshtein_similarity
from tracemill.evals.evaluators.trajectory import create_trajectory_match_evaluator, normalize_trajectory

BUILTINS: dict[str, Callable[..., Evaluator]] = {
    "exact": lambda **p: create_exact_match(normalize=False, **p),
    "normalized_match": create_exact_match,
    "numeric_match": create_numeric_match,
    "contains": create_contains,
    "regex": create_regex,
    "json_valid": lambda: json_valid,
    "json_schema": create_json_schema,
    "json_match": create_json_match_evaluator,
    "levenshtein": create_levenshtein_similarity,
    "trajectory_match": create_trajectory_match_evaluator,
    "pass_at_k": create_pass_at_k,
    "latency_budget": create_latency_budget,
    "cost_budget": create_cost_budget,
    "llm_judge": create_llm_judge,
}


def import_ref(ref: str) -> Any:
    """The object named by ``package.module:attribute``."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError("a code reference must look like 'package.module:function'", value=ref)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module {module_name!r}", value=ref,
                          fix=f"make it importable (on PYTHONPATH / installed); {exc}") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"module {module_name!r} has no attribute {part!r}", value=ref)
        obj = getattr(obj, part)
    return obj


def build_evaluator(name: str, params: dict[str, Any] | None = None) -> Evaluator:
    """An evaluator from a spec entry: a builtin name or a ``module:function`` reference."""
    params = dict(params or {})
    if ":" in name:
        fn = import_ref(name)
        if not callable(fn):
            raise ConfigError("custom evaluator is not callable", value=name)
        return fn(**params) if params else fn
    if name not in BUILTINS:
        raise ConfigError(f"unknown evaluator {name!r}", value=name,
                          fix=f"use one of {sorted(BUILTINS)} or a 'module:function' reference")
    try:
        return BUILTINS[name](**params)
    except TypeError as exc:
        raise ConfigError(f"bad parameters for evaluator {name!r}", value=params, fix=str(exc)) from exc


__all__ = [
    "BUILTINS",
    "EvalResult",
    "Evaluator",
    "as_results",
    "build_evaluator",
    "create_contains",
    "create_cost_budget",
    "create_exact_match",
    "create_json_match_evaluator",
    "create_json_schema",
    "create_latency_budget",
    "create_levenshtein_similarity",
    "create_llm_judge",
    "create_numeric_match",
    "create_pass_at_k",
    "create_regex",
    "create_trajectory_match_evaluator",
    "exact_match",
    "extract_number",
    "import_ref",
    "json_valid",
    "levenshtein_similarity",
    "normalize_trajectory",
    "numeric_match",
    "pass_at_k",
    "run_program",
]

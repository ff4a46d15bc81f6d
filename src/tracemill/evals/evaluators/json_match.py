"""JSON evaluators: validity, JSON Schema, and per-field match (openevals ``create_json_match_evaluator`` semantics).

The field match compares each key of an object output with the reference; lists of objects are
aligned first (``list_match_mode``) and scores aggregated per object (``aggregator``) and across
the list (``list_aggregator``). LLM rubrics per key are not supported here; use the judge evaluator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jsonschema
import orjson

from tracemill.evals.evaluators.result import EvalResult

ListMatchMode = Literal["superset", "subset", "same_elements", "ordered"]
Aggregator = Literal["average", "all"]


def _parse(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, (bytes, str)):
        text = value.decode() if isinstance(value, bytes) else value
        stripped = text.strip()
        if stripped.startswith("```"):  # fenced code block around the JSON
            stripped = stripped.strip("`")
            stripped = stripped[stripped.find("\n") + 1 :] if "\n" in stripped else stripped
        try:
            return orjson.loads(stripped), None
        except orjson.JSONDecodeError as exc:
            return None, str(exc)
    return value, None


def json_valid(*, inputs: Any = None, outputs: Any, reference_outputs: Any = None, **kw: Any) -> EvalResult:
    """True when the output is JSON (a parsed value, or a string that parses)."""
    _, error = _parse(outputs)
    return EvalResult(key="json_valid", score=error is None, comment=error)


def create_json_schema(*, schema: dict[str, Any], key: str = "json_schema") -> Callable[..., EvalResult]:
    """The output parses as JSON and validates against ``schema`` (the jsonschema library)."""
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    validator = validator_cls(schema)

    def evaluator(*, inputs: Any = None, outputs: Any, reference_outputs: Any = None, **kw: Any) -> EvalResult:
        value, error = _parse(outputs)
        if error is not None:
            return EvalResult(key=key, score=False, comment=f"not JSON: {error}")
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.path) or "(root)"
            return EvalResult(key=key, score=False, comment=f"{where}: {first.message}", metadata={"n_errors": len(errors)})
        return EvalResult(key=key, score=True)

    return evaluator


def _match_score(a: dict, b: dict, skip: set[str]) -> int:
    return sum(1 for k in a if k in b and k not in skip and a[k] == b[k])


def _flatten_lists(
    outputs: list[dict], references: list[dict], mode: ListMatchMode, skip: set[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Align list items and flatten them to ``key_index`` maps (as openevals does)."""
    out: dict[str, Any] = {}
    ref: dict[str, Any] = {}
    if mode == "ordered":
        for i, item in enumerate(outputs):
            out.update({f"{k}_{i}": v for k, v in item.items()})
        for i, item in enumerate(references):
            ref.update({f"{k}_{i}": v for k, v in item.items()})
    elif mode == "superset":
        available = list(range(len(outputs)))
        for i, ref_item in enumerate(references):
            best, best_score = None, -1
            for idx in available:
                score = _match_score(ref_item, outputs[idx], skip)
                if score > best_score:
                    best, best_score = idx, score
            if best is not None:
                out.update({f"{k}_{i}": v for k, v in outputs[best].items()})
                available.remove(best)
            ref.update({f"{k}_{i}": v for k, v in ref_item.items()})
    else:  # same_elements or subset
        available = list(range(len(references)))
        for i, item in enumerate(outputs):
            best, best_score = None, -1
            for idx in available:
                score = _match_score(item, references[idx], skip)
                if score > best_score:
                    best, best_score = idx, score
            out.update({f"{k}_{i}": v for k, v in item.items()})
            if best is not None:
                ref.update({f"{k}_{i}": v for k, v in references[best].items()})
                available.remove(best)
        if mode == "same_elements":  # unmatched references count against the output
            for n, idx in enumerate(available):
                ref.update({f"{k}_{len(outputs) + n}": v for k, v in references[idx].items()})
    return out, ref


def _base(raw_key: str) -> str:
    return raw_key[: raw_key.rfind("_")]


def _index(raw_key: str) -> str:
    return raw_key[raw_key.rfind("_") + 1 :]


def create_json_match_evaluator(
    *,
    aggregator: Aggregator | None = None,
    list_aggregator: Aggregator = "all",
    exclude_keys: list[str] | None = None,
    list_match_mode: ListMatchMode = "same_elements",
    key: str = "json_match",
) -> Callable[..., list[EvalResult]]:
    """Per-field JSON match. Returns one result per key, or one ``json_match:<aggregator>`` result."""
    skip = set(exclude_keys or [])

    def evaluator(*, inputs: Any = None, outputs: Any, reference_outputs: Any = None, **kw: Any) -> list[EvalResult]:
        outputs, _ = _parse(outputs)
        reference_outputs, _ = _parse(reference_outputs)
        is_list = isinstance(outputs, list)
        if is_list:
            if not isinstance(reference_outputs, list):
                raise ValueError("if outputs is a list, reference_outputs must also be a list")
            out, ref = _flatten_lists(outputs, reference_outputs, list_match_mode, skip)
        else:
            out, ref = dict(outputs or {}), dict(reference_outputs or {})
        base = _base if is_list else (lambda k: k)
        scores: dict[str, float] = {}
        for raw, value in out.items():
            if base(raw) in skip:
                continue
            scores[raw] = 1 if raw in ref and ref[raw] == value else 0
        for raw in ref:
            if base(raw) not in skip and raw not in out:
                scores[raw] = 0
        return [EvalResult(key=k, score=v) for k, v in _aggregate(scores, is_list, aggregator, list_aggregator, key).items()]

    return evaluator


def _aggregate(
    scores: dict[str, float], is_list: bool, aggregator: Aggregator | None, list_aggregator: Aggregator, key: str
) -> dict[str, float]:
    def reduce(values: list[float], how: Aggregator) -> float:
        if how == "average":
            return sum(values) / len(values) if values else 0
        return 0 if any(v != 1 for v in values) else 1

    if is_list:
        groups: dict[str, dict[str, float]] = {}
        for raw, v in scores.items():
            groups.setdefault(_index(raw), {})[_base(raw)] = v
        if aggregator is not None:
            per_index = [reduce(list(g.values()), aggregator) for g in groups.values() if g]
            return {f"{key}:{aggregator}": reduce(per_index, list_aggregator)}
        by_key: dict[str, list[float]] = {}
        for g in groups.values():
            for k, v in g.items():
                by_key.setdefault(k, []).append(v)
        return {f"{key}:{k}": reduce(vals, list_aggregator) for k, vals in by_key.items()}
    if aggregator is not None:
        return {f"{key}:{aggregator}": reduce(list(scores.values()), aggregator)}
    return {f"{key}:{k}": v for k, v in scores.items()}

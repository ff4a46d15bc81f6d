"""Peer conformance: our deterministic evaluators reproduce agentevals/openevals test vectors exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tracemill.evals.evaluators.json_match import create_json_match_evaluator
from tracemill.evals.evaluators.matching import exact_match
from tracemill.evals.evaluators.similarity import levenshtein_similarity
from tracemill.evals.evaluators.trajectory import create_trajectory_match_evaluator

DETERMINISTIC = {"create_trajectory_match_evaluator", "create_json_match_evaluator", "exact_match", "levenshtein_distance"}


def _sf_matcher(x: dict, y: dict) -> bool:
    """The upstream ``<lambda>`` override of test_trajectory_match_with_langchain_messages_and_override."""
    return x["city"] in ("SF", "San Francisco") and y["city"] in ("SF", "San Francisco")


def _lookup_policy_query_matcher(tool_args: dict, reference_tool_args: dict) -> bool:
    """The upstream ``lookup_policy_query_matcher`` of test_trajectory_match_with_overrides."""
    if reference_tool_args.get("query", {}) and "upgrade" in reference_tool_args.get("query", {}):
        return "upgrade" in tool_args.get("query", {})
    return True


CALLABLES = {"<lambda>": _sf_matcher, "lookup_policy_query_matcher": _lookup_policy_query_matcher}


def _resolve_callables(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__callable__"}:
            return CALLABLES[value["__callable__"]]
        return {k: _resolve_callables(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_callables(v) for v in value]
    return value


def _cases(external: Path) -> list[tuple[str, dict]]:
    out = []
    for name in ("agentevals/agentevals_test_cases.json", "openevals/openevals_test_cases.json"):
        data = json.loads((external / name).read_text())
        for case in data["cases"]:
            config = case.get("evaluator_config") or {}
            # Cases with an LLM rubric/model are soft labels, not exact oracles (see the file's caveat).
            if case["evaluator"] not in DETERMINISTIC or "model" in config or "rubric" in config or "expected" not in case:
                continue
            out.append((f"{name.split('/')[0]}:{case['test']}:{case.get('call_index')}:{json.dumps(case.get('params'))}", case))
    return out


EXTERNAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "external"
CASES = _cases(EXTERNAL) if EXTERNAL.is_dir() else []


def _run(case: dict) -> Any:
    config = _resolve_callables(case.get("evaluator_config") or {})
    kwargs = {k: v for k, v in case["call_kwargs"].items() if k in ("inputs", "outputs", "reference_outputs")}
    kwargs.setdefault("inputs", {})
    name = case["evaluator"]
    if name == "create_trajectory_match_evaluator":
        return create_trajectory_match_evaluator(**config)(**kwargs).as_dict()
    if name == "create_json_match_evaluator":
        return [r.as_dict() for r in create_json_match_evaluator(**config)(**kwargs)]
    if name == "exact_match":
        return exact_match(**kwargs).as_dict()
    if name == "levenshtein_distance":
        return levenshtein_similarity(**kwargs).as_dict()
    raise AssertionError(name)


def _get(result: Any, path: list) -> Any:
    for part in path:
        if part == "len()":
            result = len(result)
        elif part == "sorted_by_key":
            result = sorted(result, key=lambda r: r["key"])
        else:
            result = result[part]
    return result


def _peer_view(value: Any) -> Any:
    """Our results carry an extra ``label``; peers' EvaluatorResult has key/score/comment/metadata."""
    if isinstance(value, dict) and "key" in value:
        return {k: value[k] for k in ("key", "score", "comment", "metadata")}
    return value


def test_peer_cases_are_present():
    assert len(CASES) >= 100, len(CASES)


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_peer_case(case):
    result = _run(case)
    for exp in case["expected"]:
        got = _peer_view(_get(result, exp["path"]))
        op, want = exp["op"], exp["value"]
        if op == "Eq":
            assert got == want, (got, want)
        elif op == "NotEq":
            assert got != want
        elif op == "Lt":
            assert got < want
        elif op == "Gt":
            assert got > want
        elif op == "Is":
            assert got is want, (got, want)
        elif op == "IsNot":
            assert got is not want
        elif op == "truthy":
            assert got
        elif op == "falsy":
            assert not got
        else:
            raise AssertionError(f"unknown op {op}")

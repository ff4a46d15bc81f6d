"""Built-in evaluators on real data: GSM8K numeric answers, HumanEval in the sandbox, and the rest."""

from __future__ import annotations

import gzip
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tracemill.evals.evaluators import (
    as_results,
    build_evaluator,
    create_contains,
    create_cost_budget,
    create_exact_match,
    create_json_schema,
    create_latency_budget,
    create_llm_judge,
    create_numeric_match,
    create_pass_at_k,
    create_regex,
    json_valid,
    pass_at_k,
    run_program,
)
from tracemill.evals.evaluators.code_exec import humaneval_program
from tracemill.errors import ConfigError
from tracemill.testing import FakeOpenAI

MODELS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


def test_gsm8k_numeric_match_agrees_with_labels(external):
    ev = create_numeric_match()
    agree = total = 0
    for line in (external / "gsm8k" / "example_model_solutions.jsonl").open():
        row = json.loads(line)
        for model in MODELS:
            result = ev(inputs={"question": row["question"]}, outputs=row[model]["solution"], reference_outputs=row["ground_truth"])
            agree += bool(result.score) == row[model]["is_correct"]
            total += 1
    rate = agree / total
    print(f"GSM8K numeric-match agreement with is_correct: {agree}/{total} = {rate:.4f}")
    assert total == 4 * 1319
    assert rate >= 0.99


def test_numeric_match_formats():
    ev = create_numeric_match()
    assert ev(outputs="so the answer is #### 1,234", reference_outputs="#### 1234").score is True
    assert ev(outputs="I think 3 apples, then 41.", reference_outputs="41").score is True
    assert ev(outputs="The answer is $18.00.", reference_outputs="A: 18").score is True
    assert ev(outputs="no idea", reference_outputs="#### 5").score is False
    assert ev(outputs="#### 42", reference_outputs="#### 24").score is False


def test_humaneval_canonical_pass_and_empty_bodies_fail(external):
    problems = [json.loads(line) for line in gzip.open(external / "humaneval" / "HumanEval.jsonl.gz", "rt")]
    assert len(problems) == 164
    with ThreadPoolExecutor(max_workers=2) as pool:
        good = list(pool.map(lambda p: run_program(humaneval_program(p, p["canonical_solution"]), timeout_s=10), problems))
        empty = list(pool.map(lambda p: run_program(humaneval_program(p, ""), timeout_s=10), problems))
    print(f"HumanEval canonical pass {sum(o.passed for o in good)}/164, empty bodies fail {sum(not o.passed for o in empty)}/164")
    assert [p["task_id"] for p, o in zip(problems, good, strict=True) if not o.passed] == []
    assert [p["task_id"] for p, o in zip(problems, empty, strict=True) if o.passed] == []


def test_pass_at_k_and_sandbox_limits(external):
    problem = json.loads(gzip.open(external / "humaneval" / "HumanEval.jsonl.gz", "rt").readline())
    ev = create_pass_at_k(k=1, timeout_s=3)
    samples = [problem["canonical_solution"], "    return True\n", problem["canonical_solution"], "    while True: pass\n"]
    r = ev(inputs=problem, outputs=samples)
    assert r.metadata["c"] == 2 and r.score == pytest.approx(0.5)
    assert "timeout" in r.metadata["statuses"]
    assert pass_at_k(4, 2, 2) == pytest.approx(1 - 1 / 6)
    hog = run_program("x = bytearray(2 * 1024 ** 3)\n", timeout_s=5, memory_mb=256)
    assert not hog.passed and "MemoryError" in hog.detail


def test_matching_json_budget_evaluators():
    assert create_exact_match()(outputs="The Paris.", reference_outputs="paris").score is True
    assert create_exact_match(normalize=False)(outputs="Paris", reference_outputs="paris").score is False
    assert create_contains(substrings=["refund", "30 days"])(outputs="Refund within 30 days").score is True
    assert create_contains(substrings=["refund", "x"], mode="any")(outputs="no").score is False
    assert create_regex(pattern=r"order #\d+")(outputs="see order #123").score is True
    assert json_valid(outputs='{"a": 1}').score is True and json_valid(outputs="{a: 1}").score is False
    schema = create_json_schema(schema={"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}})
    assert schema(outputs='{"a": 1}').score is True
    bad = schema(outputs={"a": "x"})
    assert bad.score is False and bad.comment.startswith("a:")
    assert create_latency_budget(max_ms=100)(latency_ms=150).score is False
    assert create_cost_budget(max_usd=0.01)(cost_usd=0.001).score is True
    with pytest.raises(ConfigError):
        build_evaluator("no_such_evaluator")
    assert as_results(build_evaluator("test_evaluators:my_custom")(inputs={}, outputs="ok"))[0].score == 1.0


def my_custom(*, inputs, outputs, reference_outputs=None, **kw):
    """A custom evaluator referenced from a spec as test_evaluators:my_custom (dict results are accepted)."""
    return {"key": "custom", "score": 1.0 if outputs == "ok" else 0.0}


def _judge_responder(body):
    prompt = body["messages"][-1]["content"]
    if "numeric" in prompt or "integer score" in prompt:
        return {"role": "assistant", "content": '{"reasoning": "mostly right", "score": 8}'}
    verdict = "pass" if "Paris" in prompt.split("<answer>")[1] else "fail"
    return {"role": "assistant", "content": f'```json\n{{"reasoning": "checked the capital", "score": "{verdict}"}}\n```'}


def test_llm_judge_scores_records_and_caches():
    with FakeOpenAI(responder=_judge_responder) as fake:
        judge = create_llm_judge(model="openai/fake-model", api_base=fake.url, api_key="fake",
                                 rubric="Is the capital correct?", key="capital")
        r = judge(inputs={"q": "capital of France"}, outputs="Paris")
        assert (r.score, r.label, r.comment) == (1.0, "pass", "checked the capital")
        assert r.metadata["judge_model"] == "openai/fake-model" and len(r.metadata["prompt_hash"]) == 16
        assert judge(inputs={"q": "capital of France"}, outputs="Lyon").score == 0.0
        again = judge(inputs={"q": "capital of France"}, outputs="Paris")
        assert again.metadata["cached"] is True and len(fake.chat_requests()) == 2
        numeric = create_llm_judge(model="openai/fake-model", api_base=fake.url, api_key="fake", rubric="Quality?",
                                   scale="numeric", min_score=1, max_score=10)
        n = numeric(inputs="q", outputs="a")
        assert n.score == pytest.approx(7 / 9) and n.label == "8"

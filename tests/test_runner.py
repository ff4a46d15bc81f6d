"""The eval runner against the loopback fake: retries, timeouts, cache, repetitions, budget, tools, targets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from tracemill.datasets.example import Example, ToolCallRef
from tracemill.evals import parse_spec, run_spec
from tracemill.testing import FakeOpenAI


@dataclass(frozen=True)
class Version:
    """Stands in for tracemill.datasets.DatasetVersion (the fields the runner reads)."""

    name: str = "unit"
    version: int = 1
    content_hash: str = "0" * 64
    snapshot_id: int = 0


def weather(city: str) -> str:
    """A Python tool the llm target calls."""
    return f"sunny in {city}"


def py_target(inputs: dict, suffix: str = "") -> tuple[str, list]:
    return inputs["question"].upper() + suffix, [{"name": "upper", "arguments": {}}]


async def async_py_target(inputs: dict) -> str:
    await asyncio.sleep(0.01)
    return inputs["question"][::-1]


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    """One warehouse for this module (opening one is slow); tests filter rows by experiment id."""
    from tracemill.settings import Settings
    from tracemill.warehouse import connect

    c = connect(Settings(warehouse=str(tmp_path_factory.mktemp("runner_wh"))))
    yield c
    c.close()


@pytest.fixture()
def fake():
    with FakeOpenAI(latency=0.01, retry_after=0.2) as f:
        yield f


def _examples(n: int, tag: str = "") -> list[Example]:
    """Distinct tags keep tests from answering each other's examples out of the shared cache."""
    return [Example(example_id=f"ex{i:03d}", inputs={"question": f"REPLY: {i} q{i}{tag}"}, reference_output=f"{i} q{i}{tag}")
            for i in range(n)]


def _llm_spec(fake, **over):
    base = {"name": "cand", "target": {"kind": "llm", "model": "openai/fake-model", "api_base": fake.url, "api_key": "fake"},
            "evaluators": [{"name": "exact"}], "concurrency": 4, "max_retries": 3, "timeout_s": 5}
    target = over.pop("target", {})
    base["target"].update(target)
    base.update(over)
    return parse_spec(base)


def _by_user(fake, text):
    return [r for r in fake.chat_requests() if text in r.last_user]


def test_transient_errors_are_retried_and_broken_responses_are_not(con, fake):
    fake.script("q3", "429", "429")
    fake.script("q5", "500")
    fake.script("q7", "malformed")
    s = run_spec(con, _llm_spec(fake), version=Version(), examples=_examples(10, " retry"), dataset_ref="unit@v1")
    assert s.status == "completed" and s.n_results == 10 and s.n_errors == 1
    assert [r.outcome for r in _by_user(fake, "q3")] == ["429", "429", "ok"]
    gaps = [b.received_at - a.received_at for a, b in zip(_by_user(fake, "q3"), _by_user(fake, "q3")[1:])]
    assert min(gaps) >= 0.18  # Retry-After: 0.2 honoured
    assert [r.outcome for r in _by_user(fake, "q5")] == ["500", "ok"]
    assert [r.outcome for r in _by_user(fake, "q7")] == ["malformed"]  # not retried
    rows = dict(con.execute("SELECT example_id, attempts FROM experiment_results WHERE experiment_id = ?",
                            [s.experiment_id]).fetchall())
    assert rows["ex003"] == 3 and rows["ex005"] == 2 and rows["ex007"] == 1
    err = con.execute("SELECT error FROM experiment_results WHERE example_id = 'ex007' AND experiment_id = ?",
                      [s.experiment_id]).fetchone()[0]
    assert err and "InternalServerError" in err
    assert s.scores["exact_match"] == pytest.approx(1.0)  # the failed example has no score, the rest match
    assert con.execute("SELECT count(*) FROM eval_scores WHERE experiment_id = ?", [s.experiment_id]).fetchone()[0] == 9


def test_timeouts_are_retried(con, fake):
    fake.script("q1", "timeout")
    s = run_spec(con, _llm_spec(fake, timeout_s=0.5), version=Version(), examples=_examples(3, " timeout"), dataset_ref="unit@v1")
    assert s.n_errors == 0
    assert [r.outcome for r in _by_user(fake, "q1")] == ["timeout", "ok"]


def test_repetitions_then_rerun_is_free(con, fake):
    spec = _llm_spec(fake, repetitions=2)
    s1 = run_spec(con, spec, version=Version(), examples=_examples(6, " reps"), dataset_ref="unit@v1")
    assert s1.n_results == 12 and len(fake.chat_requests()) == 12
    s2 = run_spec(con, spec, version=Version(), examples=_examples(6, " reps"), dataset_ref="unit@v1")
    assert s2.experiment_id != s1.experiment_id and s2.status == "completed"
    assert s2.n_cached == 12 and s2.n_calls == 0 and len(fake.chat_requests()) == 12
    assert con.execute("SELECT count(*) FROM response_cache WHERE experiment_id = ?", [s1.experiment_id]).fetchone()[0] == 12
    assert s2.scores == s1.scores


def test_budget_stops_the_run_cleanly(con, fake):
    spec = _llm_spec(fake, budget_usd=0.05, concurrency=2,
                     target={"prices": {"input_cost_per_token": 0.001, "output_cost_per_token": 0.001}})
    s = run_spec(con, spec, version=Version(), examples=_examples(40, " budget"), dataset_ref="unit@v1")
    assert s.status == "budget_exceeded"
    assert 0 < s.n_results < 40
    assert s.total_cost_usd >= 0.05
    row = con.execute("SELECT status, n_results FROM experiments WHERE experiment_id = ?", [s.experiment_id]).fetchone()
    assert row == ("budget_exceeded", s.n_results)


def test_tool_loop_with_python_and_recorded_tools(con, fake):
    con.execute("INSERT INTO traces (trace_id, output, status, load_id, schema_version) VALUES ('t1', 'old answer', 'ok', 'l', 1)")
    con.execute("INSERT INTO tool_calls (trace_id, call_id, seq, tool_name, arguments, result, source, load_id, schema_version) "
                "VALUES ('t1', 'c1', 1, 'lookup', '{\"q\": \"refund\"}', 'policy: 30 days', 'test', 'l', 1)")
    question = 'CALL get_weather {"city": "SF"}\nCALL lookup {"q": "refund"}'
    ex = Example(example_id="a1", inputs={"question": question}, source_trace_id="t1",
                 reference_trajectory=[ToolCallRef(name="get_weather", arguments={"city": "SF"}),
                                       ToolCallRef(name="lookup", arguments={"q": "refund"})])
    tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in ("get_weather", "lookup")]
    spec = _llm_spec(fake, target={"tool_schemas": tools, "tools": {"get_weather": "test_runner:weather", "lookup": "recorded"}},
                     evaluators=[{"name": "trajectory_match", "params": {"trajectory_match_mode": "strict"}},
                                 {"name": "contains", "params": {"substrings": ["sunny in SF", "30 days"]}}])
    s = run_spec(con, spec, version=Version(), examples=[ex], dataset_ref="unit@v1")
    assert s.scores == {"contains": 1.0, "trajectory_strict_match": 1.0}
    import json

    output, trajectory = con.execute("SELECT output, trajectory FROM experiment_results WHERE experiment_id = ?",
                                     [s.experiment_id]).fetchone()
    assert json.loads(output) == "done: sunny in SF | policy: 30 days"
    assert [(t["name"], t["result"]) for t in json.loads(trajectory)] == [("get_weather", "sunny in SF"), ("lookup", "policy: 30 days")]
    assert len(fake.chat_requests()) == 2  # the model call, then the call with both tool results


def test_replay_target_makes_no_calls(con, fake):
    con.execute("INSERT INTO traces (trace_id, output, status, latency_ms, cost_usd, load_id, schema_version) "
                "VALUES ('t9', '7 q7', 'ok', 1234.0, 0.01, 'l', 1)")
    ex = Example(example_id="r1", inputs={"question": "q"}, reference_output="7 q7", source_trace_id="t9")
    spec = parse_spec({"name": "prod", "target": {"kind": "replay"}, "evaluators": [{"name": "exact"}]})
    s = run_spec(con, spec, version=Version(), examples=[ex], dataset_ref="unit@v1")
    assert s.scores == {"exact_match": 1.0} and s.n_calls == 1 and fake.chat_requests() == []
    assert con.execute("SELECT latency_ms, cached FROM experiment_results WHERE experiment_id = ?",
                       [s.experiment_id]).fetchone() == (1234.0, False)


def test_python_and_http_targets(con, fake):
    exs = _examples(3)
    sync = parse_spec({"name": "py", "target": {"kind": "python", "function": "test_runner:py_target", "params": {"suffix": "!"}},
                       "evaluators": [{"name": "regex", "params": {"pattern": "^REPLY: \\d Q\\d!$"}}]})
    s = run_spec(con, sync, version=Version(), examples=exs, dataset_ref="unit@v1")
    assert s.scores == {"regex": 1.0}
    traj = con.execute("SELECT DISTINCT trajectory FROM experiment_results WHERE experiment_id = ?", [s.experiment_id]).fetchall()
    assert traj == [('[{"name":"upper","arguments":{}}]',)]
    asyn = parse_spec({"name": "apy", "target": {"kind": "python", "function": "test_runner:async_py_target"},
                       "evaluators": [{"name": "contains", "params": {"substrings": [":YLPER"]}}]})
    assert run_spec(con, asyn, version=Version(), examples=exs, dataset_ref="unit@v1").scores == {"contains": 1.0}
    http = parse_spec({"name": "http", "target": {
        "kind": "http", "url": fake.url + "/chat/completions", "output_path": "choices.0.message.content",
        "body": {"model": "m", "messages": [{"role": "user", "content": "{{ question }}"}]}},
        "evaluators": [{"name": "normalized_match"}]})
    s = run_spec(con, http, version=Version(), examples=exs, dataset_ref="unit@v1")
    assert s.scores == {"normalized_match": 1.0} and len(fake.chat_requests()) == 3


def test_calls_spread_over_worker_processes(con, fake):
    fake.script("q2 procs", "429")
    fake.script("q4 procs", "malformed")
    spec = _llm_spec(fake, processes=2, concurrency=6)
    s = run_spec(con, spec, version=Version(), examples=_examples(12, " procs"), dataset_ref="unit@v1")
    assert s.n_results == 12 and s.n_errors == 1 and s.n_calls == 13
    assert [r.outcome for r in _by_user(fake, "q2 procs")] == ["429", "ok"]  # retried by the parent
    err = con.execute("SELECT error FROM experiment_results WHERE experiment_id = ? AND error IS NOT NULL",
                      [s.experiment_id]).fetchone()[0]
    assert err.startswith("InternalServerError")
    assert s.scores == {"exact_match": 1.0}

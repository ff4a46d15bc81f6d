"""compare(): per-example deltas, lineage, flakiness, errors, cost/latency and breakdowns; the policy rules;
and the warehouse path (experiments in the 0004 tables -> comparison and gate rows in 0005)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tracemill.errors import ConfigError, DataError, NotFoundError
from tracemill.gate import ExampleInfo, ExperimentData, GatePolicy, compare, evaluate, load_policy
from tracemill.settings import PROJECT_ROOT

IDS = [f"ex{i:03d}" for i in range(40)]


def sample_data(*, regress: int = 6, critical_regress: bool = True):
    """Baseline passes examples 0-29; the candidate breaks ``regress`` of them and fixes ex030/ex031.

    ex000 is tagged critical; clusters alternate fm_0001/fm_0002; the candidate is slower and dearer.
    """
    base = np.array([1.0] * 30 + [0.0] * 10)
    cand = base.copy()
    cand[0 if critical_regress else 1: (0 if critical_regress else 1) + regress] = 0.0
    cand[30:32] = 1.0
    rows_b = [(e, 0, "correct", s) for e, s in zip(IDS, base, strict=True)]
    rows_c = [(e, 0, "correct", s) for e, s in zip(IDS, cand, strict=True)]
    rows_b += [(e, 0, "similarity", 0.8) for e in IDS]
    rows_c += [(e, 0, "similarity", 0.8 + (0.05 if i % 2 else -0.01)) for i, e in enumerate(IDS)]
    res_b = pd.DataFrame({"example_id": IDS, "repetition": 0, "latency_ms": np.linspace(100, 200, 40),
                          "input_tokens": 100, "output_tokens": 20, "cost_usd": 0.001, "error": None})
    res_c = res_b.assign(latency_ms=np.linspace(150, 400, 40), cost_usd=0.002)
    cols = ["example_id", "repetition", "key", "score"]
    b = ExperimentData("exp_base", pd.DataFrame(rows_b, columns=cols), res_b, name="baseline",
                       dataset_name="support", dataset_version=2, dataset_hash="h1")
    c = ExperimentData("exp_cand", pd.DataFrame(rows_c, columns=cols), res_c, name="candidate",
                       dataset_name="support", dataset_version=2, dataset_hash="h1")
    infos = {e: ExampleInfo(e, split="test" if i % 4 == 0 else "train", cluster_id=f"fm_000{1 + i % 2}",
                            source_trace_id=f"tr_{i}", tags=("critical",) if i == 0 else ())
             for i, e in enumerate(IDS)}
    return b, c, infos


def test_compare_pairs_examples_and_explains_regressions():
    b, c, infos = sample_data()
    cmp = compare(b, c, infos, n_resamples=500)
    m = cmp.metric("correct")
    assert m.kind == "binary" and m.test == "mcnemar-exact" and m.n == 40
    assert m.n_regressions == 6 and m.n_improvements == 2
    assert m.delta == pytest.approx(-4 / 40)
    assert m.ci_low < m.delta < m.ci_high
    assert cmp.metric("similarity").kind == "numeric" and cmp.metric("similarity").test == "wilcoxon"
    regs = [e for e in cmp.regressions if e.key == "correct"]
    assert {e.example_id for e in regs} == set(IDS[:6])
    r0 = next(e for e in regs if e.example_id == "ex000")
    assert (r0.cluster_id, r0.source_trace_id, r0.split, r0.tags) == ("fm_0001", "tr_0", "test", ["critical"])
    # breakdown by cluster: ex000, ex002, ex004 regress in fm_0001; ex001, 3, 5 in fm_0002
    by = {(g.dimension, g.group, g.key): g for g in cmp.breakdown}
    assert by[("cluster", "fm_0001", "correct")].n_regressions == 3 and by[("cluster", "fm_0001", "correct")].n == 20
    assert ("split", "test", "correct") in by
    # cost and latency over the paired examples
    assert cmp.candidate_stats.cost_usd == pytest.approx(0.08) and cmp.baseline_stats.cost_usd == pytest.approx(0.04)
    assert cmp.candidate_stats.latency_p95_ms > cmp.baseline_stats.latency_p95_ms
    assert cmp.candidate_stats.tokens_per_example == 120


def test_repetitions_give_flakiness_and_errors_count_as_failures():
    ids = ["a", "b", "c"]
    rows = []
    for rep in range(3):
        rows += [("a", rep, "ok", 1.0), ("b", rep, "ok", float(rep == 0)), ("c", rep, "ok", 1.0)]
    base = ExperimentData("b", pd.DataFrame(rows, columns=["example_id", "repetition", "key", "score"]))
    # the candidate errored on example c (no score at all) in every repetition
    cand_rows = [r for r in rows if r[0] != "c"]
    res = pd.DataFrame({"example_id": ["c"] * 3, "repetition": [0, 1, 2], "latency_ms": 5.0, "input_tokens": 0,
                        "output_tokens": 0, "cost_usd": 0.0, "error": "Timeout"})
    cand = ExperimentData("c", pd.DataFrame(cand_rows, columns=["example_id", "repetition", "key", "score"]), res)
    cmp = compare(base, cand, n_resamples=300)
    m = cmp.metric("ok")
    assert cmp.baseline_repetitions == 3 and m.baseline_flaky == 1 and m.candidate_flaky == 1
    assert m.n == 3 and m.n_missing == 0
    c_row = next(e for e in cmp.examples if e.example_id == "c")
    assert c_row.candidate_score == 0.0 and c_row.change == "regression"
    b_row = next(e for e in cmp.examples if e.example_id == "b")
    assert b_row.baseline_score == pytest.approx(1 / 3) and b_row.baseline_std > 0
    assert cmp.candidate_stats.n_errors == 3 and ids


def test_compare_refuses_different_dataset_versions():
    b, c, _ = sample_data()
    other = ExperimentData(c.experiment_id, c.scores, c.results, dataset_name="support", dataset_version=3, dataset_hash="h2")
    with pytest.raises(DataError, match="different dataset versions"):
        compare(b, other)


def test_policy_rules_min_score_budgets_and_critical():
    b, c, infos = sample_data(regress=1)
    cmp = compare(b, c, infos, n_resamples=500)
    policy = GatePolicy(
        evaluators={"correct": {"min_score": 0.9, "max_regression": 0.5}, "similarity": {"max_regression": 0.5}},
        cost={"max_increase_pct": 50}, latency={"max_p95_ms": 1000},
    )
    gate = evaluate(cmp, policy)
    failed = {ch.name for ch in gate.checks if not ch.passed}
    assert not gate.passed
    assert failed == {"min_score", "cost_increase", "critical_regressions"}
    assert any("ex000" in r for r in gate.reasons)
    # the same regression off the critical example, with a looser policy, passes
    b2, c2, infos2 = sample_data(regress=1, critical_regress=False)
    ok = evaluate(compare(b2, c2, infos2, n_resamples=500),
                  GatePolicy(default={"max_regression": 0.5}, cost={"max_increase_pct": 150}))
    assert ok.passed, ok.reasons
    # thresholds are part of the result
    assert ok.policy["cost"]["max_increase_pct"] == 150 and ok.policy_hash


def test_policy_missing_evaluator_and_confidence_mismatch():
    b, c, infos = sample_data()
    cmp = compare(b, c, infos, n_resamples=300)
    gate = evaluate(cmp, GatePolicy(gate_unlisted=False, evaluators={"faithfulness": {"min_score": 0.5}}, critical=None))
    assert not gate.passed and "faithfulness" in gate.reasons[0]
    with pytest.raises(ConfigError, match="CI level"):
        evaluate(cmp, GatePolicy(confidence=0.95))


def test_policy_yaml_examples_load_and_bad_policy_is_refused(tmp_path):
    for path in sorted((PROJECT_ROOT / "examples" / "policies").glob("*.yaml")):
        load_policy(path)
    assert load_policy(PROJECT_ROOT / "examples" / "policies" / "default.yaml") == GatePolicy(name="default")
    bad = tmp_path / "p.yaml"
    bad.write_text("evaluators:\n  correct:\n    max_regresion: 0.02\n")
    with pytest.raises(ConfigError, match="max_regresion"):
        load_policy(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_policy(tmp_path / "nope.yaml")


# --- the warehouse path ---------------------------------------------------------------------------------


def seed_experiment(con, experiment_id: str, data: ExperimentData, *, dataset_name: str, version: int, dataset_hash: str,
                    status: str = "completed") -> None:
    """Write an experiment into the evals tables (the 0004 contract columns), in one transaction."""
    scores = data.scores.assign(experiment_id=experiment_id)
    results = data.results.assign(experiment_id=experiment_id)
    con.register("_scores", scores)
    con.register("_results", results)
    con.execute("BEGIN")
    con.execute(
        """INSERT INTO experiments (experiment_id, name, dataset_name, dataset_version, dataset_hash, dataset_ref, spec,
               target_kind, target_config_hash, repetitions, status, started_at, finished_at, n_examples, n_results,
               n_errors, total_cost_usd, total_tokens, config_hash, schema_version)
           VALUES (?, ?, ?, ?, ?, ?, '{}', 'python', 'tch', 1, ?, now(), now(), 0, 0, 0, 0, 0, ?, 1)""",
        [experiment_id, data.name, dataset_name, version, dataset_hash, f"{dataset_name}@v{version}", status, experiment_id],
    )
    con.execute(
        "INSERT INTO eval_scores (experiment_id, example_id, repetition, key, score, created_at, schema_version) "
        "SELECT experiment_id, example_id, repetition, key, score, now(), 1 FROM _scores"
    )
    con.execute(
        """INSERT INTO experiment_results (experiment_id, example_id, repetition, input_hash, latency_ms, input_tokens,
               output_tokens, cost_usd, error, cached, config_hash, schema_version)
           SELECT experiment_id, example_id, repetition, 'ih', latency_ms, input_tokens, output_tokens, cost_usd,
                  error::VARCHAR, false, 'tch', 1 FROM _results"""
    )
    con.execute("COMMIT")
    con.unregister("_scores")
    con.unregister("_results")


def seed_dataset(con, infos) -> tuple[str, int, str]:
    from tracemill.datasets import Example, add_examples

    examples = [Example(example_id=i.example_id, inputs={"q": i.example_id}, reference_output="x", split=i.split,
                        cluster_id=i.cluster_id, source_trace_id=i.source_trace_id, metadata={"tags": list(i.tags)})
                for i in infos.values()]
    v = add_examples(con, "support", examples, message="test", author="tests")
    return v.name, v.version, v.content_hash


def test_warehouse_compare_gate_store_and_report(con, settings):
    from tracemill.gate.store import load_comparison
    from tracemill.report import run_gate

    b, c, infos = sample_data()
    name, version, h = seed_dataset(con, infos)
    seed_experiment(con, "exp_base", b, dataset_name=name, version=version, dataset_hash=h)
    seed_experiment(con, "exp_cand", c, dataset_name=name, version=version, dataset_hash=h)
    run = run_gate(con, settings, baseline_id="exp_base", candidate_id="exp_cand", policy=GatePolicy(n_resamples=500))
    assert run.gate is not None and not run.gate.passed
    # lineage came from the dataset, through load_examples
    r0 = next(e for e in run.comparison.regressions if e.example_id == "ex000")
    assert r0.cluster_id == "fm_0001" and r0.tags == ["critical"] and r0.source_trace_id == "tr_0"
    stored = con.execute("SELECT passed, policy, checks, candidate_experiment_id FROM gate_results").fetchall()
    assert len(stored) == 1 and stored[0][0] is False and stored[0][3] == "exp_cand"
    assert json.loads(stored[0][1])["default"]["max_regression"] == 0.03
    assert any(ch["name"] == "critical_regressions" and not ch["passed"] for ch in json.loads(stored[0][2]))
    n_reg = con.execute("SELECT count(*) FROM comparison_examples WHERE change = 'regression' AND key = 'correct'").fetchone()[0]
    assert n_reg == 6
    assert con.execute("SELECT count(*) FROM comparison_metrics").fetchone()[0] == 2
    again = load_comparison(con, run.comparison.comparison_id)
    assert again.metric("correct").delta == run.comparison.metric("correct").delta
    assert run.report.html.is_file() and run.report.html.is_relative_to(settings.reports_dir)
    assert "ex000" in run.report.markdown.read_text()
    # unknown and unfinished experiments are refused
    from tracemill.gate.store import load_experiment

    with pytest.raises(NotFoundError):
        load_experiment(con, "exp_nope")
    seed_experiment(con, "exp_run", b, dataset_name="support", version=1, dataset_hash="h", status="running")
    with pytest.raises(DataError, match="still running"):
        load_experiment(con, "exp_run")

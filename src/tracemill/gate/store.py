"""Read experiments from the warehouse and store comparisons and gate decisions.

Experiments come from the evals tables (migration 0004); example lineage (split, cluster, source
trace, tags) comes from ``tracemill.datasets.load_examples``. What this module writes goes to the
0005_gate tables, each save in one transaction, replacing an earlier save of the same id.
"""

from __future__ import annotations

import duckdb
import orjson
import pandas as pd
import pyarrow as pa

from tracemill.errors import ConfigError, DataError, NotFoundError
from tracemill.gate.compare import (
    DEFAULT_CONFIDENCE,
    RESULT_COLUMNS,
    SCORE_COLUMNS,
    Comparison,
    ExampleInfo,
    ExperimentData,
    compare,
    example_infos,
)
from tracemill.gate.policy import GatePolicy, GateResult
from tracemill.lineage import SCHEMA_VERSION, config_hash
from tracemill.warehouse import query, transaction


def load_experiment(con: duckdb.DuckDBPyConnection, experiment_id: str) -> ExperimentData:
    """An experiment's scores and results, ready for ``compare``."""
    head = con.execute(query("gate/experiment"), [experiment_id]).fetchone()
    if head is None:
        raise NotFoundError(
            "no such experiment", value=experiment_id,
            fix="list them with: tracemill sql \"SELECT experiment_id, name, status FROM experiments\"",
        )
    _, name, ds_name, ds_version, ds_hash, status, _reps = head
    if status == "running":
        raise DataError(
            "the experiment is still running (or was killed without being marked)", value=experiment_id,
            fix="wait for it to finish, or resume it with tracemill eval run",
        )
    scores = con.execute(query("gate/experiment_scores"), [experiment_id]).df()
    results = con.execute(query("gate/experiment_results"), [experiment_id]).df()
    return ExperimentData(
        experiment_id=experiment_id,
        scores=scores if len(scores) else pd.DataFrame(columns=SCORE_COLUMNS),
        results=results if len(results) else pd.DataFrame(columns=RESULT_COLUMNS),
        name=name, dataset_name=ds_name, dataset_version=ds_version, dataset_hash=ds_hash,
    )


def load_example_infos(con: duckdb.DuckDBPyConnection, exp: ExperimentData) -> dict[str, ExampleInfo]:
    """Lineage of the examples the experiment ran on (empty when it names no dataset)."""
    if not exp.dataset_name or not exp.dataset_version:
        return {}
    from tracemill.datasets import load_examples

    _, examples = load_examples(con, f"{exp.dataset_name}@v{exp.dataset_version}")
    return example_infos(examples)


def compare_experiments(
    con: duckdb.DuckDBPyConnection, baseline_id: str, candidate_id: str, *, policy: GatePolicy | None = None,
    confidence: float | None = None,
) -> Comparison:
    """Load both experiments and compare them with the policy's (or the given) statistics settings."""
    base, cand = load_experiment(con, baseline_id), load_experiment(con, candidate_id)
    infos = load_example_infos(con, cand)
    if policy is not None and confidence is not None and confidence != policy.confidence:
        raise ConfigError("give either a policy or a confidence level, not both", value=(policy.confidence, confidence))
    p = policy or GatePolicy(confidence=confidence or DEFAULT_CONFIDENCE)
    return compare(
        base, cand, infos, confidence=p.confidence,
        n_resamples=p.n_resamples, method=p.bootstrap_method, seed=p.seed, pass_threshold=p.pass_threshold,
    )


def _json(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def save_comparison(con: duckdb.DuckDBPyConnection, comparison: Comparison, *, report_path: str | None = None) -> None:
    """Store a comparison (header, per-evaluator metrics, per-example deltas) in one transaction."""
    c = comparison
    settings_hash = config_hash(
        {"confidence": c.confidence, "n_resamples": c.n_resamples, "method": c.method, "seed": c.seed,
         "pass_threshold": c.pass_threshold}
    )
    metrics = pa.Table.from_pylist([m.model_dump() for m in c.metrics]) if c.metrics else None
    examples = pa.Table.from_pylist([e.model_dump() for e in c.examples]) if c.examples else None
    with transaction(con, what="save comparison"):
        for table in ("comparisons", "comparison_metrics", "comparison_examples"):
            con.execute(f"DELETE FROM {table} WHERE comparison_id = ?", [c.comparison_id])
        con.execute(
            "INSERT INTO comparisons VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [c.comparison_id, c.baseline_id, c.candidate_id, c.dataset_name, c.dataset_version, c.dataset_hash,
             c.n_examples, c.confidence, c.n_resamples, c.method, c.seed, c.pass_threshold, len(c.regressions),
             len(c.improvements), c.model_dump_json(), report_path, c.created_at, settings_hash, SCHEMA_VERSION],
        )
        if metrics is not None:
            con.register("_tm_metrics", metrics)
            con.execute(
                """INSERT INTO comparison_metrics
                   SELECT ?, key, kind, n, baseline_mean, candidate_mean, delta, ci_low, ci_high, confidence, test,
                          p_value, n_regressions, n_improvements, n_missing, baseline_flaky, candidate_flaky, ?
                   FROM _tm_metrics""",
                [c.comparison_id, SCHEMA_VERSION],
            )
            con.unregister("_tm_metrics")
        if examples is not None:
            con.register("_tm_examples", examples)
            con.execute(
                """INSERT INTO comparison_examples
                   SELECT ?, example_id, key, baseline_score, candidate_score, delta, change, baseline_std,
                          candidate_std, split, cluster_id, source_trace_id, tags::VARCHAR[], ?
                   FROM _tm_examples""",
                [c.comparison_id, SCHEMA_VERSION],
            )
            con.unregister("_tm_examples")


def save_gate(con: duckdb.DuckDBPyConnection, gate: GateResult) -> None:
    """Store a gate decision with its policy and thresholds."""
    checks = [ch.model_dump() for ch in gate.checks]
    with transaction(con, what="save gate result"):
        con.execute("DELETE FROM gate_results WHERE gate_id = ?", [gate.gate_id])
        con.execute(
            "INSERT INTO gate_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [gate.gate_id, gate.comparison_id, gate.baseline_id, gate.candidate_id, gate.policy_name,
             _json(gate.policy), gate.policy_hash, gate.passed, _json(checks),
             sum(not ch.passed for ch in gate.checks), gate.created_at, gate.policy_hash, SCHEMA_VERSION],
        )


def load_comparison(con: duckdb.DuckDBPyConnection, comparison_id: str) -> Comparison:
    """A stored comparison, as saved."""
    row = con.execute("SELECT summary FROM comparisons WHERE comparison_id = ?", [comparison_id]).fetchone()
    if row is None:
        raise NotFoundError("no such comparison", value=comparison_id)
    return Comparison.model_validate_json(row[0])


def set_report_path(con: duckdb.DuckDBPyConnection, comparison_id: str, path: str) -> None:
    """Record where the comparison's HTML report was written."""
    with transaction(con, what="record report path"):
        con.execute("UPDATE comparisons SET report_path = ? WHERE comparison_id = ?", [path, comparison_id])

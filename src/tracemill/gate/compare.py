"""Compare two experiments on the same dataset version, example by example.

Input is an in-memory ``ExperimentData`` (a frame of per-example scores and one of per-call
results), so comparison does not depend on how experiments are stored; ``gate.store`` loads one
from the warehouse. For each evaluator key the unit of analysis is the example: with repetitions,
an example's score is its mean over repetitions (that keeps pairs independent and averages out
flakiness), and the spread across repetitions is reported as flakiness.

An example whose call failed (``error`` set) and has no score for a key scores 0 for it: a
candidate that crashes is failing, not missing. Examples present in only one experiment are left
out of the paired statistics and counted as missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from tracemill.errors import DataError
from tracemill.gate import stats
from tracemill.lineage import new_id, utcnow

SCORE_COLUMNS = ["example_id", "repetition", "key", "score"]
# Two-sided CI level used by default. Each bound of an 80% interval is a one-sided 90% bound, which
# is what the gate judges (see tracemill.gate.policy for why this level).
DEFAULT_CONFIDENCE = 0.80

RESULT_COLUMNS = ["example_id", "repetition", "latency_ms", "input_tokens", "output_tokens", "cost_usd", "error"]


@dataclass(frozen=True)
class ExperimentData:
    """What comparison needs from one experiment: its scores and per-call results."""

    experiment_id: str
    scores: pd.DataFrame                      # SCORE_COLUMNS
    results: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RESULT_COLUMNS))
    name: str | None = None
    dataset_name: str | None = None
    dataset_version: int | None = None
    dataset_hash: str | None = None

    @property
    def dataset_ref(self) -> str | None:
        if self.dataset_name is None:
            return None
        return f"{self.dataset_name}@v{self.dataset_version}" if self.dataset_version else self.dataset_name


@dataclass(frozen=True)
class ExampleInfo:
    """The lineage of one dataset example, used to explain regressions and break results down."""

    example_id: str
    split: str | None = None
    cluster_id: str | None = None
    source_trace_id: str | None = None
    tags: tuple[str, ...] = ()


def example_infos(examples: Iterable[Any]) -> dict[str, ExampleInfo]:
    """ExampleInfo per example_id from ``tracemill.datasets.Example`` objects (or look-alikes)."""
    out: dict[str, ExampleInfo] = {}
    for ex in examples:
        tags = (getattr(ex, "metadata", None) or {}).get("tags") or ()
        if isinstance(tags, str):
            tags = (tags,)
        out[ex.example_id] = ExampleInfo(
            example_id=ex.example_id, split=ex.split, cluster_id=ex.cluster_id,
            source_trace_id=ex.source_trace_id, tags=tuple(str(t) for t in tags),
        )
    return out


class MetricComparison(BaseModel):
    """One evaluator: means, the paired difference with its CI, a significance test."""

    key: str
    kind: Literal["binary", "numeric"]
    n: int
    baseline_mean: float
    candidate_mean: float
    delta: float
    ci_low: float
    ci_high: float
    confidence: float
    test: str
    p_value: float
    n_regressions: int
    n_improvements: int
    n_missing: int = 0
    baseline_flaky: int = 0
    candidate_flaky: int = 0


class ExampleDelta(BaseModel):
    """One example and evaluator: both scores, the delta, and where the example came from."""

    example_id: str
    key: str
    baseline_score: float
    candidate_score: float
    delta: float
    change: Literal["regression", "improvement", "same"]
    baseline_std: float = 0.0
    candidate_std: float = 0.0
    split: str | None = None
    cluster_id: str | None = None
    source_trace_id: str | None = None
    tags: list[str] = Field(default_factory=list)


class RunStats(BaseModel):
    """Cost and speed of one experiment over the paired examples."""

    n_calls: int = 0
    n_errors: int = 0
    cost_usd: float = 0.0
    cost_per_example_usd: float | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    tokens: int = 0
    tokens_per_example: float | None = None

    @property
    def error_rate(self) -> float:
        return self.n_errors / self.n_calls if self.n_calls else 0.0


class GroupBreakdown(BaseModel):
    """Means and changes for one evaluator within one cluster or split."""

    dimension: Literal["cluster", "split"]
    group: str
    key: str
    n: int
    baseline_mean: float
    candidate_mean: float
    delta: float
    n_regressions: int
    n_improvements: int


class Comparison(BaseModel):
    """Everything ``compare`` found; saved as JSON and rendered into reports."""

    comparison_id: str
    baseline_id: str
    candidate_id: str
    baseline_name: str | None = None
    candidate_name: str | None = None
    dataset_name: str | None = None
    dataset_version: int | None = None
    dataset_hash: str | None = None
    n_examples: int
    baseline_repetitions: int
    candidate_repetitions: int
    confidence: float
    n_resamples: int
    method: str
    seed: int
    pass_threshold: float
    metrics: list[MetricComparison]
    examples: list[ExampleDelta]
    baseline_stats: RunStats
    candidate_stats: RunStats
    breakdown: list[GroupBreakdown]
    created_at: datetime

    @property
    def regressions(self) -> list[ExampleDelta]:
        return [e for e in self.examples if e.change == "regression"]

    @property
    def improvements(self) -> list[ExampleDelta]:
        return [e for e in self.examples if e.change == "improvement"]

    def metric(self, key: str) -> MetricComparison | None:
        return next((m for m in self.metrics if m.key == key), None)

    @property
    def dataset_ref(self) -> str | None:
        if self.dataset_name is None:
            return None
        return f"{self.dataset_name}@v{self.dataset_version}" if self.dataset_version else self.dataset_name


def _scores(exp: ExperimentData) -> pd.DataFrame:
    missing = set(SCORE_COLUMNS) - set(exp.scores.columns)
    if missing:
        raise DataError(f"scores of {exp.experiment_id} lack columns", value=sorted(missing), fix=f"provide {SCORE_COLUMNS}")
    s = exp.scores[SCORE_COLUMNS].copy()
    s["score"] = pd.to_numeric(s["score"], errors="coerce")
    s = s.dropna(subset=["score"])
    res = exp.results
    if len(res) and "error" in res.columns and len(s):
        errored = res.loc[res["error"].notna() & (res["error"].astype(str) != ""), ["example_id", "repetition"]]
        if len(errored):
            keys = pd.DataFrame({"key": s["key"].unique()})
            fill = errored.merge(keys, how="cross")
            fill = fill.merge(s[["example_id", "repetition", "key"]], how="left", indicator=True,
                              on=["example_id", "repetition", "key"])
            fill = fill.loc[fill["_merge"] == "left_only", ["example_id", "repetition", "key"]]
            fill["score"] = 0.0
            s = pd.concat([s, fill], ignore_index=True)
    return s


def _per_example(s: pd.DataFrame) -> pd.DataFrame:
    g = s.groupby(["key", "example_id"])["score"]
    out = g.agg(mean="mean", n="count", lo="min", hi="max").reset_index()
    out["std"] = g.std(ddof=0).fillna(0.0).to_numpy()
    return out


def _run_stats(res: pd.DataFrame, example_ids: set[str]) -> RunStats:
    if not len(res):
        return RunStats()
    r = res[res["example_id"].isin(example_ids)]
    if not len(r):
        return RunStats()
    n_ex = r["example_id"].nunique()
    cost = float(pd.to_numeric(r.get("cost_usd"), errors="coerce").fillna(0).sum())
    tok = pd.to_numeric(r.get("input_tokens"), errors="coerce").fillna(0) + pd.to_numeric(
        r.get("output_tokens"), errors="coerce"
    ).fillna(0)
    lat = pd.to_numeric(r.get("latency_ms"), errors="coerce").to_numpy()
    err = r["error"].notna() & (r["error"].astype(str) != "") if "error" in r.columns else pd.Series(False, index=r.index)
    return RunStats(
        n_calls=len(r), n_errors=int(err.sum()), cost_usd=cost, cost_per_example_usd=cost / n_ex,
        latency_p50_ms=stats.percentile(lat, 50), latency_p95_ms=stats.percentile(lat, 95),
        tokens=int(tok.sum()), tokens_per_example=float(tok.sum()) / n_ex,
    )


def _repetitions(s: pd.DataFrame) -> int:
    return int(s["repetition"].nunique()) if len(s) else 0


def compare(
    baseline: ExperimentData,
    candidate: ExperimentData,
    examples: Mapping[str, ExampleInfo] | None = None,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = 2000,
    method: stats.BootstrapMethod = "percentile",
    seed: int = 0,
    pass_threshold: float = 0.5,
) -> Comparison:
    """Paired comparison of ``candidate`` against ``baseline`` for every evaluator both have.

    ``examples`` (example_id -> ExampleInfo) adds lineage, cluster and split breakdowns. An example
    passes an evaluator when its (mean) score is >= ``pass_threshold``; a regression passed in
    the baseline and fails in the candidate. CIs are two-sided at ``confidence``.
    """
    if baseline.dataset_hash and candidate.dataset_hash and baseline.dataset_hash != candidate.dataset_hash:
        raise DataError(
            "the two experiments ran on different dataset versions; a paired comparison needs the same examples",
            value=(baseline.dataset_ref, candidate.dataset_ref),
            fix="rerun the baseline on the candidate's dataset version (pass a spec as the baseline)",
        )
    if not 0 < confidence < 1:
        raise DataError("confidence must be between 0 and 1", value=confidence)
    examples = examples or {}
    sb, sc = _scores(baseline), _scores(candidate)
    pb, pc = _per_example(sb), _per_example(sc)
    keys = sorted(set(pb["key"]) & set(pc["key"]))
    if not keys:
        raise DataError(
            "the experiments share no evaluator with scores",
            value=(sorted(set(pb["key"])), sorted(set(pc["key"]))),
            fix="run both with the same evaluators",
        )
    metrics: list[MetricComparison] = []
    deltas: list[ExampleDelta] = []
    paired_ids: set[str] = set()
    for i, key in enumerate(keys):
        m = pb[pb["key"] == key].merge(pc[pc["key"] == key], on="example_id", suffixes=("_b", "_c"))
        n_missing = int((pb["key"] == key).sum() + (pc["key"] == key).sum() - 2 * len(m))
        if not len(m):
            continue
        m = m.sort_values("example_id", kind="stable")
        paired_ids.update(m["example_id"])
        a, c = m["mean_b"].to_numpy(), m["mean_c"].to_numpy()
        rng = np.random.default_rng([seed, i])
        ci = stats.paired_bootstrap_ci(a, c, confidence=confidence, n_resamples=n_resamples, method=method, seed=rng)
        raw = np.r_[sb.loc[sb["key"] == key, "score"].to_numpy(), sc.loc[sc["key"] == key, "score"].to_numpy()]
        pass_b, pass_c = a >= pass_threshold, c >= pass_threshold
        if stats.is_binary(raw):
            kind: Literal["binary", "numeric"] = "binary"
            mc = stats.mcnemar_exact(pass_b.astype(float), pass_c.astype(float))
            test, p = "mcnemar-exact", mc.p_value
        else:
            kind = "numeric"
            w = stats.wilcoxon_signed_rank(a, c)
            test, p = w.name, w.p_value
        change = np.where(pass_b & ~pass_c, "regression", np.where(~pass_b & pass_c, "improvement", "same"))
        metrics.append(
            MetricComparison(
                key=key, kind=kind, n=len(m), baseline_mean=float(a.mean()), candidate_mean=float(c.mean()),
                delta=ci.estimate, ci_low=ci.low, ci_high=ci.high, confidence=confidence, test=test, p_value=p,
                n_regressions=int((change == "regression").sum()), n_improvements=int((change == "improvement").sum()),
                n_missing=n_missing,
                baseline_flaky=int(((m["n_b"] > 1) & (m["hi_b"] > m["lo_b"])).sum()),
                candidate_flaky=int(((m["n_c"] > 1) & (m["hi_c"] > m["lo_c"])).sum()),
            )
        )
        for row, ch in zip(m.itertuples(index=False), change, strict=True):
            info = examples.get(row.example_id) or ExampleInfo(row.example_id)
            deltas.append(
                ExampleDelta(
                    example_id=row.example_id, key=key, baseline_score=float(row.mean_b),
                    candidate_score=float(row.mean_c), delta=float(row.mean_c - row.mean_b), change=str(ch),
                    baseline_std=float(row.std_b), candidate_std=float(row.std_c), split=info.split,
                    cluster_id=info.cluster_id, source_trace_id=info.source_trace_id, tags=list(info.tags),
                )
            )
    return Comparison(
        comparison_id=new_id("cmp"), baseline_id=baseline.experiment_id, candidate_id=candidate.experiment_id,
        baseline_name=baseline.name, candidate_name=candidate.name,
        dataset_name=candidate.dataset_name or baseline.dataset_name,
        dataset_version=candidate.dataset_version or baseline.dataset_version,
        dataset_hash=candidate.dataset_hash or baseline.dataset_hash,
        n_examples=len(paired_ids), baseline_repetitions=_repetitions(sb), candidate_repetitions=_repetitions(sc),
        confidence=confidence, n_resamples=n_resamples, method=method, seed=seed, pass_threshold=pass_threshold,
        metrics=metrics, examples=deltas,
        baseline_stats=_run_stats(baseline.results, paired_ids), candidate_stats=_run_stats(candidate.results, paired_ids),
        breakdown=_breakdown(deltas), created_at=utcnow(),
    )


def _breakdown(deltas: list[ExampleDelta]) -> list[GroupBreakdown]:
    if not deltas:
        return []
    df = pd.DataFrame([d.model_dump(include={"key", "cluster_id", "split", "baseline_score", "candidate_score", "change"})
                       for d in deltas])
    out: list[GroupBreakdown] = []
    for dim, col in (("cluster", "cluster_id"), ("split", "split")):
        df["group"] = df[col].fillna("(none)")
        for (group, key), g in df.groupby(["group", "key"], sort=True):
            b, c = float(g["baseline_score"].mean()), float(g["candidate_score"].mean())
            out.append(
                GroupBreakdown(
                    dimension=dim, group=str(group), key=str(key), n=len(g), baseline_mean=b, candidate_mean=c,
                    delta=c - b, n_regressions=int((g["change"] == "regression").sum()),
                    n_improvements=int((g["change"] == "improvement").sum()),
                )
            )
    return out

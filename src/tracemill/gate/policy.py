"""The release gate: a YAML policy judged against a ``Comparison``.

How the regression rule is judged (and why the defaults are what they are)
---------------------------------------------------------------------------
``max_regression`` is a non-inferiority margin ``m`` in score units (0.03 = 3 points on a 0-1
scale). The gate passes an evaluator only when the *lower bound* of the two-sided ``confidence``
paired-bootstrap CI of the mean difference (candidate - baseline, resampling examples) is above
``-m``. With the default ``confidence: 0.80`` that bound is a one-sided 90% bound (z = 1.28):

* a candidate whose true regression is exactly ``m`` passes ~10% of the time (the type I error);
  worse ones less: with ``m`` = 3 points a true 5-point regression on 400 examples passes well
  under 1% of the time (simulated: 0 of 500);
* a candidate with no real change passes with probability ~ Phi(m / se - 1.28), where
  ``se = sd(per-example differences) / sqrt(n)``. For a pass/fail evaluator ``sd^2`` is about the
  share of examples that flip between two runs of the same config. On 400 examples with ``m`` = 3
  points the no-change pass rate is >= 95% while at most ~4% of examples flip (se <= 1.0 point);
  simulated at a 2.7% flip rate it is 98%.

A 90% CI (one-sided 95%) would halve the type I error but, at n = 400, pass a no-change rerun
>= 95% of the time only below ~3% flips; set ``confidence: 0.90`` when your agent is that stable
or your dataset larger. Noisier agents need more examples, repetitions (the comparison averages
each example over its repetitions, dividing the flip variance by their number) or a wider margin;
the CI width that ``tracemill eval compare`` prints shows which.

``min_score`` is judged on the candidate's mean score. Cost and latency budgets are judged on
the paired examples' totals and percentiles. ``critical`` fails the gate if any example tagged
``critical`` (in ``metadata.tags``) regresses on any gated evaluator, whatever the averages say.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tracemill.errors import ConfigError
from tracemill.gate.compare import DEFAULT_CONFIDENCE, Comparison
from tracemill.lineage import config_hash, new_id, utcnow


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EvaluatorRule(_Strict):
    """Thresholds for one evaluator (score units; 0.03 = 3 points on a 0-1 scale)."""

    min_score: float | None = None
    max_regression: float | None = Field(default=None, ge=0)


class CostBudget(_Strict):
    max_total_usd: float | None = Field(default=None, ge=0)
    max_per_example_usd: float | None = Field(default=None, ge=0)
    max_increase_pct: float | None = None      # candidate cost vs baseline, in percent


class LatencyBudget(_Strict):
    max_p50_ms: float | None = Field(default=None, ge=0)
    max_p95_ms: float | None = Field(default=None, ge=0)
    max_p95_increase_pct: float | None = None


class CriticalRule(_Strict):
    """No regression on examples carrying ``tag`` (up to ``max_regressions``)."""

    tag: str = "critical"
    max_regressions: int = Field(default=0, ge=0)


class GatePolicy(_Strict):
    """A release gate. Every field has a safe default; see the module docstring for the statistics."""

    name: str = "default"
    confidence: float = Field(default=DEFAULT_CONFIDENCE, gt=0, lt=1)
    n_resamples: int = Field(default=2000, ge=200)
    bootstrap_method: Literal["BCa", "percentile", "basic"] = "percentile"
    seed: int = 0
    pass_threshold: float = 0.5
    # Applied to every evaluator not listed under `evaluators` (set gate_unlisted: false to skip them).
    default: EvaluatorRule = EvaluatorRule(max_regression=0.03)
    gate_unlisted: bool = True
    evaluators: dict[str, EvaluatorRule] = Field(default_factory=dict)
    cost: CostBudget | None = None
    latency: LatencyBudget | None = None
    critical: CriticalRule | None = CriticalRule()
    max_error_rate: float | None = Field(default=None, ge=0, le=1)

    @property
    def policy_hash(self) -> str:
        return config_hash(self.model_dump(mode="json"))

    def rules_for(self, keys: list[str]) -> dict[str, EvaluatorRule]:
        rules = {k: self.default for k in keys} if self.gate_unlisted else {}
        rules.update(self.evaluators)
        return rules


def load_policy(source: str | Path | dict[str, Any] | None) -> GatePolicy:
    """A GatePolicy from a YAML file path, a dict, or None (the defaults)."""
    if source is None:
        return GatePolicy()
    if isinstance(source, dict):
        data, where = source, "policy"
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError("gate policy file not found", value=str(path), fix="pass a YAML file, e.g. examples/policies/default.yaml")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError("gate policy is not valid YAML", value=str(path), fix=str(exc).splitlines()[0]) from None
        where = str(path)
    try:
        return GatePolicy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(
            f"invalid gate policy {where}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}",
            value=first.get("input"),
            fix="see examples/policies/default.yaml for the fields",
        ) from None


class Check(BaseModel):
    """One rule of the policy, judged."""

    name: str
    key: str | None = None
    passed: bool
    observed: float | None = None
    threshold: float | None = None
    reason: str


class GateResult(BaseModel):
    """Pass or fail, with every check and the policy that produced it (stored with the experiment)."""

    gate_id: str
    comparison_id: str
    baseline_id: str
    candidate_id: str
    policy_name: str
    policy_hash: str
    policy: dict[str, Any]
    passed: bool
    checks: list[Check]
    created_at: datetime

    @property
    def reasons(self) -> list[str]:
        """Why it failed (or, when it passed, a one-line summary)."""
        failed = [c.reason for c in self.checks if not c.passed]
        return failed or [f"all {len(self.checks)} checks passed"]


def _pts(x: float) -> str:
    return f"{x * 100:+.1f} pts"


def _pct_change(new: float | None, old: float | None) -> float | None:
    if new is None or old is None or old == 0:
        return None
    return (new - old) / old * 100


def evaluate(comparison: Comparison, policy: GatePolicy) -> GateResult:
    """Judge ``comparison`` against ``policy``. The comparison must use the policy's confidence."""
    if abs(comparison.confidence - policy.confidence) > 1e-12:
        raise ConfigError(
            "the comparison's CI level differs from the policy's",
            value=(comparison.confidence, policy.confidence),
            fix="compare again with confidence=policy.confidence (tracemill eval gate does this)",
        )
    checks: list[Check] = []
    level = f"{comparison.confidence:.0%}"
    for key, rule in sorted(policy.rules_for([m.key for m in comparison.metrics]).items()):
        m = comparison.metric(key)
        if m is None:
            checks.append(Check(name="evaluator_present", key=key, passed=False,
                                reason=f"{key}: the policy gates it but the experiments have no paired scores for it"))
            continue
        if rule.min_score is not None:
            ok = m.candidate_mean >= rule.min_score
            checks.append(Check(
                name="min_score", key=key, passed=ok, observed=m.candidate_mean, threshold=rule.min_score,
                reason=f"{key}: candidate mean {m.candidate_mean:.3f} {'>=' if ok else '<'} minimum {rule.min_score:.3f}",
            ))
        if rule.max_regression is not None:
            ok = m.ci_low > -rule.max_regression
            checks.append(Check(
                name="max_regression", key=key, passed=ok, observed=m.ci_low, threshold=-rule.max_regression,
                reason=(f"{key}: paired difference {_pts(m.delta)}, lower {level} CI bound {_pts(m.ci_low)} "
                        f"{'above' if ok else 'not above'} the allowed {_pts(-rule.max_regression)}"),
            ))
    cs, bs = comparison.candidate_stats, comparison.baseline_stats
    if policy.cost:
        c = policy.cost
        if c.max_total_usd is not None:
            ok = cs.cost_usd <= c.max_total_usd
            checks.append(Check(name="cost_total", passed=ok, observed=cs.cost_usd, threshold=c.max_total_usd,
                                reason=f"cost: total ${cs.cost_usd:.4f} {'within' if ok else 'over'} budget ${c.max_total_usd:.4f}"))
        if c.max_per_example_usd is not None and cs.cost_per_example_usd is not None:
            ok = cs.cost_per_example_usd <= c.max_per_example_usd
            checks.append(Check(name="cost_per_example", passed=ok, observed=cs.cost_per_example_usd,
                                threshold=c.max_per_example_usd,
                                reason=f"cost: ${cs.cost_per_example_usd:.5f}/example {'within' if ok else 'over'} budget ${c.max_per_example_usd:.5f}"))
        if c.max_increase_pct is not None:
            inc = _pct_change(cs.cost_usd, bs.cost_usd)
            ok = inc is None or inc <= c.max_increase_pct
            checks.append(Check(name="cost_increase", passed=ok, observed=inc, threshold=c.max_increase_pct,
                                reason=("cost: no baseline cost to compare" if inc is None else
                                        f"cost: {inc:+.1f}% vs baseline, {'within' if ok else 'over'} the allowed +{c.max_increase_pct:.1f}%")))
    if policy.latency:
        lat = policy.latency
        for name, val, limit in (("latency_p50", cs.latency_p50_ms, lat.max_p50_ms), ("latency_p95", cs.latency_p95_ms, lat.max_p95_ms)):
            if limit is not None:
                ok = val is not None and val <= limit
                checks.append(Check(name=name, passed=ok, observed=val, threshold=limit,
                                    reason=f"latency: {name[-3:]} {'n/a' if val is None else f'{val:.0f} ms'} {'within' if ok else 'over'} budget {limit:.0f} ms"))
        if lat.max_p95_increase_pct is not None:
            inc = _pct_change(cs.latency_p95_ms, bs.latency_p95_ms)
            ok = inc is None or inc <= lat.max_p95_increase_pct
            checks.append(Check(name="latency_p95_increase", passed=ok, observed=inc, threshold=lat.max_p95_increase_pct,
                                reason=("latency: no baseline p95 to compare" if inc is None else
                                        f"latency: p95 {inc:+.1f}% vs baseline, {'within' if ok else 'over'} the allowed +{lat.max_p95_increase_pct:.1f}%")))
    if policy.max_error_rate is not None:
        ok = cs.error_rate <= policy.max_error_rate
        checks.append(Check(name="error_rate", passed=ok, observed=cs.error_rate, threshold=policy.max_error_rate,
                            reason=f"errors: {cs.error_rate:.1%} of calls failed, {'within' if ok else 'over'} the allowed {policy.max_error_rate:.1%}"))
    if policy.critical:
        gated = set(policy.rules_for([m.key for m in comparison.metrics]))
        bad = [e for e in comparison.regressions if policy.critical.tag in e.tags and e.key in gated]
        ok = len(bad) <= policy.critical.max_regressions
        shown = ", ".join(f"{e.example_id} ({e.key})" for e in bad[:5]) + (" …" if len(bad) > 5 else "")
        checks.append(Check(name="critical_regressions", passed=ok, observed=float(len(bad)),
                            threshold=float(policy.critical.max_regressions),
                            reason=(f"critical: {len(bad)} example(s) tagged {policy.critical.tag!r} regressed"
                                    + (f": {shown}" if bad else ""))))
    return GateResult(
        gate_id=new_id("gate"), comparison_id=comparison.comparison_id, baseline_id=comparison.baseline_id,
        candidate_id=comparison.candidate_id, policy_name=policy.name, policy_hash=policy.policy_hash,
        policy=policy.model_dump(mode="json"), passed=all(c.passed for c in checks), checks=checks, created_at=utcnow(),
    )

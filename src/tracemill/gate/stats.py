"""Paired statistics for comparing two experiments on the same examples.

Pure functions over numpy arrays, one value per example (when an experiment has repetitions the
caller passes each example's mean over them, so the example stays the unit of resampling).
The tests themselves come from scipy: the exact McNemar test is a two-sided binomial test on the
discordant pairs, the CI is scipy's percentile bootstrap of the mean paired difference, and
Wilcoxon is scipy's signed-rank test.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from tracemill.errors import DataError

BootstrapMethod = Literal["BCa", "percentile", "basic"]


@dataclass(frozen=True)
class McNemarResult:
    """Discordant pairs and the exact two-sided p-value.

    ``b``: passed in the baseline and failed in the candidate (regressions);
    ``c``: failed in the baseline and passed in the candidate (improvements).
    """

    b: int
    c: int
    statistic: int
    p_value: float


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    method: str


@dataclass(frozen=True)
class TestResult:
    """A test statistic and its two-sided p-value."""

    name: str
    statistic: float
    p_value: float


def _paired(baseline: ArrayLike, candidate: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(baseline, dtype=float)
    b = np.asarray(candidate, dtype=float)
    if a.ndim != 1 or a.shape != b.shape:
        raise DataError(
            "paired statistics need two 1-D arrays of the same length (one value per example)",
            value=(a.shape, b.shape),
            fix="align both experiments on example_id before calling",
        )
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise DataError("paired statistics got NaN or infinite scores", fix="drop or fill missing scores first")
    return a, b


def is_binary(values: ArrayLike) -> bool:
    """True when every value is 0 or 1 (a pass/fail evaluator)."""
    v = np.asarray(values, dtype=float)
    return bool(v.size) and bool(np.isin(v, (0.0, 1.0)).all())


def mcnemar_exact(baseline: ArrayLike, candidate: ArrayLike) -> McNemarResult:
    """Exact McNemar test on paired pass/fail outcomes (matches statsmodels ``mcnemar(exact=True)``)."""
    a, b = _paired(baseline, candidate)
    if not (is_binary(a) or a.size == 0) or not (is_binary(b) or b.size == 0):
        raise DataError("McNemar's test needs 0/1 scores", value=np.unique(np.r_[a, b])[:10].tolist())
    regress = int(np.sum((a == 1) & (b == 0)))
    improve = int(np.sum((a == 0) & (b == 1)))
    n = regress + improve
    p = 1.0 if n == 0 else float(stats.binomtest(min(regress, improve), n, 0.5).pvalue)
    return McNemarResult(b=regress, c=improve, statistic=min(regress, improve), p_value=min(p, 1.0))


def bootstrap_mean_ci(
    values: ArrayLike,
    *,
    confidence: float = 0.90,
    n_resamples: int = 2000,
    method: BootstrapMethod = "percentile",
    seed: int | np.random.Generator | None = 0,
) -> Interval:
    """Bootstrap CI of the mean of ``values`` (scipy.stats.bootstrap, vectorised)."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0 or not np.isfinite(x).all():
        raise DataError("bootstrap needs a non-empty 1-D array of finite values", value=x.shape)
    est = float(x.mean())
    if x.size == 1 or np.all(x == x[0]):
        # Every resample has the same mean: the interval is the point (scipy would return NaN).
        return Interval(est, est, est, confidence, method)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BCa on near-degenerate data warns and we fall back below
        res = stats.bootstrap(
            (x,), np.mean, n_resamples=n_resamples, confidence_level=confidence, method=method,
            vectorized=True, rng=rng,
        )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)) and method != "percentile":
        return bootstrap_mean_ci(x, confidence=confidence, n_resamples=n_resamples, method="percentile", seed=rng)
    return Interval(est, low, high, confidence, method)


def paired_bootstrap_ci(
    baseline: ArrayLike,
    candidate: ArrayLike,
    *,
    confidence: float = 0.90,
    n_resamples: int = 2000,
    method: BootstrapMethod = "percentile",
    seed: int | np.random.Generator | None = 0,
) -> Interval:
    """CI of the mean paired difference ``candidate - baseline``, resampling examples.

    Works for binary (difference of pass rates) and numeric scores alike.
    """
    a, b = _paired(baseline, candidate)
    return bootstrap_mean_ci(b - a, confidence=confidence, n_resamples=n_resamples, method=method, seed=seed)


def wilcoxon_signed_rank(baseline: ArrayLike, candidate: ArrayLike) -> TestResult:
    """Wilcoxon signed-rank test on paired numeric scores (scipy); p=1 when nothing differs."""
    a, b = _paired(baseline, candidate)
    d = b - a
    if d.size == 0 or np.all(d == 0):
        return TestResult("wilcoxon", 0.0, 1.0)
    res = stats.wilcoxon(d, zero_method="wilcox")
    return TestResult("wilcoxon", float(res.statistic), float(res.pvalue))


def percentile(values: ArrayLike, q: float) -> float | None:
    """The q-th percentile (0-100) or None for no values."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    return float(np.percentile(x, q)) if x.size else None

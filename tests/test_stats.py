"""The gate's statistics agree with statsmodels/scipy and its bootstrap CIs cover ~95%."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar

from tracemill.errors import DataError
from tracemill.gate import stats


def _table(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([[np.sum((a == 1) & (b == 1)), np.sum((a == 1) & (b == 0))],
                     [np.sum((a == 0) & (b == 1)), np.sum((a == 0) & (b == 0))]])


def test_mcnemar_matches_statsmodels_on_generated_data():
    rng = np.random.default_rng(1)
    checked = 0
    for n in (5, 20, 60, 400):
        for _ in range(40):
            p_base = rng.uniform(0.2, 0.9)
            a = (rng.random(n) < p_base).astype(float)
            flip = rng.random(n) < rng.uniform(0, 0.4)
            b = np.where(flip, 1 - a, a)
            ours = stats.mcnemar_exact(a, b)
            ref = mcnemar(_table(a, b), exact=True)
            assert ours.p_value == pytest.approx(float(ref.pvalue), rel=1e-9, abs=1e-12)
            assert ours.statistic == int(ref.statistic)
            assert ours.b == int(np.sum((a == 1) & (b == 0))) and ours.c == int(np.sum((a == 0) & (b == 1)))
            checked += 1
    assert checked == 160
    # no discordant pairs at all
    assert stats.mcnemar_exact([1, 0, 1], [1, 0, 1]).p_value == 1.0


def test_mcnemar_refuses_non_binary():
    with pytest.raises(DataError):
        stats.mcnemar_exact([0.5, 1], [1, 1])
    with pytest.raises(DataError):
        stats.mcnemar_exact([1, 0], [1])


def test_wilcoxon_matches_scipy():
    rng = np.random.default_rng(2)
    a = rng.normal(0.6, 0.1, 80)
    b = a + rng.normal(0.02, 0.05, 80)
    ours = stats.wilcoxon_signed_rank(a, b)
    ref = sps.wilcoxon(b - a)
    assert ours.p_value == pytest.approx(ref.pvalue) and ours.statistic == pytest.approx(ref.statistic)
    assert stats.wilcoxon_signed_rank(a, a).p_value == 1.0


def _coverage(make_pair, true_delta: float, sims: int, n: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(sims):
        a, b = make_pair(rng, n)
        ci = stats.paired_bootstrap_ci(a, b, confidence=0.95, n_resamples=1000, seed=rng)
        hits += ci.low <= true_delta <= ci.high
    return hits / sims


def test_bootstrap_ci_coverage_binary_about_95_percent():
    # Baseline passes 70%; the candidate fixes 20% of failures and breaks 10% of passes:
    # true paired difference = 0.3*0.2 - 0.7*0.1 = -0.01.
    def pair(rng, n):
        a = (rng.random(n) < 0.7).astype(float)
        u = rng.random(n)
        b = np.where(a == 1, (u >= 0.1).astype(float), (u < 0.2).astype(float))
        return a, b

    cov = _coverage(pair, -0.01, sims=600, n=200, seed=3)
    # 600 simulations: the coverage estimate has a standard error of ~0.9 points, so +-2.5 points
    # is ~2.8 SE; a 90% interval mislabelled as 95% would fail.
    assert 0.925 <= cov <= 0.975, cov


def test_bootstrap_ci_coverage_numeric_about_95_percent():
    def pair(rng, n):
        a = rng.beta(2, 2, n)
        return a, a + rng.normal(0.03, 0.1, n)

    cov = _coverage(pair, 0.03, sims=600, n=200, seed=4)
    assert 0.925 <= cov <= 0.975, cov


def test_bootstrap_degenerate_and_bad_input():
    ci = stats.paired_bootstrap_ci([1, 1, 0], [1, 1, 0])
    assert (ci.estimate, ci.low, ci.high) == (0.0, 0.0, 0.0)
    with pytest.raises(DataError):
        stats.paired_bootstrap_ci([1.0, np.nan], [1.0, 1.0])

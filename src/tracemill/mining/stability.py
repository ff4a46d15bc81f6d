"""Keep failure-mode ids stable across runs and say how each mode is trending.

A run's clusters are matched one-to-one to the previous run's (Hungarian assignment) on
``max(member Jaccard, centroid cosine)``: member overlap recognises the same traces mined again,
the centroid (the mean TF-IDF vector over named terms such as ``errors:timeout``) recognises the same
failure mode in new traces. A pair matches when its score reaches ``match_threshold``. Unmatched
clusters get a fresh id (``fm_NNNN``, never reused) and status ``new``; unmatched previous clusters are
``gone``. Matched ones compare their daily rate: ``growing``, ``shrinking`` or ``stable``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from scipy.optimize import linear_sum_assignment

from tracemill.mining.params import MiningParams

NOISE_ID = "unclustered"


@dataclass
class KnownCluster:
    """A cluster as a previous run stored it."""

    cluster_id: str
    size: int
    daily_rate: float
    first_seen: datetime | None
    last_seen: datetime | None
    centroid: dict[str, float]
    members: set[str] = field(default_factory=set)
    label: str | None = None
    name: str | None = None
    description: str | None = None
    label_terms: list[str] = field(default_factory=list)
    signal_kinds: list[str] = field(default_factory=list)
    naming_model: str | None = None
    naming_prompt: str | None = None


@dataclass
class Candidate:
    """A cluster of the current run, before it has an id (``key`` -1 is noise)."""

    key: int
    size: int
    daily_rate: float
    centroid: dict[str, float]
    members: set[str]


@dataclass(frozen=True)
class Match:
    key: int
    cluster_id: str
    status: str
    previous: KnownCluster | None
    score: float | None


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if not a or not b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    dot = sum(v * b.get(t, 0.0) for t, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def trend(rate: float, previous_rate: float, params: MiningParams) -> str:
    """growing / shrinking / stable by daily rate, needing both a ratio and an absolute change."""
    if rate >= previous_rate * params.trend_ratio and rate - previous_rate >= params.trend_min_delta:
        return "growing"
    if rate * params.trend_ratio <= previous_rate and previous_rate - rate >= params.trend_min_delta:
        return "shrinking"
    return "stable"


def match(
    current: list[Candidate], previous: list[KnownCluster], *, next_number: int, params: MiningParams
) -> tuple[list[Match], list[KnownCluster]]:
    """Ids and statuses for ``current`` (given largest first), and the previous clusters now gone."""
    prev_noise = next((p for p in previous if p.cluster_id == NOISE_ID), None)
    prev = [p for p in previous if p.cluster_id != NOISE_ID]
    cur = [c for c in current if c.key >= 0]
    pairs: dict[int, tuple[int, float]] = {}
    if cur and prev:
        score = np.zeros((len(cur), len(prev)))
        for i, c in enumerate(cur):
            for j, p in enumerate(prev):
                score[i, j] = max(jaccard(c.members, p.members), cosine(c.centroid, p.centroid))
        rows, cols = linear_sum_assignment(-score)
        for i, j in zip(rows, cols, strict=True):
            if score[i, j] >= params.match_threshold:
                pairs[i] = (j, float(score[i, j]))
    out: list[Match] = []
    number = next_number
    for i, c in enumerate(cur):
        if i in pairs:
            j, s = pairs[i]
            p = prev[j]
            out.append(Match(c.key, p.cluster_id, trend(c.daily_rate, p.daily_rate, params), p, s))
        else:
            number += 1
            out.append(Match(c.key, f"fm_{number:04d}", "new", None, None))
    for c in current:
        if c.key < 0:
            if prev_noise is None:
                out.append(Match(c.key, NOISE_ID, "new", None, None))
            else:
                out.append(Match(c.key, NOISE_ID, trend(c.daily_rate, prev_noise.daily_rate, params), prev_noise, None))
    matched = {pairs[i][0] for i in pairs}
    gone = [p for j, p in enumerate(prev) if j not in matched]
    if prev_noise is not None and not any(c.key < 0 for c in current):
        gone.append(prev_noise)
    return out, gone

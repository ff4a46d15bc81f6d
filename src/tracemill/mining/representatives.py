"""Representatives of a cluster: its medoid, then the most diverse members (greedy max-min distance).

Candidates closer than ``near_duplicate_distance`` to an already chosen one are near-duplicates and are
never picked (identical feature texts were merged before clustering already).
"""

from __future__ import annotations

import numpy as np

MAX_POOL = 1000


def pick(Z: np.ndarray, weights: np.ndarray, *, k: int, near_duplicate: float, seed: int = 0) -> list[int]:
    """Indices into ``Z`` (unique members of one cluster): the medoid first, then diverse members."""
    n = len(Z)
    if n == 0:
        return []
    pool = np.arange(n)
    if n > MAX_POOL:
        # Keep the heaviest points (most traces) and a seeded random share of the rest.
        heavy = np.argsort(-weights, kind="stable")[: MAX_POOL // 2]
        rest = np.setdiff1d(pool, heavy)
        extra = np.random.default_rng(seed).choice(rest, MAX_POOL - len(heavy), replace=False)
        pool = np.sort(np.concatenate([heavy, extra]))
    P = Z[pool]
    D = np.clip(1.0 - P @ P.T, 0.0, 2.0)
    medoid = int(np.argmin(D @ weights[pool]))
    chosen = [medoid]
    nearest = D[medoid].copy()
    while len(chosen) < min(k, len(pool)):
        j = int(np.argmax(nearest))
        if nearest[j] <= near_duplicate:
            break
        chosen.append(j)
        nearest = np.minimum(nearest, D[j])
    return [int(pool[c]) for c in chosen]

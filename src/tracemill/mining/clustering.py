"""Cluster failing traces into failure modes, in time close to linear in their number.

Average-linkage agglomerative clustering (cosine distance, merged up to a distance threshold) runs on at
most ``sample_size`` points. The other points join the nearest cluster centroid when they fall within that
cluster's radius; the points that fit nowhere are clustered again the same way (a few rounds), so a
failure mode that the sample missed still forms its own cluster. Clusters holding fewer than
``min_cluster_size`` traces become noise (label -1, shown as 'unclustered').
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import AgglomerativeClustering

from tracemill.mining.params import MiningParams

MAX_ROUNDS = 4
_CHUNK = 8192


def _agglomerate(Z: np.ndarray, threshold: float) -> np.ndarray:
    if len(Z) == 1:
        return np.zeros(1, dtype=np.int64)
    model = AgglomerativeClustering(
        n_clusters=None, distance_threshold=threshold, metric="cosine", linkage="average"
    )
    return model.fit_predict(Z).astype(np.int64)


def _means(Z: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Mean member vector per cluster (not normalized): ``1 - x @ mean`` is x's average cosine distance
    to the members, i.e. the average-linkage distance between x and the cluster."""
    M = np.zeros((k, Z.shape[1]), dtype=np.float64)
    np.add.at(M, labels, Z)
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    return (M / np.maximum(counts, 1)[:, None]).astype(np.float32)


def _centroids(Z: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    C = _means(Z, labels, k).astype(np.float64)
    norms = np.linalg.norm(C, axis=1, keepdims=True)
    return (C / np.where(norms == 0, 1, norms)).astype(np.float32)


def _join(Z: np.ndarray, idx: np.ndarray, M: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """For points ``idx``: the cluster average linkage would merge each into, and whether it would."""
    best_all = np.empty(len(idx), dtype=np.int64)
    ok_all = np.empty(len(idx), dtype=bool)
    for lo in range(0, len(idx), _CHUNK):
        sims = Z[idx[lo: lo + _CHUNK]] @ M.T
        best = sims.argmax(axis=1)
        best_all[lo: lo + len(best)] = best
        ok_all[lo: lo + len(best)] = (1.0 - sims[np.arange(len(best)), best]) <= threshold
    return best_all, ok_all


def cluster(Z: np.ndarray, weights: np.ndarray, params: MiningParams) -> np.ndarray:
    """Cluster label per point (0 = the cluster with the most traces, ...; -1 = noise).

    ``Z`` holds L2-normalized unique feature vectors, ``weights`` how many traces share each.
    """
    n = len(Z)
    labels = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return labels
    rng = np.random.default_rng(params.seed)
    remaining = np.arange(n)
    next_label = 0
    for _ in range(MAX_ROUNDS):
        if len(remaining) == 0:
            break
        if len(remaining) <= params.sample_size:
            sample = remaining
        else:
            sample = np.sort(rng.choice(remaining, params.sample_size, replace=False))
        sub = _agglomerate(Z[sample], params.distance_threshold)
        k = int(sub.max()) + 1
        labels[sample] = next_label + sub
        rest = np.setdiff1d(remaining, sample, assume_unique=True)
        if len(rest):
            best, ok = _join(Z, rest, _means(Z[sample], sub, k), params.distance_threshold)
            labels[rest[ok]] = next_label + best[ok]
            rest = rest[~ok]
        next_label += k
        remaining = rest
    labels = _relabel(labels, weights, params.min_cluster_size)
    # Noise that average linkage would merge into a final cluster joins it (stragglers of a big mode
    # that ended up in a tiny leftover group).
    noise = np.nonzero(labels < 0)[0]
    k = int(labels.max()) + 1
    if k > 0 and len(noise):
        kept = labels >= 0
        best, ok = _join(Z, noise, _means(Z[kept], labels[kept], k), params.distance_threshold)
        labels[noise[ok]] = best[ok]
    return labels


def _relabel(labels: np.ndarray, weights: np.ndarray, min_size: int) -> np.ndarray:
    """Drop clusters below ``min_size`` traces; number the rest by size (ties: first point)."""
    out = np.full_like(labels, -1)
    valid = labels >= 0
    if not valid.any():
        return out
    totals = np.bincount(labels[valid], weights=weights[valid])
    first = np.full(len(totals), len(labels))
    np.minimum.at(first, labels[valid], np.nonzero(valid)[0])
    keep = [c for c in range(len(totals)) if totals[c] >= min_size]
    keep.sort(key=lambda c: (-totals[c], first[c]))
    mapping = np.full(len(totals), -1, dtype=np.int64)
    mapping[keep] = np.arange(len(keep))
    out[valid] = mapping[labels[valid]]
    return out


def centroid_distances(Z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cosine distance of each point to its cluster's centroid (noise: to the noise points' mean)."""
    shifted = labels + 1  # noise -> 0
    k = int(shifted.max()) + 1 if len(shifted) else 0
    if k == 0:
        return np.zeros(0)
    C = _centroids(Z, shifted, k)
    return np.clip(1.0 - np.einsum("ij,ij->i", Z, C[shifted]), 0.0, 2.0)

"""Pure parts of mining without a warehouse: sampled clustering, representatives, matching, backends."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tracemill.errors import ConfigError
from tracemill.mining import MiningParams
from tracemill.mining.clustering import cluster
from tracemill.mining.features import FailingTraces, build
from tracemill.mining.representatives import pick
from tracemill.mining.stability import Candidate, KnownCluster, match


def _blobs(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = np.eye(16, dtype=np.float32)[:k]
    truth = rng.integers(0, k, n)
    Z = centers[truth] + rng.normal(0, 0.05, (n, 16)).astype(np.float32)
    return Z / np.linalg.norm(Z, axis=1, keepdims=True), truth


def test_sampled_clustering_assigns_the_rest_and_finds_modes_the_sample_missed():
    Z, truth = _blobs(3000, 4)
    # A fifth, rare mode (20 points) that a 100-point sample will mostly miss.
    rare = np.zeros((20, 16), dtype=np.float32)
    rare[:, 10] = 1
    Z = np.vstack([Z, rare])
    truth = np.concatenate([truth, np.full(20, 4)])
    labels = cluster(Z, np.ones(len(Z)), MiningParams(sample_size=100, min_cluster_size=5))
    assert len(set(labels)) == 5 and -1 not in labels
    for t in range(5):
        assert len(set(labels[truth == t])) == 1
    assert labels[0] != labels[-1]


def test_small_groups_become_noise_by_trace_count_not_point_count():
    Z = np.eye(2, dtype=np.float32)
    labels = cluster(Z, np.array([10.0, 1.0]), MiningParams(min_cluster_size=5))
    assert list(labels) == [0, -1]


def test_representatives_medoid_first_and_no_near_duplicates():
    Z, _ = _blobs(200, 3)
    Z = np.vstack([Z, Z[:1]])  # an exact duplicate of point 0
    reps = pick(Z, np.ones(len(Z)), k=5, near_duplicate=0.02)
    assert len(reps) <= 5 and len(set(reps)) == len(reps)
    chosen = Z[reps]
    d = 1 - chosen @ chosen.T
    assert (d[np.triu_indices(len(reps), 1)] > 0.02).all()


def test_matching_keeps_ids_flags_new_gone_and_trends():
    params = MiningParams()
    prev = [KnownCluster("fm_0001", 30, 30.0, None, None, {"errors:timeout": 1.0}, {"a", "b"}),
            KnownCluster("fm_0002", 10, 10.0, None, None, {"signals:loop": 1.0}, {"c"})]
    cur = [Candidate(0, 60, 60.0, {"errors:timeout": 0.9, "tools:x": 0.1}, {"z"}),
           Candidate(1, 8, 8.0, {"errors:auth": 1.0}, {"y"})]
    out, gone = match(cur, prev, next_number=2, params=params)
    assert [(m.cluster_id, m.status) for m in out] == [("fm_0001", "growing"), ("fm_0003", "new")]
    assert [g.cluster_id for g in gone] == ["fm_0002"]


def test_feature_backends(monkeypatch):
    ft = FailingTraces(trace_ids=["a", "b"], start_times=[None, None], kinds=[["loop"], ["loop"]],
                       fields={f: ["", ""] for f in ("signals", "errors", "failing_tools", "tools", "output",
                                                     "user", "feedback")})
    ft.fields["signals"] = ["loop", "loop"]
    space = build(ft, MiningParams())
    assert space.n_unique == 1 and space.weights.tolist() == [2.0]
    if importlib.util.find_spec("sentence_transformers") is None:
        with pytest.raises(ConfigError, match="sentence-transformers"):
            build(ft, MiningParams(backend="embeddings"))
    with pytest.raises(ConfigError):
        build(ft, MiningParams(backend="nope"))

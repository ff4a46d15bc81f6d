"""generate -> ingest -> mine: planted failure modes are recovered, ids are stable, trends are right."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from sklearn.metrics import adjusted_rand_score

from tracemill.demo.generator import NEXT_NIGHT_MODES, generate_day
from tracemill.ingest import ingest_paths
from tracemill.mining import mine
from tracemill.settings import Settings
from tracemill.warehouse import connect

DAY1, DAY2 = date(2026, 1, 5), date(2026, 1, 6)
N = 400


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    """One warehouse with two generated nights ingested; mined night 1, night 1 again, then night 2."""
    root = tmp_path_factory.mktemp("mine_e2e")
    settings = Settings(warehouse=str(root / "wh"))
    gt1 = generate_day(root / "land", day=DAY1, n_traces=N)
    gt2 = generate_day(root / "land", day=DAY2, n_traces=N, modes=NEXT_NIGHT_MODES)
    ingest_paths([str(root / "land" / f"otlp-{DAY1}-*.jsonl")], settings=settings)
    ingest_paths([str(root / "land" / f"otlp-{DAY2}-*.jsonl")], settings=settings)
    run1 = mine(settings, since=DAY1, until=DAY2)
    run1b = mine(settings, since=DAY1, until=DAY2)
    run2 = mine(settings, since=DAY2, until=date(2026, 1, 7))
    con = connect(settings)
    members = {
        r.run_id: dict(con.execute("SELECT trace_id, cluster_id FROM cluster_members WHERE run_id = ?",
                                   [r.run_id]).fetchall())
        for r in (run1, run1b, run2)
    }
    yield {"settings": settings, "gt1": gt1, "gt2": gt2, "run1": run1, "run1b": run1b, "run2": run2,
           "members": members, "con": con}
    con.close()


def _mode_clusters(truth: dict[str, str], members: dict[str, str]) -> dict[str, list[str]]:
    """For each planted mode, the clusters in which it is the majority."""
    by_cluster: dict[str, Counter] = {}
    for tid, cid in members.items():
        by_cluster.setdefault(cid, Counter())[truth.get(tid, "ok")] += 1
    out: dict[str, list[str]] = {}
    for cid, counts in by_cluster.items():
        if cid == "unclustered":
            continue
        out.setdefault(counts.most_common(1)[0][0], []).append(cid)
    return out


@pytest.mark.parametrize("night", ["1", "2"])
def test_planted_modes_recovered(world, night: str):
    gt = world[f"gt{night}"]
    run = world[f"run{night}"]
    members = world["members"][run.run_id]
    failing = gt.failing()
    # Every planted failure is flagged by some signal; almost nothing else is.
    assert set(failing) <= set(members)
    assert len(set(members) - set(failing)) <= 0.02 * N
    tids = sorted(members)
    ari = adjusted_rand_score([gt.modes[t] for t in tids], [members[t] for t in tids])
    assert ari >= 0.8, ari
    majority = _mode_clusters(gt.modes, members)
    for mode in set(failing.values()):
        assert len(majority.get(mode, [])) == 1, (mode, majority)


def test_signals_are_queryable_with_evidence(world):
    con, run = world["con"], world["run1"]
    kinds = dict(con.execute("SELECT kind, count(*) FROM failure_signals WHERE run_id = ? GROUP BY kind",
                             [run.run_id]).fetchall())
    counts = world["gt1"].counts()
    assert kinds["loop"] == counts["loop"]
    assert kinds["rule:refund_over_limit"] == counts["policy_violation"]
    assert kinds["tool_error"] == counts["tool_error"]
    ev = con.execute("SELECT evidence->>'tool', CAST(evidence->>'repeats' AS INT) FROM failure_signals "
                     "WHERE run_id = ? AND kind = 'loop' LIMIT 1", [run.run_id]).fetchone()
    assert ev[0] == "lookup_order" and ev[1] >= 3
    row = con.execute("SELECT status, n_failing_traces, n_clusters, params->>'min_cluster_size' FROM mining_runs "
                      "WHERE run_id = ?", [run.run_id]).fetchone()
    assert row[0] == "completed" and row[1] == len(world["members"][run.run_id]) and row[2] >= 6 and row[3] == "5"


def test_mining_the_same_data_twice_keeps_ids(world):
    a, b = world["run1"], world["run1b"]
    assert world["members"][a.run_id] == world["members"][b.run_id]
    assert {c.cluster_id for c in a.live_clusters} == {c.cluster_id for c in b.live_clusters}
    assert all(c.status == "stable" for c in b.live_clusters)
    assert all(c.status == "new" for c in a.live_clusters)


def test_next_night_new_mode_is_new_and_doubled_mode_is_growing(world):
    gt2, run2 = world["gt2"], world["run2"]
    majority = _mode_clusters(gt2.modes, world["members"][run2.run_id])
    status = {c.cluster_id: c for c in run2.clusters}
    (auth,) = majority["auth_failure"]
    assert status[auth].status == "new"
    (tool_err,) = majority["tool_error"]
    assert status[tool_err].status == "growing"
    # The tool-error mode kept the id it had on night 1, and first_seen goes back to night 1.
    night1 = _mode_clusters(world["gt1"].modes, world["members"][world["run1"].run_id])
    assert night1["tool_error"] == [tool_err]
    assert status[tool_err].first_seen.date() == DAY1
    for mode in ("loop", "policy_violation", "wrong_tool", "slow", "costly"):
        assert majority[mode] == night1[mode], mode
        assert status[majority[mode][0]].status == "stable", mode
    daily = world["con"].execute(
        "SELECT day, n_traces FROM cluster_daily_counts WHERE run_id = ? AND cluster_id = ?", [run2.run_id, tool_err]
    ).fetchall()
    assert [d for d, _ in daily] == [DAY2]


def test_representatives_are_members_medoid_first(world):
    con, run = world["con"], world["run1"]
    for c in run.live_clusters:
        reps = con.execute(
            "SELECT trace_id FROM cluster_members WHERE run_id = ? AND cluster_id = ? AND is_representative "
            "ORDER BY representative_rank", [run.run_id, c.cluster_id]).fetchall()
        assert [r[0] for r in reps] == list(c.representative_trace_ids)
        assert 1 <= len(reps) <= 5
    # Labels come from distinctive terms of what went wrong.
    labels = " ".join(c.label for c in run.live_clusters)
    for term in ("loop", "latency_outlier", "cost_outlier", "refund_over_limit"):
        assert term in labels

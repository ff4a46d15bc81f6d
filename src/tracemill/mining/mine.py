"""``mine()``: signals -> features -> clusters -> labels, representatives, stable ids -> one transaction."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from tracemill.errors import ConfigError
from tracemill.lineage import SCHEMA_VERSION, config_hash, new_id, utcnow
from tracemill.mining import clustering, features, labels, representatives, signals, stability, store
from tracemill.mining.params import MiningParams
from tracemill.mining.result import ClusterSummary, MiningResult
from tracemill.settings import Settings, get_settings
from tracemill.warehouse import connect, snapshot_id, writer_lock

Progress = Callable[[str, float], None]
STAGES = ("signals", "features", "clustering", "labels", "matching", "writing")
CENTROID_TERMS = 40
_RELATIVE = re.compile(r"^(\d+)\s*([hd])$")


def parse_when(value: str | date | datetime | None, *, now: datetime | None = None) -> datetime | None:
    """A window bound: ISO date (midnight UTC), ISO datetime (UTC if naive), or relative '24h' / '7d' ago."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = value.strip()
    m = _RELATIVE.match(text)
    if m:
        delta = timedelta(hours=int(m.group(1))) if m.group(2) == "h" else timedelta(days=int(m.group(1)))
        return (now or utcnow()) - delta
    try:
        if len(text) == 10:
            return parse_when(date.fromisoformat(text))
        return parse_when(datetime.fromisoformat(text))
    except ValueError:
        raise ConfigError(
            "cannot read this time", value=value, fix="use an ISO date (2026-01-05), datetime, or '24h' / '7d'"
        ) from None


def _utc_day(ts: Any) -> date | None:
    if ts is None:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).date()


def _top_terms(X: Any, rows: np.ndarray, weights: np.ndarray, terms: np.ndarray) -> dict[str, float]:
    mean = np.asarray(X[rows].T @ weights[rows]).ravel()
    if not mean.any():
        return {}
    top = np.argsort(-mean, kind="stable")[:CENTROID_TERMS]
    top = top[mean[top] > 0]
    norm = float(np.linalg.norm(mean[top])) or 1.0
    return {str(terms[j]): round(float(mean[j]) / norm, 5) for j in top}


def mine(
    settings: Settings | None = None,
    *,
    since: str | date | datetime | None = None,
    until: str | date | datetime | None = None,
    params: MiningParams | None = None,
    progress: Progress | None = None,
    llm_kwargs: dict[str, Any] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> MiningResult:
    """Mine failure modes from the traces with ``since <= start_time < until``.

    Writes one ``mining_runs`` row and the run's ``failure_signals``, ``failure_clusters``,
    ``cluster_members`` and ``cluster_daily_counts`` in one transaction. When ``settings.llm_model`` is set,
    the largest clusters also get an LLM-written name and description (``llm_kwargs`` go to
    ``litellm.completion``, e.g. ``mock_response`` in tests).
    """
    settings = settings or get_settings()
    params = params or MiningParams()
    report = progress or (lambda stage, frac: None)
    start, end = parse_when(since), parse_when(until)
    if start and end and end <= start:
        raise ConfigError("the mining window is empty: until is not after since", value=(str(start), str(end)),
                          fix="swap --since and --until, or widen the window")
    own = con is None
    con = con or connect(settings)
    rules_text = [(p.name, p.read_text()) for p in signals.rule_files(params)]
    chash = config_hash({"params": params.model_dump(mode="json"), "rules": rules_text})
    run_row: dict[str, object] = {
        "run_id": new_id("mine"),
        "started_at": utcnow(),
        "status": "running",
        "since": start,
        "until": end,
        "params": params.model_dump_json(),
        "config_hash": chash,
        "schema_version": SCHEMA_VERSION,
    }
    try:
        return _mine(con, settings, params, run_row, report, llm_kwargs)
    except Exception as exc:
        store.write_failed_run(con, {**run_row, "finished_at": utcnow()}, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if own:
            con.close()


def _mine(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    params: MiningParams,
    run_row: dict[str, object],
    report: Progress,
    llm_kwargs: dict[str, Any] | None,
) -> MiningResult:
    start, end = run_row["since"], run_row["until"]
    run_row["snapshot_id"] = snapshot_id(con)
    report("signals", 0.0)
    n_scanned = signals.select_window(con, start, end)  # type: ignore[arg-type]
    by_kind = signals.detect(con, params)
    report("features", 0.0)
    failing = features.load_failing(con, params)
    notes: list[str] = []
    if failing.n_truncated:
        notes.append(f"{failing.n_truncated} texts were longer than {params.max_field_chars} characters and were "
                     "truncated for clustering")
    n = len(failing)
    days = [_utc_day(t) for t in failing.start_times]
    if start is not None and end is not None:
        n_days = max(1, math.ceil((end - start) / timedelta(days=1)))  # type: ignore[operator]
    else:
        n_days = max(1, len({d for d in days if d is not None}))

    candidates: list[stability.Candidate] = []
    cluster_rows: dict[int, dict[str, Any]] = {}
    member_cluster = np.full(n, -1, dtype=np.int64)
    rep_rank: dict[int, int] = {}
    distance = np.zeros(n)
    if n:
        space = features.build(failing, params)
        report("clustering", 0.0)
        ulabels = clustering.cluster(space.Z, space.weights, params)
        udist = clustering.centroid_distances(space.Z, ulabels)
        member_cluster = ulabels[space.inverse]
        distance = udist[space.inverse]
        # first trace (in trace_id order) of each unique feature text stands for it
        first_trace = np.full(space.n_unique, n, dtype=np.int64)
        np.minimum.at(first_trace, space.inverse, np.arange(n))
        report("labels", 0.0)
        terms = labels.ctfidf_terms(space.label_docs, space.weights, ulabels, params.n_label_terms)
        for key in sorted(set(int(x) for x in ulabels)):
            urows = np.nonzero(ulabels == key)[0]
            tidx = np.nonzero(member_cluster == key)[0]
            picks = representatives.pick(space.Z[urows], space.weights[urows], k=params.n_representatives,
                                         near_duplicate=params.near_duplicate_distance, seed=params.seed)
            reps = [int(first_trace[urows[p]]) for p in picks]
            for rank, t in enumerate(reps):
                rep_rank[t] = rank
            kinds = Counter(k for t in tidx for k in failing.kinds[t])
            cluster_rows[key] = {
                "terms": terms.get(key, []),
                "reps": reps,
                "kinds": [k for k, _ in kinds.most_common()],
                "first": min((failing.start_times[t] for t in tidx if failing.start_times[t]), default=None),
                "last": max((failing.start_times[t] for t in tidx if failing.start_times[t]), default=None),
                "daily": Counter(days[t] for t in tidx if days[t] is not None),
            }
            candidates.append(stability.Candidate(
                key=key, size=len(tidx), daily_rate=len(tidx) / n_days,
                centroid=_top_terms(space.X, urows, space.weights, space.terms),
                members={failing.trace_ids[t] for t in tidx},
            ))
    candidates.sort(key=lambda c: (c.key < 0, c.key))

    report("matching", 0.0)
    # Matching reads the previous run and the highest id; hold the writer lock until the run is written.
    with writer_lock(settings, what="mining run"):
        return _match_and_write(con, settings, params, run_row, report, llm_kwargs, failing, candidates,
                                cluster_rows, member_cluster, rep_rank, distance, days, by_kind, n_scanned, notes)


def _match_and_write(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    params: MiningParams,
    run_row: dict[str, object],
    report: Progress,
    llm_kwargs: dict[str, Any] | None,
    failing: features.FailingTraces,
    candidates: list[stability.Candidate],
    cluster_rows: dict[int, dict[str, Any]],
    member_cluster: np.ndarray,
    rep_rank: dict[int, int],
    distance: np.ndarray,
    days: list[date | None],
    by_kind: dict[str, int],
    n_scanned: int,
    notes: list[str],
) -> MiningResult:
    run_id = str(run_row["run_id"])
    n = len(failing)
    n_signals = sum(by_kind.values())
    start, end = run_row["since"], run_row["until"]
    prev_run = store.previous_run(con)
    previous = store.load_clusters(con, prev_run) if prev_run else []
    matches, gone = stability.match(candidates, previous, next_number=store.max_cluster_number(con), params=params)
    by_key = {c.key: c for c in candidates}

    # Optional LLM names: reuse a matched cluster's earlier LLM name, so names stay put and calls stay few.
    llm_names: dict[int, labels.LLMName] = {}
    if settings.llm_model and params.llm_name_top:
        for m in [m for m in matches if m.key >= 0][: params.llm_name_top]:
            p = m.previous
            if p is not None and p.naming_model and p.name:
                llm_names[m.key] = labels.LLMName(p.name, p.description or "", p.naming_prompt or "", p.naming_model)
                continue
            row = cluster_rows[m.key]
            got = labels.llm_name(
                size=by_key[m.key].size, terms=row["terms"],
                examples=[failing.feature_text(t) for t in row["reps"]],
                model=settings.llm_model, api_base=settings.llm_api_base, completion_kwargs=llm_kwargs,
            )
            if got is not None:
                llm_names[m.key] = got
        missing = min(params.llm_name_top, sum(1 for m in matches if m.key >= 0)) - len(llm_names)
        if missing > 0:
            notes.append(f"the LLM ({settings.llm_model}) did not name {missing} cluster(s); term labels kept")

    clusters_out: list[dict[str, Any]] = []
    summaries: list[ClusterSummary] = []
    id_of: dict[int, str] = {}
    for m in matches:
        cand, row, p = by_key[m.key], cluster_rows[m.key], m.previous
        id_of[m.key] = m.cluster_id
        label = labels.label_text(row["terms"]) if m.key >= 0 else "unclustered: " + labels.label_text(row["terms"])
        named = llm_names.get(m.key)
        first = min([x for x in (row["first"], p.first_seen if p else None) if x is not None], default=None)
        last = max([x for x in (row["last"], p.last_seen if p else None) if x is not None], default=None)
        rep_ids = [failing.trace_ids[t] for t in row["reps"]]
        clusters_out.append({
            "run_id": run_id, "cluster_id": m.cluster_id, "label": label,
            "name": named.name if named else label, "description": named.description if named else None,
            "size": cand.size, "status": m.status, "previous_size": p.size if p else None,
            "daily_rate": cand.daily_rate, "previous_daily_rate": p.daily_rate if p else None,
            "first_seen": first, "last_seen": last, "signal_kinds": row["kinds"], "label_terms": row["terms"],
            "centroid": cand.centroid, "representative_trace_ids": rep_ids,
            "matched_previous_id": p.cluster_id if p else None, "match_score": m.score,
            "naming_model": named.model if named else None, "naming_prompt": named.prompt if named else None,
            "config_hash": run_row["config_hash"], "schema_version": SCHEMA_VERSION,
        })
    for p in gone:
        clusters_out.append({
            "run_id": run_id, "cluster_id": p.cluster_id, "label": p.label, "name": p.name,
            "description": p.description, "size": 0, "status": "gone", "previous_size": p.size,
            "daily_rate": 0.0, "previous_daily_rate": p.daily_rate, "first_seen": p.first_seen,
            "last_seen": p.last_seen, "signal_kinds": p.signal_kinds, "label_terms": p.label_terms,
            "centroid": p.centroid, "representative_trace_ids": [], "matched_previous_id": p.cluster_id,
            "match_score": None, "naming_model": p.naming_model, "naming_prompt": p.naming_prompt,
            "config_hash": run_row["config_hash"], "schema_version": SCHEMA_VERSION,
        })
    for c in clusters_out:
        summaries.append(ClusterSummary(
            cluster_id=c["cluster_id"], size=c["size"], status=c["status"], label=c["label"] or "",
            name=c["name"] or c["label"] or "", description=c["description"],
            representative_trace_ids=tuple(c["representative_trace_ids"]), signal_kinds=tuple(c["signal_kinds"]),
            daily_rate=c["daily_rate"], previous_daily_rate=c["previous_daily_rate"],
            previous_size=c["previous_size"], first_seen=c["first_seen"], last_seen=c["last_seen"],
        ))

    report("writing", 0.0)
    cids = np.array([id_of[int(k)] for k in member_cluster], dtype=object) if n else np.array([], dtype=object)
    members = pa.table({
        "cluster_id": pa.array(cids.tolist(), pa.string()),
        "trace_id": pa.array(failing.trace_ids, pa.string()),
        "is_representative": pa.array([i in rep_rank for i in range(n)], pa.bool_()),
        "representative_rank": pa.array([rep_rank.get(i) for i in range(n)], pa.int32()),
        "distance": pa.array(np.round(distance, 6).tolist(), pa.float64()),
        "signal_kinds": pa.array(failing.kinds, pa.list_(pa.string())),
        "feature_text": pa.array([failing.feature_text(i, 300) for i in range(n)], pa.string()),
        "start_time": pa.array(failing.start_times, pa.timestamp("us", tz="UTC")),
    })
    daily = [(id_of[key], day, cnt) for key, row in cluster_rows.items() for day, cnt in sorted(row["daily"].items())]
    n_live = sum(1 for m in matches if m.key >= 0)
    n_noise = by_key[-1].size if -1 in by_key else 0
    run_row.update({
        "status": "completed", "finished_at": utcnow(), "previous_run_id": prev_run,
        "n_traces_scanned": n_scanned, "n_failing_traces": n, "n_signals": n_signals,
        "n_clusters": n_live, "n_unclustered": n_noise, "message": "; ".join(notes) or None,
    })
    store.write_run(con, run_row=run_row, clusters=clusters_out, members=members, daily=daily)
    report("writing", 1.0)
    return MiningResult(
        run_id=run_id, since=start, until=end, n_traces_scanned=n_scanned,  # type: ignore[arg-type]
        n_failing_traces=n, n_signals=n_signals, signals_by_kind=by_kind, clusters=tuple(summaries),
        previous_run_id=prev_run, notes=tuple(notes),
    )

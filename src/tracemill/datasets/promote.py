"""Promotion policies: turn production traces into dataset examples, never promoting a near-duplicate twice.

- ``promote_from_clusters``: the latest completed mining run; k representatives per failure cluster plus a
  stratum of successes (traces with no failure signal), round-robin across strata within an overall budget.
- ``promote_from_query``: the user's own read-only SELECT returning ``trace_id`` (and optionally
  ``reference_output``, ``reference_trajectory``, ``split``, ``metadata``).
- ``promote_from_feedback``: a human correction (feedback.correction) becomes the reference output.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import duckdb
from pydantic import ValidationError

from tracemill.datasets.dedup import THRESHOLD, DuplicateIndex
from tracemill.datasets.example import Example, ToolCallRef
from tracemill.datasets.from_traces import build_examples, example_id_for_trace
from tracemill.datasets.store import WriteResult, _read_rows, first_row, head_version, write_version
from tracemill.datasets.versions import check_name
from tracemill.errors import ConfigError, ConflictError, DataError, NotFoundError
from tracemill.lineage import utcnow
from tracemill.warehouse import query
from tracemill.warehouse.jsoncol import decode as decode_json

SUCCESS_STRATUM = "__success__"


@dataclass(frozen=True)
class Skipped:
    trace_id: str
    reason: str              # already_in_dataset | same_input | near_duplicate | no_input
    duplicate_of: str | None = None


@dataclass(frozen=True)
class PromotionResult:
    """What a promotion did; ``write`` is None when there was nothing new to write."""

    policy: str
    dataset: str
    write: WriteResult | None
    skipped: tuple[Skipped, ...] = ()
    mining_run_id: str | None = None
    per_stratum: dict[str, int] = field(default_factory=dict)

    @property
    def version(self):  # DatasetVersion | None
        return self.write.version if self.write else None

    def to_dict(self) -> dict[str, Any]:
        """A small JSON-able summary (flow return value)."""
        v = self.version
        return {
            "dataset": self.dataset,
            "policy": self.policy,
            "version": v.version if v else None,
            "ref": v.ref if v else None,
            "content_hash": v.content_hash if v else None,
            "snapshot_id": v.snapshot_id if v else None,
            "n_examples": v.n_examples if v else 0,
            "added": len(self.write.added) if self.write else 0,
            "changed": len(self.write.changed) if self.write else 0,
            "skipped_duplicates": sum(s.reason in ("same_input", "near_duplicate", "already_in_dataset") for s in self.skipped),
            "mining_run_id": self.mining_run_id,
        }

    def to_markdown(self) -> str:
        d = self.to_dict()
        lines = [f"## Promotion to `{self.dataset}` ({self.policy})", ""]
        if self.write is None or not self.write.created:
            lines.append("Nothing new to promote; no version written.")
        else:
            lines.append(
                f"New version **{d['ref']}** (hash `{d['content_hash'][:12]}`, DuckLake snapshot {d['snapshot_id']}): "
                f"{d['n_examples']} examples, +{d['added']} added, {d['changed']} changed."
            )
        if self.mining_run_id:
            lines.append(f"\nMining run: `{self.mining_run_id}`")
        if self.per_stratum:
            lines += ["", "| stratum | promoted |", "|---|---|"]
            lines += [f"| {'successes' if k == SUCCESS_STRATUM else k} | {n} |" for k, n in self.per_stratum.items()]
        reasons: dict[str, int] = {}
        for s in self.skipped:
            reasons[s.reason] = reasons.get(s.reason, 0) + 1
        if reasons:
            lines.append("\nSkipped: " + ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())))
        return "\n".join(lines) + "\n"


class _Selector:
    """Accepts examples that are not already in the dataset and not near-duplicates of accepted ones."""

    def __init__(self, existing: list[Example], threshold: float) -> None:
        self.index = DuplicateIndex(threshold=threshold)
        self.traces = {e.source_trace_id: e.example_id for e in existing if e.source_trace_id}
        for e in existing:
            self.index.add(e.example_id, e.inputs)
        self.skipped: list[Skipped] = []

    def offer(self, trace_id: str, ex: Example | None) -> bool:
        if ex is None:
            self.skipped.append(Skipped(trace_id, "no_input"))
            return False
        if trace_id in self.traces:
            self.skipped.append(Skipped(trace_id, "already_in_dataset", self.traces[trace_id]))
            return False
        dup = self.index.find(ex.inputs)
        if dup:
            self.skipped.append(Skipped(trace_id, dup[1], dup[0]))
            return False
        self.index.add(ex.example_id, ex.inputs)
        self.traces[trace_id] = ex.example_id
        return True


def _head_examples(con: duckdb.DuckDBPyConnection, dataset: str) -> list[Example]:
    head = head_version(con, dataset)
    return _read_rows(con, dataset, head) if head else []


def latest_mining_run(con: duckdb.DuckDBPyConnection) -> str:
    """run_id of the latest completed mining run (NotFoundError if there is none)."""
    try:
        row = first_row(con, query("datasets/latest_mining_run"))
    except duckdb.CatalogException:
        row = None
    if not row:
        raise NotFoundError(
            "no completed mining run to promote from",
            fix="run `tracemill mine` first, or promote with --policy query / feedback",
        )
    return row[0]


def promote_from_clusters(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    *,
    k_per_cluster: int = 3,
    budget: int = 50,
    author: str = "tracemill",
    run_id: str | None = None,
    include_successes: bool = True,
    threshold: float = THRESHOLD,
) -> PromotionResult:
    """Promote representatives of each failure cluster of the latest (or given) mining run, so that no
    cluster holds more than ``k_per_cluster`` examples in the dataset, plus up to ``k_per_cluster`` successes,
    round-robin across strata until ``budget`` new examples.

    Strata order: successes first (so they always stay in the set), then clusters by size, best representatives
    first within a cluster. Exact/near duplicates and traces already in the set are skipped, not counted.
    """
    check_name(dataset)
    if k_per_cluster < 1 or budget < 1:
        raise ConfigError("k_per_cluster and budget must be at least 1", value=(k_per_cluster, budget))
    run = run_id or latest_mining_run(con)
    try:
        members = con.execute(query("datasets/cluster_candidates"), [run]).fetchall()
        kinds = {t: list(k) for t, k in con.execute(query("datasets/failure_kinds"), [run]).fetchall()}
        successes = (
            [r[0] for r in con.execute(query("datasets/success_candidates"), [run, max(50, k_per_cluster * 10)]).fetchall()]
            if include_successes else []
        )
    except duckdb.CatalogException as exc:
        raise NotFoundError("the mining tables are missing", value=str(exc).splitlines()[0],
                            fix="run `tracemill mine` first") from None
    if not members and run_id is not None and not first_row(con, "SELECT 1 FROM mining_runs WHERE run_id = ?", [run_id]):
        runs = [r[0] for r in con.execute("SELECT run_id FROM mining_runs ORDER BY finished_at DESC LIMIT 10").fetchall()]
        raise NotFoundError(f"no mining run {run_id!r}", value=run_id, fix=f"recent runs: {runs or '(none)'}")
    strata: dict[str, list[str]] = {}
    clusters: dict[str, tuple[str, str]] = {}
    if successes:
        strata[SUCCESS_STRATUM] = successes
    for cluster_id, trace_id, cluster_name, _size in members:
        strata.setdefault(cluster_id, []).append(trace_id)
        clusters.setdefault(trace_id, (cluster_id, cluster_name))
    now = utcnow()
    all_ids = [t for ts in strata.values() for t in ts]
    built = build_examples(
        con, all_ids, failing=set(kinds), clusters=clusters, failure_kinds=kinds, mining_run_id=run,
        promoted_by=author, promoted_at=now,
    )
    existing = _head_examples(con, dataset)
    selector = _Selector(existing, threshold)
    chosen: list[Example] = []
    # k caps each cluster in the dataset as a whole (cluster ids are stable across runs), so nightly runs
    # only top up clusters below k and add new ones; successes get up to k fresh examples per promotion.
    in_set = Counter(e.cluster_id for e in existing if e.cluster_id)
    taken = {s: (0 if s == SUCCESS_STRATUM else in_set.get(s, 0)) for s in strata}
    start = dict(taken)
    pos = {s: 0 for s in strata}
    while len(chosen) < budget:
        progressed = False
        for s, traces in strata.items():
            if len(chosen) >= budget:
                break
            # advance this stratum to its next acceptable candidate (duplicates are consumed, not counted)
            while taken[s] < k_per_cluster and pos[s] < len(traces):
                t = traces[pos[s]]
                pos[s] += 1
                progressed = True
                if selector.offer(t, built.get(t)):
                    chosen.append(built[t])
                    taken[s] += 1
                    break
        if not progressed:
            break
    write = None
    if chosen:
        write = write_version(
            con, dataset, upserts=chosen, author=author, source="promote:clusters",
            message=f"promote {len(chosen)} from mining run {run} (k={k_per_cluster}, budget={budget})",
            config={"policy": "clusters", "k": k_per_cluster, "budget": budget, "run_id": run, "threshold": threshold},
        )
    return PromotionResult("clusters", dataset, write, tuple(selector.skipped), run,
                           {s: taken[s] - start[s] for s in strata if taken[s] > start[s]})


def _check_select(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise ConfigError("the promotion query does not parse", value=sql, fix=str(exc).splitlines()[0]) from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise ConfigError(
            "the promotion query must be exactly one SELECT statement",
            value=sql,
            fix="write a single SELECT (or WITH … SELECT) returning a trace_id column",
        )


def promote_from_query(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    sql: str,
    *,
    author: str = "tracemill",
    budget: int | None = None,
    threshold: float = THRESHOLD,
) -> PromotionResult:
    """Promote the traces a user's SELECT returns (run as given, read-only, in a rolled-back transaction).

    Optional result columns override the defaults built from the trace: ``reference_output`` (JSON or text),
    ``reference_trajectory`` (JSON list of {name, arguments}), ``split``, ``metadata`` (JSON object).
    """
    check_name(dataset)
    _check_select(con, sql)
    con.execute("BEGIN TRANSACTION")
    try:
        rel = con.execute(sql)
        columns = [d[0] for d in rel.description]
        rows = rel.fetchall()
    except duckdb.Error as exc:
        raise ConfigError("the promotion query failed", value=sql, fix=str(exc).splitlines()[0]) from None
    finally:
        con.execute("ROLLBACK")
    if "trace_id" not in columns:
        raise ConfigError("the promotion query must return a trace_id column", value=columns)
    records = [dict(zip(columns, r, strict=True)) for r in rows]
    if budget is not None:
        records = records[:budget]
    now = utcnow()
    ids = [str(r["trace_id"]) for r in records]
    built = build_examples(con, ids, promoted_by=author, promoted_at=now)
    selector = _Selector(_head_examples(con, dataset), threshold)
    chosen: list[Example] = []
    errors: list[str] = []
    for i, rec in enumerate(records, start=1):
        t = str(rec["trace_id"])
        ex = built.get(t)
        if ex is not None:
            update: dict[str, Any] = {}
            try:
                if rec.get("reference_output") is not None:
                    update["reference_output"] = decode_json(rec["reference_output"])
                if rec.get("reference_trajectory") is not None:
                    traj = decode_json(rec["reference_trajectory"])
                    update["reference_trajectory"] = [ToolCallRef.model_validate(c) for c in traj]
                if rec.get("split") is not None:
                    update["split"] = str(rec["split"])
                if rec.get("metadata") is not None:
                    meta = decode_json(rec["metadata"])
                    if not isinstance(meta, dict):
                        raise TypeError("metadata must be a JSON object")
                    update["metadata"] = {**ex.metadata, **meta}
            except (ValidationError, TypeError) as exc:
                errors.append(f"row {i} (trace {t}): {str(exc).splitlines()[0]}")
                continue
            ex = Example.model_validate({**ex.model_dump(), **update, "metadata": update.get("metadata", ex.metadata)})
        if selector.offer(t, ex):
            chosen.append(ex)
    if errors:
        raise DataError(f"{len(errors)} query rows are invalid; nothing was written", value=errors[:20],
                        fix="fix the reference columns your query returns")
    write = None
    if chosen:
        write = write_version(
            con, dataset, upserts=chosen, author=author, source="promote:query",
            message=f"promote {len(chosen)} from query", config={"policy": "query", "sql": sql},
        )
    return PromotionResult("query", dataset, write, tuple(selector.skipped))


def promote_from_feedback(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    *,
    author: str = "tracemill",
    budget: int | None = None,
    threshold: float = THRESHOLD,
) -> PromotionResult:
    """Each trace's latest human correction becomes its example's reference output.

    A trace already in the dataset gets its example updated (a *changed* example in the next version);
    new traces are added unless they near-duplicate an existing example.
    """
    check_name(dataset)
    rows = con.execute(query("datasets/feedback_corrections")).fetchall()
    if budget is not None:
        rows = rows[:budget]
    existing = _head_examples(con, dataset)
    by_trace = {e.source_trace_id: e for e in existing if e.source_trace_id}
    now = utcnow()
    built = build_examples(con, [r[1] for r in rows if r[1] not in by_trace], promoted_by=author, promoted_at=now)
    selector = _Selector(existing, threshold)
    chosen: list[Example] = []
    for feedback_id, trace_id, correction, fb_author, comment, key, _created in rows:
        ref = decode_json(correction)
        extra = {"corrected_by": fb_author, "correction_feedback_id": feedback_id}
        if trace_id in by_trace:
            old = by_trace[trace_id]
            if old.reference_output == ref:
                continue
            chosen.append(old.model_copy(update={"reference_output": ref, "metadata": {**old.metadata, **extra}}))
            continue
        ex = built.get(trace_id)
        if ex is not None:
            ex = ex.model_copy(update={"reference_output": ref, "metadata": {**ex.metadata, **extra}})
        if selector.offer(trace_id, ex):
            chosen.append(ex)
    write = None
    if chosen:
        write = write_version(
            con, dataset, upserts=chosen, author=author, source="promote:feedback",
            message=f"promote {len(chosen)} human corrections", config={"policy": "feedback"},
        )
    return PromotionResult("feedback", dataset, write, tuple(selector.skipped))


POLICIES = ("clusters", "query", "feedback")


def promote(
    settings: Any,
    dataset: str,
    *,
    policy: str = "clusters",
    k_per_cluster: int = 3,
    budget: int = 50,
    query_sql: str | None = None,
    author: str = "tracemill",
    attempts: int = 3,
) -> PromotionResult:
    """Open the warehouse and run one promotion policy; a lost commit race is retried ``attempts`` times
    (each retry recomputes against the new head), then surfaces as ConflictError."""
    from tracemill.warehouse import connect

    if policy not in POLICIES:
        raise ConfigError("unknown promotion policy", value=policy, fix=f"use one of {', '.join(POLICIES)}")
    if policy == "query" and not query_sql:
        raise ConfigError("the query policy needs a SELECT", fix="pass --query 'SELECT trace_id FROM traces WHERE …'")
    con = connect(settings)
    try:
        for attempt in range(attempts):
            try:
                if policy == "clusters":
                    return promote_from_clusters(con, dataset, k_per_cluster=k_per_cluster, budget=budget, author=author)
                if policy == "query":
                    return promote_from_query(con, dataset, query_sql or "", author=author, budget=budget)
                return promote_from_feedback(con, dataset, author=author, budget=budget)
            except ConflictError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")
    finally:
        con.close()


__all__ = [
    "POLICIES",
    "PromotionResult",
    "Skipped",
    "example_id_for_trace",
    "latest_mining_run",
    "promote",
    "promote_from_clusters",
    "promote_from_feedback",
    "promote_from_query",
]

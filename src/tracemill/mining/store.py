"""Read the previous run's clusters and write a run: all rows of a run in one transaction."""

from __future__ import annotations

from datetime import datetime

import duckdb
import orjson
import pyarrow as pa

from tracemill.lineage import SCHEMA_VERSION
from tracemill.mining.stability import KnownCluster
from tracemill.warehouse import query, transaction


def previous_run(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute(query("mining/previous_run")).fetchone()
    return row[0] if row else None


def max_cluster_number(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute(query("mining/max_cluster_number")).fetchone()[0])


def load_clusters(con: duckdb.DuckDBPyConnection, run_id: str) -> list[KnownCluster]:
    """The live (not gone) clusters of a run, with their member trace ids."""
    rows = con.execute(
        """SELECT cluster_id, size, daily_rate, first_seen, last_seen, CAST(centroid AS VARCHAR), label, name,
                  description, label_terms, signal_kinds, naming_model, naming_prompt
           FROM failure_clusters WHERE run_id = ? AND status <> 'gone' ORDER BY cluster_id""",
        [run_id],
    ).fetchall()
    members: dict[str, set[str]] = {}
    for cid, tid in con.execute(
        "SELECT cluster_id, trace_id FROM cluster_members WHERE run_id = ?", [run_id]
    ).fetchall():
        members.setdefault(cid, set()).add(tid)
    return [
        KnownCluster(
            cluster_id=r[0], size=int(r[1]), daily_rate=float(r[2] or 0.0), first_seen=r[3], last_seen=r[4],
            centroid=orjson.loads(r[5]) if r[5] else {}, members=members.get(r[0], set()), label=r[6], name=r[7],
            description=r[8], label_terms=list(r[9] or []), signal_kinds=list(r[10] or []),
            naming_model=r[11], naming_prompt=r[12],
        )
        for r in rows
    ]


CLUSTER_COLUMNS = [
    "run_id", "cluster_id", "label", "name", "description", "size", "status", "previous_size", "daily_rate",
    "previous_daily_rate", "first_seen", "last_seen", "signal_kinds", "label_terms", "centroid",
    "representative_trace_ids", "matched_previous_id", "match_score", "naming_model", "naming_prompt",
    "config_hash", "schema_version",
]


def write_run(
    con: duckdb.DuckDBPyConnection,
    *,
    run_row: dict[str, object],
    clusters: list[dict[str, object]],
    members: pa.Table,
    daily: list[tuple[str, object, int]],
) -> None:
    """Insert the run, its signals (from temp ``mine_signals``), clusters, members and daily counts atomically."""
    run_id = run_row["run_id"]
    con.register("mine_members_arrow", members)
    try:
        with transaction(con, what="mining run"):
            cols = list(run_row)
            con.execute(
                f"INSERT INTO mining_runs ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                [run_row[c] for c in cols],
            )
            con.execute(
                """INSERT INTO failure_signals (run_id, trace_id, kind, evidence, config_hash, schema_version)
                   SELECT ?, trace_id, kind, evidence, ?, ? FROM mine_signals ORDER BY trace_id, kind""",
                [run_id, run_row["config_hash"], SCHEMA_VERSION],
            )
            if clusters:
                placeholders = ", ".join("?" for _ in CLUSTER_COLUMNS)
                con.executemany(
                    f"INSERT INTO failure_clusters ({', '.join(CLUSTER_COLUMNS)}) VALUES ({placeholders})",
                    [[_cell(c[k]) for k in CLUSTER_COLUMNS] for c in clusters],
                )
            con.execute(
                """INSERT INTO cluster_members (run_id, cluster_id, trace_id, is_representative, representative_rank,
                       distance, signal_kinds, feature_text, start_time, schema_version)
                   SELECT ?, cluster_id, trace_id, is_representative, representative_rank, distance, signal_kinds,
                          feature_text, start_time, ? FROM mine_members_arrow""",
                [run_id, SCHEMA_VERSION],
            )
            if daily:
                con.executemany(
                    "INSERT INTO cluster_daily_counts (run_id, cluster_id, day, n_traces, schema_version) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [[run_id, cid, day, n, SCHEMA_VERSION] for cid, day, n in daily],
                )
    finally:
        con.unregister("mine_members_arrow")


def write_failed_run(con: duckdb.DuckDBPyConnection, run_row: dict[str, object], message: str) -> None:
    """Record a failed run (nothing else of it was written)."""
    row = {**run_row, "status": "failed", "message": message[:2000]}
    cols = list(row)
    try:
        with transaction(con, what="mining run record"):
            con.execute(
                f"INSERT INTO mining_runs ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                [row[c] for c in cols],
            )
    except Exception:  # noqa: BLE001 - the original error matters more than its record
        pass


def _cell(value: object) -> object:
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    if isinstance(value, datetime) or value is None:
        return value
    return value

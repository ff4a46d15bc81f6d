"""``pipeline_runs`` and ``pipeline_stages``: what each nightly run did, stage by stage."""

from __future__ import annotations

from typing import Any

import orjson

from tracemill.lineage import SCHEMA_VERSION, config_hash
from tracemill.settings import Settings
from tracemill.warehouse import connect, retry_on_conflict, transaction, writer_lock

STAGES = ("ingest", "mine", "promote", "eval", "compare", "post")


def _dumps(v: Any) -> str:
    return orjson.dumps(v, default=str).decode()


@retry_on_conflict()
def start_run(settings: Settings, *, run_id: str, flow_run_id: str | None, deployment: str | None,
              params: dict[str, Any]) -> int:
    """Create the run, or mark an earlier attempt of it running again. Returns the attempt number."""
    con = connect(settings)
    try:
        with writer_lock(settings), transaction(con, what="pipeline bookkeeping"):
            row = con.execute("SELECT attempts FROM pipeline_runs WHERE run_id = ?", [run_id]).fetchall()
            if row:
                attempt = int(row[0][0]) + 1
                con.execute(
                    """UPDATE pipeline_runs SET status = 'running', attempts = ?, flow_run_id = ?, error = NULL,
                           failed_stage = NULL, finished_at = NULL WHERE run_id = ?""",
                    [attempt, flow_run_id, run_id],
                )
            else:
                attempt = 1
                con.execute(
                    """INSERT INTO pipeline_runs (run_id, flow_run_id, deployment, params, status, outputs, attempts,
                           started_at, config_hash, schema_version)
                       VALUES (?, ?, ?, ?, 'running', '{}', 1, now(), ?, ?)""",
                    [run_id, flow_run_id, deployment, _dumps(params), config_hash(params), SCHEMA_VERSION],
                )
        return attempt
    finally:
        con.close()


def completed_stage(settings: Settings, run_id: str, stage: str) -> dict[str, Any] | None:
    """Outputs of ``stage`` if it already completed for this run (so it is not run again)."""
    con = connect(settings, migrate=False)
    try:
        row = con.execute(
            """SELECT outputs FROM pipeline_stages WHERE run_id = ? AND stage = ? AND status = 'completed'
               ORDER BY finished_at DESC LIMIT 1""",
            [run_id, stage],
        ).fetchall()
    finally:
        con.close()
    return orjson.loads(row[0][0]) if row and row[0][0] else ({} if row else None)


@retry_on_conflict()
def start_stage(settings: Settings, *, run_id: str, stage: str, flow_run_id: str | None) -> int:
    con = connect(settings)
    try:
        with writer_lock(settings), transaction(con, what="pipeline bookkeeping"):
            n = con.execute(
                "SELECT count(*) FROM pipeline_stages WHERE run_id = ? AND stage = ?", [run_id, stage]
            ).fetchall()[0][0]
            con.execute(
                """INSERT INTO pipeline_stages (run_id, stage, attempt, status, flow_run_id, started_at, schema_version)
                   VALUES (?, ?, ?, 'running', ?, now(), ?)""",
                [run_id, stage, n + 1, flow_run_id, SCHEMA_VERSION],
            )
        return n + 1
    finally:
        con.close()


@retry_on_conflict()
def finish_stage(settings: Settings, *, run_id: str, stage: str, attempt: int, outputs: dict[str, Any] | None,
                 error: str | None = None) -> None:
    """Record how a stage ended; a completed stage's outputs are also merged into the run's outputs."""
    con = connect(settings)
    try:
        with writer_lock(settings), transaction(con, what="pipeline bookkeeping"):
            con.execute(
                """UPDATE pipeline_stages SET status = ?, outputs = ?, error = ?, finished_at = now()
                   WHERE run_id = ? AND stage = ? AND attempt = ?""",
                ["failed" if error else "completed", _dumps(outputs or {}), error, run_id, stage, attempt],
            )
            if not error:
                cur = con.execute("SELECT outputs FROM pipeline_runs WHERE run_id = ?", [run_id]).fetchall()
                merged = orjson.loads(cur[0][0]) if cur and cur[0][0] else {}
                merged[stage] = outputs or {}
                con.execute("UPDATE pipeline_runs SET outputs = ? WHERE run_id = ?", [_dumps(merged), run_id])
    finally:
        con.close()


@retry_on_conflict()
def finish_run(settings: Settings, *, run_id: str, status: str, failed_stage: str | None = None,
               error: str | None = None) -> None:
    con = connect(settings)
    try:
        with writer_lock(settings), transaction(con, what="pipeline bookkeeping"):
            con.execute(
                """UPDATE pipeline_runs SET status = ?, failed_stage = ?, error = ?, finished_at = now()
                   WHERE run_id = ?""",
                [status, failed_stage, error, run_id],
            )
    finally:
        con.close()


def previous_eval(settings: Settings, run_id: str) -> dict[str, Any] | None:
    """Outputs of the eval stage of the newest earlier run whose eval finished (the previous night).

    "Earlier" means the run started before this one; its later stages need not have finished, so
    two overlapping runs still compare the second with the first.
    """
    con = connect(settings, migrate=False)
    try:
        row = con.execute(
            """SELECT st.outputs FROM pipeline_stages st JOIN pipeline_runs r USING (run_id)
               WHERE st.stage = 'eval' AND st.status = 'completed' AND st.run_id <> ?
                 AND r.started_at < (SELECT started_at FROM pipeline_runs WHERE run_id = ?)
               ORDER BY st.finished_at DESC LIMIT 1""",
            [run_id, run_id],
        ).fetchall()
    finally:
        con.close()
    return orjson.loads(row[0][0]) if row and row[0][0] else None

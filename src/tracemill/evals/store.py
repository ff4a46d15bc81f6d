"""Experiment rows in the warehouse: create/resume, batched result writes, totals.

Results, their scores and the cache entries they paid for are written together, one transaction
per batch, so a killed run loses at most the batch in flight and never leaves a result unscored.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from tracemill.evals.cache import ResponseCache
from tracemill.lineage import SCHEMA_VERSION, utcnow
from tracemill.warehouse import query, transaction

RESUMABLE = ("running", "interrupted", "failed")

_TS = pa.timestamp("us", tz="UTC")
RESULT_SCHEMA = pa.schema([
    ("experiment_id", pa.string()), ("example_id", pa.string()), ("repetition", pa.int32()),
    ("input_hash", pa.string()), ("output", pa.string()), ("trajectory", pa.string()),
    ("latency_ms", pa.float64()), ("input_tokens", pa.int64()), ("output_tokens", pa.int64()),
    ("cost_usd", pa.float64()), ("error", pa.string()), ("attempts", pa.int32()), ("cached", pa.bool_()),
    ("started_at", _TS), ("finished_at", _TS), ("config_hash", pa.string()), ("schema_version", pa.int32()),
])
SCORE_SCHEMA = pa.schema([
    ("experiment_id", pa.string()), ("example_id", pa.string()), ("repetition", pa.int32()),
    ("key", pa.string()), ("score", pa.float64()), ("label", pa.string()), ("comment", pa.string()),
    ("metadata", pa.string()), ("evaluator", pa.string()), ("evaluator_config_hash", pa.string()),
    ("created_at", _TS), ("schema_version", pa.int32()),
])
CACHE_SCHEMA = pa.schema([
    ("config_hash", pa.string()), ("input_hash", pa.string()), ("repetition", pa.int32()), ("kind", pa.string()),
    ("response", pa.string()), ("input_tokens", pa.int64()), ("output_tokens", pa.int64()), ("cost_usd", pa.float64()),
    ("experiment_id", pa.string()), ("created_at", _TS), ("schema_version", pa.int32()),
])

EXPERIMENT_COLUMNS = [
    "experiment_id", "name", "dataset_name", "dataset_version", "dataset_hash", "dataset_ref", "dataset_snapshot_id",
    "spec", "spec_path", "target_kind", "target_config_hash", "git_sha", "repetitions", "budget_usd", "status",
    "status_message", "started_at", "finished_at", "n_examples", "n_results", "n_errors", "n_cached",
    "total_cost_usd", "total_tokens", "config_hash", "schema_version",
]


def dumps(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def find_resumable(con: duckdb.DuckDBPyConnection, config_hash: str) -> dict[str, Any] | None:
    """The latest unfinished experiment with this config hash (same spec and dataset version), if any."""
    cur = con.execute(query("evals/resumable_experiment"), [config_hash, list(RESUMABLE)])
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row, strict=True))


def create_experiment(con: duckdb.DuckDBPyConnection, row: dict[str, Any]) -> None:
    values = {c: row.get(c) for c in EXPERIMENT_COLUMNS}
    values["schema_version"] = SCHEMA_VERSION
    placeholders = ", ".join("?" for _ in EXPERIMENT_COLUMNS)
    with transaction(con, what="experiment start"):
        con.execute(f"INSERT INTO experiments ({', '.join(EXPERIMENT_COLUMNS)}) VALUES ({placeholders})",
                    list(values.values()))


def prepare_resume(con: duckdb.DuckDBPyConnection, experiment_id: str) -> set[tuple[str, int]]:
    """Drop the failed results of an experiment (they are retried) and return the finished (example, repetition) keys."""
    with transaction(con, what="resume"):
        con.execute("DELETE FROM experiment_results WHERE experiment_id = ? AND error IS NOT NULL", [experiment_id])
        con.execute("UPDATE experiments SET status = 'running', finished_at = NULL WHERE experiment_id = ?", [experiment_id])
    rows = con.execute("SELECT example_id, repetition FROM experiment_results WHERE experiment_id = ?", [experiment_id]).fetchall()
    return {(e, int(r)) for e, r in rows}


def finalize(con: duckdb.DuckDBPyConnection, experiment_id: str, status: str, message: str | None,
             n_examples: int) -> dict[str, Any]:
    """Recompute totals from the stored results and close the experiment."""
    n_results, n_errors, n_cached, cost, tokens = con.execute(query("evals/experiment_totals"), [experiment_id]).fetchone()
    with transaction(con, what="experiment finish"):
        con.execute(query("evals/finish_experiment"),
                    [status, message, utcnow(), n_examples, n_results, n_errors, n_cached, cost, tokens, experiment_id])
    return {"n_results": n_results, "n_errors": n_errors, "n_cached": n_cached, "total_cost_usd": cost, "total_tokens": tokens}


def mean_scores(con: duckdb.DuckDBPyConnection, experiment_id: str) -> dict[str, float | None]:
    rows = con.execute("SELECT key, mean_score FROM experiment_scores WHERE experiment_id = ? ORDER BY key", [experiment_id]).fetchall()
    return {k: (None if v is None else float(v)) for k, v in rows}


class ResultWriter:
    """Collects results and scores; flushes every ``batch_size`` rows or ``interval_s`` seconds.

    Writes run in a worker thread (one at a time) so the event loop keeps dispatching calls. A
    DuckLake commit costs about 0.1 s of CPU whatever its size, so the timed flushes are spaced to
    at least ``commit_spacing`` times the last write's duration: writing takes at most about a
    tenth of the run instead of competing with the calls for the CPU.
    """

    commit_spacing: float = 10.0

    def __init__(self, con: duckdb.DuckDBPyConnection, experiment_id: str, *, cache: ResponseCache | None = None,
                 batch_size: int = 50, interval_s: float = 0.5, on_flush: Callable[[int], None] | None = None) -> None:
        self.con = con
        self.experiment_id = experiment_id
        self.cache = cache
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.on_flush = on_flush
        self._results: list[dict[str, Any]] = []
        self._scores: list[dict[str, Any]] = []
        self._db_lock = threading.Lock()
        self._flushing: asyncio.Task | None = None
        self._ticker: asyncio.Task | None = None
        self._last = time.monotonic()
        self._write_s = 0.0  # wall time of the last write
        self.n_written = 0

    async def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            gap = max(self.interval_s, self.commit_spacing * self._write_s)
            if self._results and time.monotonic() - self._last >= gap:
                await self.flush()

    def add(self, result: dict[str, Any], scores: list[dict[str, Any]]) -> None:
        self._results.append(result)
        self._scores.extend(scores)
        if len(self._results) >= self.batch_size and (self._flushing is None or self._flushing.done()):
            self._flushing = asyncio.ensure_future(self.flush())

    async def flush(self) -> None:
        if not self._results:
            return
        results, scores = self._results, self._scores
        self._results, self._scores = [], []
        cache_rows = self.cache.drain() if self.cache is not None else []
        self._last = t0 = time.monotonic()
        try:
            await asyncio.to_thread(self._write, results, scores, cache_rows)
        finally:
            self._write_s = time.monotonic() - t0

    def _write(self, results: list[dict], scores: list[dict], cache_rows: list[dict]) -> None:
        now = utcnow()
        for c in cache_rows:
            c.update(experiment_id=self.experiment_id, created_at=now, schema_version=SCHEMA_VERSION)
        with self._db_lock:
            con = self.con
            res_tbl = pa.Table.from_pylist(results, schema=RESULT_SCHEMA)  # noqa: F841 (read by DuckDB)
            score_tbl = pa.Table.from_pylist(scores, schema=SCORE_SCHEMA)  # noqa: F841
            cache_tbl = pa.Table.from_pylist(cache_rows, schema=CACHE_SCHEMA)  # noqa: F841
            with transaction(con, what="result batch"):
                con.register("_tm_results", res_tbl)
                con.register("_tm_scores", score_tbl)
                con.register("_tm_cache", cache_tbl)
                try:
                    con.execute(query("evals/insert_results"))
                    if scores:
                        con.execute("INSERT INTO eval_scores SELECT * FROM _tm_scores")
                    if cache_rows:
                        con.execute(query("evals/insert_cache"))
                finally:
                    for name in ("_tm_results", "_tm_scores", "_tm_cache"):
                        con.unregister(name)
        self.n_written += len(results)
        if self.on_flush:
            self.on_flush(len(results))

    async def close(self) -> None:
        """Stop the ticker and write everything still pending."""
        if self._ticker:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
        if self._flushing is not None:
            await asyncio.shield(self._flushing)
        while self._results:
            await self.flush()
        if self.cache is not None:
            leftover = self.cache.drain()
            if leftover:
                await asyncio.to_thread(self._write_cache_only, leftover)

    def _write_cache_only(self, cache_rows: list[dict]) -> None:
        now = utcnow()
        for c in cache_rows:
            c.update(experiment_id=self.experiment_id, created_at=now, schema_version=SCHEMA_VERSION)
        with self._db_lock:
            tbl = pa.Table.from_pylist(cache_rows, schema=CACHE_SCHEMA)  # noqa: F841
            with transaction(self.con, what="cache write"):
                self.con.register("_tm_cache", tbl)
                try:
                    self.con.execute(query("evals/insert_cache"))
                finally:
                    self.con.unregister("_tm_cache")

"""Open the DuckLake warehouse: signed extensions, the catalog attached as ``lake``, schema migrated."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
import time
from pathlib import Path

import duckdb

from tracemill.errors import ConfigError, ConflictError
from tracemill.settings import Settings, get_settings
from tracemill.warehouse import extensions
from tracemill.warehouse.migrations import migrate as apply_migrations

CATALOG = "lake"


def _needed_extensions(settings: Settings) -> list[str]:
    uri = settings.catalog_uri
    names = ["ducklake"]
    if uri.startswith("ducklake:sqlite:"):
        names.insert(0, "sqlite_scanner")
    elif uri.startswith(("ducklake:postgres:", "ducklake:postgresql:")):
        names.insert(0, "postgres_scanner")
    if settings.resolved_data_path.startswith(("s3://", "gs://", "gcs://", "r2://", "http://", "https://", "az://")):
        names.insert(0, "httpfs")
    return names


def attach_sql(settings: Settings | None = None) -> str:
    """The SQL an analyst runs in the DuckDB CLI to attach this warehouse (after LOADing)."""
    s = settings or get_settings()
    return f"ATTACH '{s.catalog_uri}' AS {CATALOG} (DATA_PATH '{s.resolved_data_path}'); USE {CATALOG};"


def connect(settings: Settings | None = None, *, migrate: bool = True) -> duckdb.DuckDBPyConnection:
    """A new connection with the lake attached and selected (``USE lake``).

    Set ``migrate=False`` for pure readers that must not write the catalog.
    """
    s = settings or get_settings()
    if s.is_embedded:
        s.root.mkdir(parents=True, exist_ok=True)
        (s.root / "data").mkdir(exist_ok=True)
    con = extensions.connect_plain(threads=2, memory_limit=s.duckdb_memory_limit)
    con.execute("SET enable_progress_bar = false")
    extensions.load(con, *_needed_extensions(s))
    try:
        for attempt in range(8):
            try:
                con.execute(f"ATTACH '{s.catalog_uri}' AS {CATALOG} (DATA_PATH '{s.resolved_data_path}')")
                break
            except duckdb.Error as exc:
                # A writer in another process is committing: the SQLite catalog is busy for a moment.
                if "database is locked" not in str(exc) or attempt == 7:
                    raise
                time.sleep(0.05 * 2**attempt)
    except duckdb.Error as exc:
        con.close()
        raise ConfigError(
            "could not open the warehouse catalog",
            value=s.catalog_uri,
            fix="check TRACEMILL_WAREHOUSE (a folder, or a ducklake:… catalog URI) and TRACEMILL_DATA_PATH; "
            f"DuckDB said: {exc}",
        ) from exc
    con.execute(f"USE {CATALOG}")
    if migrate:
        apply_migrations(con)
    return con


def is_conflict(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "conflict" in text or "database is locked" in text or "busy" in text


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection, *, what: str = "write") -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN … COMMIT; roll back on any error. A lost commit race becomes a ConflictError."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException as exc:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass
        if isinstance(exc, duckdb.Error) and "database is locked" in str(exc):
            raise ConflictError(
                f"the SQLite catalog was locked by another connection during this {what}; nothing was written",
                value=str(exc)[:200],
                fix="a reader with an unfinished result (e.g. fetchone() without fetchall()) holds the lock: "
                "finish or close it, then run again",
            ) from exc
        if isinstance(exc, duckdb.Error) and is_conflict(exc):
            raise ConflictError(
                f"another writer changed the warehouse during this {what}; nothing was written",
                value=str(exc)[:200],
                fix="run it again (tracemill writers are idempotent)",
            ) from exc
        raise


def retry_on_conflict(attempts: int = 8, first_wait: float = 0.1):
    """Decorator: re-run a self-contained write (one that opens its own connection and commits once)
    when its commit lost to another writer or to a reader holding the SQLite catalog for a moment.
    Safe because a failed commit wrote nothing."""
    import functools
    import random
    import time

    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            for attempt in range(attempts):
                try:
                    return fn(*args, **kwargs)
                except ConflictError:
                    if attempt == attempts - 1:
                        raise
                    time.sleep(first_wait * 2**attempt * (0.5 + random.random()))
            raise AssertionError("unreachable")

        return run

    return wrap


def snapshot_id(con: duckdb.DuckDBPyConnection) -> int:
    """The lake's current snapshot id (DuckLake time travel: ``FROM t AT (VERSION => id)``)."""
    row = con.execute(f"SELECT id FROM {CATALOG}.current_snapshot()").fetchone()
    return int(row[0]) if row else 0


def data_dir(settings: Settings | None = None) -> Path:
    s = settings or get_settings()
    return Path(s.resolved_data_path)


@contextmanager
def writer_lock(settings: Settings | None = None, *, what: str = "write") -> Iterator[None]:
    """One writer at a time on the embedded warehouse: later writers wait (queue), readers never do.

    Remote catalogs (Postgres) rely on DuckLake's own conflict detection and, in Prefect, on the
    global concurrency limit around warehouse writes.
    """
    s = settings or get_settings()
    if not s.is_embedded:
        yield
        return
    import fcntl

    key = str(s.root)
    depth = _held.setdefault(key, 0)
    if depth:  # re-entrant within a process: flock on a second descriptor would deadlock
        _held[key] = depth + 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    s.root.mkdir(parents=True, exist_ok=True)
    with open(s.root / ".writer.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        _held[key] = 1
        try:
            yield
        finally:
            _held[key] = 0
            fcntl.flock(fh, fcntl.LOCK_UN)


_held: dict[str, int] = {}

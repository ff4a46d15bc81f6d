"""Load parsed records into the warehouse: batched, validated, de-duplicated, transactional.

Each file (or API page) is written in one transaction together with its ``ingest_files`` row (or
the load's cursor), so a killed load leaves nothing half-visible and the next run completes it.
Re-ingesting the same input adds nothing; late spans rebuild their trace's rollup.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from tracemill.errors import ConflictError, DataError
from tracemill.ingest import sources as sources_mod
from tracemill.ingest.cost import CostModel, load_prices
from tracemill.ingest.formats import FormatOptions, Source, detect, get
from tracemill.ingest.records import Feedback, Item, Rejected, Span, ToolCall
from tracemill.ingest.validation import validate_spans
from tracemill.lineage import SCHEMA_VERSION, config_hash, new_id, utcnow
from tracemill.settings import Settings, get_settings
from tracemill.warehouse import connect, query, transaction, writer_lock

QUARANTINE_RAW_LIMIT = 64 * 1024


@dataclass
class LoadSummary:
    """What one load did. ``failed_validations`` names each failed expectation."""

    load_id: str
    source: str
    format: str | None = None
    status: str = "running"
    files_seen: int = 0
    files_skipped: int = 0
    records_seen: int = 0
    spans_ingested: int = 0
    traces_touched: int = 0
    tool_calls: int = 0
    feedback: int = 0
    quarantined: int = 0
    duplicates: int = 0
    failed_validations: list[str] = field(default_factory=list)
    unknown_cost_models: list[str] = field(default_factory=list)
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FileRecord:
    path: str
    content_sha256: str
    size_bytes: int | None
    format: str


def _json(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "backslashreplace")
    if isinstance(value, str):
        # Keep a JSON string as given when it parses; otherwise store it as a JSON string value.
        try:
            orjson.loads(value)
            return value
        except orjson.JSONDecodeError:
            return orjson.dumps(value).decode()
    return orjson.dumps(value, default=str).decode()


_TS = pa.timestamp("ns", tz="UTC")


def _ts(values: list[int | None]) -> pa.Array:
    return pa.array(values, pa.int64()).cast(_TS)


def _freeze(s: Span) -> None:
    """Serialise a span's JSON fields now: a parsed dict costs ~10x its JSON text in memory."""
    s.raw = _json(s.raw)
    s.attributes = _json(s.attributes)  # type: ignore[assignment]
    s.input_messages = _json(s.input_messages)  # type: ignore[assignment]
    s.output_messages = _json(s.output_messages)  # type: ignore[assignment]
    s.tool_arguments = _json(s.tool_arguments)


def _spans_table(spans: list[Span], load_id: str, chash: str, source_file: str | None, costs: CostModel) -> pa.Table:
    for s in spans:
        if s.cost_usd is None and s.kind == "llm" and (s.input_tokens is not None or s.output_tokens is not None):
            s.cost_usd = costs.cost(s.model, s.provider, s.input_tokens, s.output_tokens)
    start = [s.start_ns for s in spans]
    end = [s.end_ns for s in spans]
    cols: dict[str, pa.Array | list] = {
        "trace_id": [s.trace_id for s in spans],
        "span_id": [s.span_id for s in spans],
        "parent_span_id": [s.parent_span_id or None for s in spans],
        "name": [s.name for s in spans],
        "kind": [s.kind for s in spans],
        "start_ns": pa.array(start, pa.int64()),
        "end_ns": pa.array(end, pa.int64()),
        "start_time": _ts(start),
        "end_time": _ts(end),
        "duration_ms": [(e - b) / 1e6 if b is not None and e is not None else None for b, e in zip(start, end)],
        "status_code": [s.status_code for s in spans],
        "status_message": [s.status_message for s in spans],
        "model": [s.model for s in spans],
        "provider": [s.provider for s in spans],
        "input_tokens": pa.array([s.input_tokens for s in spans], pa.int64()),
        "output_tokens": pa.array([s.output_tokens for s in spans], pa.int64()),
        "total_tokens": pa.array([s.total_tokens for s in spans], pa.int64()),
        "cost_usd": pa.array([s.cost_usd for s in spans], pa.float64()),
        "input_text": [s.input_text for s in spans],
        "output_text": [s.output_text for s in spans],
        "input_messages": [s.input_messages for s in spans],
        "output_messages": [s.output_messages for s in spans],
        "tool_name": [s.tool_name for s in spans],
        "tool_call_id": [s.tool_call_id for s in spans],
        "tool_arguments": [s.tool_arguments for s in spans],
        "tool_result": [s.tool_result for s in spans],
        "user_id": [s.user_id for s in spans],
        "session_id": [s.session_id for s in spans],
        "tags": pa.array([s.tags for s in spans], pa.list_(pa.string())),
        "environment": [s.environment for s in spans],
        "app_version": [s.app_version for s in spans],
        "service_name": [s.service_name for s in spans],
        "attributes": [s.attributes for s in spans],
        "raw": [s.raw for s in spans],
        "source": [s.source for s in spans],
    }
    n = len(spans)
    cols["source_file"] = pa.array([source_file] * n, pa.string())
    cols["load_id"] = pa.array([load_id] * n, pa.string())
    cols["config_hash"] = pa.array([chash] * n, pa.string())
    cols["schema_version"] = pa.array([SCHEMA_VERSION] * n, pa.int32())
    return pa.table({k: (v if isinstance(v, pa.Array) else pa.array(v)) for k, v in cols.items()})


def _tool_calls_table(calls: list[ToolCall], load_id: str) -> pa.Table:
    return pa.table({
        "trace_id": pa.array([c.trace_id for c in calls], pa.string()),
        "call_id": pa.array([c.call_id for c in calls], pa.string()),
        "span_id": pa.array([c.span_id for c in calls], pa.string()),
        "seq": pa.array([c.seq for c in calls], pa.int32()),
        "tool_name": pa.array([c.tool_name for c in calls], pa.string()),
        "arguments": pa.array([_json(c.arguments) for c in calls], pa.string()),
        "result": pa.array([c.result for c in calls], pa.string()),
        "status": pa.array([c.status for c in calls], pa.string()),
        "error_message": pa.array([c.error_message for c in calls], pa.string()),
        "start_time": _ts([c.start_ns for c in calls]),
        "duration_ms": pa.array([c.duration_ms for c in calls], pa.float64()),
        "source": pa.array([c.source for c in calls], pa.string()),
        "load_id": pa.array([load_id] * len(calls), pa.string()),
        "schema_version": pa.array([SCHEMA_VERSION] * len(calls), pa.int32()),
    })


def _feedback_table(items: list[Feedback], load_id: str) -> pa.Table:
    return pa.table({
        "feedback_id": pa.array([f.resolved_id() for f in items], pa.string()),
        "trace_id": pa.array([f.trace_id for f in items], pa.string()),
        "span_id": pa.array([f.span_id for f in items], pa.string()),
        "key": pa.array([f.key for f in items], pa.string()),
        "score": pa.array([f.score for f in items], pa.float64()),
        "label": pa.array([f.label for f in items], pa.string()),
        "comment": pa.array([f.comment for f in items], pa.string()),
        "correction": pa.array([_json(f.correction) for f in items], pa.string()),
        "source": pa.array([f.source for f in items], pa.string()),
        "author": pa.array([f.author for f in items], pa.string()),
        "created_at": _ts([f.created_ns for f in items]),
        "raw": pa.array([_json(f.raw) for f in items], pa.string()),
        "load_id": pa.array([load_id] * len(items), pa.string()),
        "schema_version": pa.array([SCHEMA_VERSION] * len(items), pa.int32()),
    })


def _raw_text(raw: Any) -> tuple[str | None, int | None]:
    if raw is None:
        return None, None
    if isinstance(raw, (bytes, bytearray)):
        n = len(raw)
        text = bytes(raw[:QUARANTINE_RAW_LIMIT]).decode("utf-8", "backslashreplace")
    elif isinstance(raw, str):
        n = len(raw.encode("utf-8", "surrogatepass"))
        text = raw[:QUARANTINE_RAW_LIMIT]
    else:
        text = orjson.dumps(raw, default=str).decode()
        n = len(text)
        text = text[:QUARANTINE_RAW_LIMIT]
    return text, n


class Load:
    """One running load. ``commit_batch`` writes a group of records in one transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection, settings: Settings, summary: LoadSummary, chash: str) -> None:
        self.con = con
        self.settings = settings
        self.summary = summary
        self.config_hash = chash
        self.costs = CostModel(load_prices(settings.prices_file))
        self._touched: set[str] = set()

    def reconnect(self) -> None:
        """Replace the connection (after a failed commit, which can leave the catalog locked)."""
        try:
            self.con.close()
        except duckdb.Error:
            pass
        self.con = connect(self.settings)

    # -- quarantine -------------------------------------------------------------------------
    def _quarantine(self, rows: list[tuple[str, str, str | None, Any, dict | None]], source: str) -> None:
        """rows: (reason, detail, line_no, raw, validation)."""
        if not rows:
            return
        now = utcnow()
        data = []
        for reason, detail, line_no, raw, validation in rows:
            text, nbytes = _raw_text(raw)
            data.append((new_id("q"), self.summary.load_id, source, line_no, reason, detail, text, nbytes,
                         _json(validation), now, SCHEMA_VERSION))
        self.con.executemany(
            "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", data
        )
        self.summary.quarantined += len(rows)

    # -- one chunk ------------------------------------------------------------------------------
    def _existing_keys(self, trace_ids: set[str], table: str, key: str) -> set[tuple[str, str]]:
        """(trace_id, key) pairs already stored for these traces (only the key columns are scanned)."""
        self.con.register("_tids", pa.table({"trace_id": pa.array(list(trace_ids), pa.string())}))
        try:
            rows = self.con.execute(query(f"ingest/existing_{table}_keys")).fetchall()
        finally:
            self.con.unregister("_tids")
        return {(t, k) for t, k in rows}

    # -- one chunk ------------------------------------------------------------------------------
    def _write_chunk(self, spans: list[Span], calls: list[ToolCall], fbs: list[Feedback], source_file: str | None) -> None:
        con = self.con
        load_id = self.summary.load_id
        if spans:
            existing = self._existing_keys({sp.trace_id for sp in spans}, "span", "span_id")
            fresh: dict[tuple[str, str], Span] = {}
            for sp in spans:
                k = (sp.trace_id, sp.span_id)
                if k not in existing and k not in fresh:
                    fresh[k] = sp
            self.summary.duplicates += len(spans) - len(fresh)
            if fresh:
                keys = existing | fresh.keys()
                orphan = [
                    sp.parent_span_id is not None and (sp.trace_id, sp.parent_span_id) not in keys
                    for sp in fresh.values()
                ]
                tbl = _spans_table(list(fresh.values()), load_id, self.config_hash, source_file, self.costs)
                tbl = tbl.append_column("is_orphan", pa.array(orphan, pa.bool_()))
                # What the GX suite checks: a parent exists in the trace, or the span is flagged orphan.
                parent_ok = [
                    sp.parent_span_id is None or (sp.trace_id, sp.parent_span_id) in keys or o
                    for sp, o in zip(fresh.values(), orphan)
                ]
                outcome = validate_spans(tbl.append_column("parent_ok", pa.array(parent_ok, pa.bool_())))
                if not outcome.success:
                    # The whole batch goes to quarantine with the validation result; nothing of it is written.
                    self.summary.failed_validations.extend(outcome.failed)
                    detail = "batch failed validation: " + "; ".join(outcome.failed)
                    rows = [("validation_failed", detail, None, sp.raw, outcome.result) for sp in spans]
                    rows += [("validation_failed", detail, None, asdict(c), None) for c in calls]
                    rows += [("validation_failed", detail, None, asdict(f), None) for f in fbs]
                    self._quarantine(rows, source_file or self.summary.source)
                    return
                con.register("_b", tbl)
                try:
                    con.execute("INSERT INTO spans BY NAME SELECT * EXCLUDE (start_ns, end_ns) FROM _b")
                finally:
                    con.unregister("_b")
                self.summary.spans_ingested += len(fresh)
                self._touched.update(t for t, _ in fresh)
        if calls:
            tbl = _tool_calls_table(calls, load_id)
            con.register("_c", tbl)
            try:
                n = con.execute(
                    """INSERT INTO tool_calls BY NAME
                       SELECT c.* FROM (SELECT * FROM _c QUALIFY row_number() OVER (PARTITION BY trace_id, call_id) = 1) c
                       ANTI JOIN (SELECT trace_id, call_id FROM tool_calls
                                  WHERE trace_id IN (SELECT DISTINCT trace_id FROM _c)) t USING (trace_id, call_id)"""
                ).fetchone()[0]
            finally:
                con.unregister("_c")
            self.summary.tool_calls += n
            self._touched.update(tbl.column("trace_id").to_pylist())
        if fbs:
            tbl = _feedback_table(fbs, load_id)
            con.register("_f", tbl)
            try:
                n = con.execute(
                    """INSERT INTO feedback BY NAME
                       SELECT f.* FROM (SELECT * FROM _f QUALIFY row_number() OVER (PARTITION BY feedback_id) = 1) f
                       ANTI JOIN (SELECT feedback_id FROM feedback
                                  WHERE trace_id IN (SELECT DISTINCT trace_id FROM _f)) x USING (feedback_id)"""
                ).fetchone()[0]
            finally:
                con.unregister("_f")
            self.summary.feedback += n
            self._touched.update(tbl.column("trace_id").to_pylist())

    def _rollup(self) -> None:
        if not self._touched:
            return
        con = self.con
        con.register("_t", pa.table({"trace_id": pa.array(sorted(self._touched), pa.string())}))
        con.execute("CREATE OR REPLACE TEMP TABLE _touched AS SELECT DISTINCT trace_id FROM _t")
        con.unregister("_t")
        # A late parent turns an earlier orphan into a normal child.
        con.execute(
            """UPDATE spans SET is_orphan = false
               WHERE is_orphan AND trace_id IN (SELECT trace_id FROM _touched)
                 AND (trace_id, parent_span_id) IN (SELECT trace_id, span_id FROM spans
                                                    WHERE trace_id IN (SELECT trace_id FROM _touched))"""
        )
        con.execute("DELETE FROM traces WHERE trace_id IN (SELECT trace_id FROM _touched)")
        con.execute(query("ingest/rollup_traces"), [self.summary.load_id, SCHEMA_VERSION])
        self.summary.traces_touched += con.execute("SELECT count(*) FROM _touched").fetchone()[0]
        con.execute("DROP TABLE IF EXISTS _touched")
        self._touched = set()

    def _save_progress(self, cursor: dict | None) -> None:
        s = self.summary
        self.con.execute(
            """UPDATE ingest_loads SET cursor = coalesce(?::JSON, cursor), files_seen = ?, files_skipped = ?,
                   records_seen = ?, spans_ingested = ?, traces_touched = ?, quarantined = ?, duplicates = ?
               WHERE load_id = ?""",
            [_json(cursor), s.files_seen, s.files_skipped, s.records_seen, s.spans_ingested,
             s.traces_touched, s.quarantined, s.duplicates, s.load_id],
        )

    # -- public ----------------------------------------------------------------------------------
    def commit_batch(
        self,
        items: Iterable[Item],
        *,
        cursor: dict | None = None,
        file: FileRecord | None = None,
        source_file: str | None = None,
    ) -> None:
        """Write records (and the cursor or the file record) in ONE transaction."""
        batch_size = self.settings.ingest_batch_spans
        label = (file.path if file else source_file) or self.summary.source
        with writer_lock(self.settings), transaction(self.con, what="ingest"):
            spans: list[Span] = []
            calls: list[ToolCall] = []
            fbs: list[Feedback] = []
            rejected: list[tuple] = []
            count = 0
            for item in items:
                count += 1
                if isinstance(item, Span):
                    _freeze(item)
                    spans.append(item)
                    if len(spans) >= batch_size:
                        self._write_chunk(spans, calls, fbs, label)
                        spans, calls, fbs = [], [], []
                elif isinstance(item, ToolCall):
                    calls.append(item)
                elif isinstance(item, Feedback):
                    fbs.append(item)
                elif isinstance(item, Rejected):
                    rejected.append((item.reason, item.detail, item.line_no, item.raw, None))
                    if len(rejected) >= 10_000:
                        self._quarantine(rejected, label)
                        rejected = []
                else:  # a parser bug, not user data
                    raise TypeError(f"parser yielded {type(item).__name__}")
            self._write_chunk(spans, calls, fbs, label)
            self._quarantine(rejected, label)
            self.summary.records_seen += count
            self._rollup()
            if file is not None:
                self.con.execute(
                    "INSERT INTO ingest_files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [file.path, file.content_sha256, file.size_bytes, file.format, count,
                     self.summary.load_id, utcnow(), SCHEMA_VERSION],
                )
            self._save_progress(cursor)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _mark_interrupted(con: duckdb.DuckDBPyConnection) -> None:
    """Loads left 'running' by a process on this host that no longer exists were killed midway."""
    host = socket.gethostname()
    rows = con.execute("SELECT load_id, message FROM ingest_loads WHERE status = 'running'").fetchall()
    dead = []
    for load_id, message in rows:
        owner = orjson.loads(message) if message and message.startswith("{") else {}
        if owner.get("host") == host and not _pid_alive(int(owner.get("pid", -1))):
            dead.append(load_id)
    for load_id in dead:
        con.execute(
            "UPDATE ingest_loads SET status = 'interrupted', finished_at = now(), "
            "message = 'killed midway; its uncommitted files are loaded again by the next run' WHERE load_id = ?",
            [load_id],
        )


@contextmanager
def open_load(
    settings: Settings | None = None,
    *,
    source: str,
    format: str | None,
    config: dict | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Iterator[Load]:
    """Start a load (a committed 'running' row), yield it, then record how it ended."""
    s = settings or get_settings()
    own = con is None
    con = con or connect(s)
    chash = config_hash(config or {"source": source, "format": format})
    summary = LoadSummary(load_id=new_id("load"), source=source, format=format)
    owner = orjson.dumps({"host": socket.gethostname(), "pid": os.getpid()}).decode()
    with writer_lock(s), transaction(con, what="ingest"):
        _mark_interrupted(con)
        con.execute(
            """INSERT INTO ingest_loads (load_id, source, format, status, started_at, message, config_hash, schema_version)
               VALUES (?, ?, ?, 'running', now(), ?, ?, ?)""",
            [summary.load_id, source, format, owner, chash, SCHEMA_VERSION],
        )
    load = Load(con, s, summary, chash)
    try:
        yield load
    except BaseException as exc:
        summary.status = "failed"
        summary.message = str(exc)[:2000]
        _finish(load.con, s, summary)
        if own:
            load.con.close()
        raise
    summary.unknown_cost_models = sorted(load.costs.unknown)
    if summary.failed_validations:
        summary.status = "failed"
        summary.message = "validation failed: " + "; ".join(summary.failed_validations)
    else:
        summary.status = "committed"
        summary.message = None
    _finish(load.con, s, summary)
    if own:
        load.con.close()


def _finish(con: duckdb.DuckDBPyConnection, settings: Settings, summary: LoadSummary) -> None:
    with writer_lock(settings), transaction(con, what="ingest"):
        con.execute(
            """UPDATE ingest_loads SET status = ?, finished_at = now(), message = ?, files_seen = ?, files_skipped = ?,
                   records_seen = ?, spans_ingested = ?, traces_touched = ?, quarantined = ?, duplicates = ?
               WHERE load_id = ?""",
            [summary.status, summary.message, summary.files_seen, summary.files_skipped, summary.records_seen,
             summary.spans_ingested, summary.traces_touched, summary.quarantined, summary.duplicates, summary.load_id],
        )


def last_cursor(con: duckdb.DuckDBPyConnection, source: str) -> dict | None:
    """The cursor saved by the newest load of ``source`` that committed one (None on first run)."""
    row = con.execute(
        """SELECT cursor FROM ingest_loads WHERE source = ? AND cursor IS NOT NULL
           ORDER BY started_at DESC, load_id DESC LIMIT 1""",
        [source],
    ).fetchone()
    return orjson.loads(row[0]) if row and row[0] else None


ProgressFn = Callable[[str, int, int], None]   # (path, files_done, files_total)


def ingest_paths(
    paths: list[str],
    *,
    settings: Settings | None = None,
    format: str = "auto",
    mapping: dict[str, str] | None = None,
    progress: ProgressFn | None = None,
) -> LoadSummary:
    """Ingest files, folders, globs or object-store prefixes. Already-loaded files are skipped.

    Raises DataError when a file's format cannot be told (before anything is written), or after
    the load when a batch failed validation (that batch is in quarantine; the rest is committed).
    """
    s = settings or get_settings()
    con = connect(s)
    try:
        if any("://" in p for p in paths):
            from tracemill.warehouse import extensions

            extensions.load(con, "httpfs")
        srcs = sources_mod.expand(paths, object_con=con)
        # Tell every file's format first, so an unplaceable file stops the load before any write.
        if format == "auto" and mapping and "preset" not in mapping:
            format = "messages"  # a field mapping only means something for chat trajectories
        formats = [(src, get(format) if format != "auto" else detect(src)) for src in srcs]
        options = FormatOptions(mapping=mapping or {}, max_record_bytes=s.max_record_bytes)
        loaded = {r[0] for r in con.execute("SELECT content_sha256 FROM ingest_files").fetchall()}
        fmt_names = sorted({f.name for _, f in formats})
        with open_load(s, source=",".join(paths), format=",".join(fmt_names), con=con,
                       config={"paths": paths, "format": format, "mapping": mapping or {}}) as load:
            for i, (src, fmt) in enumerate(formats):
                load.summary.files_seen += 1
                sha = sources_mod.sha256_of(src)
                if sha in loaded:
                    load.summary.files_skipped += 1
                else:
                    record = FileRecord(src.path, sha, src.size, fmt.name)
                    _commit_with_retry(load, lambda src=src, fmt=fmt: fmt.parse(src, options), record)
                    loaded.add(sha)
                if progress:
                    progress(src.path, i + 1, len(formats))
        summary = load.summary
        con = load.con
    finally:
        con.close()
    if summary.failed_validations:
        raise DataError(
            "a batch failed validation and was quarantined whole: " + "; ".join(summary.failed_validations),
            value=summary.load_id,
            fix="inspect it with: tracemill sql \"SELECT reason, detail, raw FROM quarantine WHERE load_id = "
            f"'{summary.load_id}'\", fix the source and ingest it again",
        )
    return summary


_COUNTERS = ("records_seen", "spans_ingested", "traces_touched", "tool_calls", "feedback", "quarantined", "duplicates")


def _commit_with_retry(load: Load, items: Callable[[], Iterable[Item]], record: FileRecord, attempts: int = 6) -> None:
    """Commit one file; if a concurrent commit or a reader's lock made it fail, parse it again and
    retry with backoff (nothing of the failed attempt was written)."""
    for attempt in range(attempts):
        saved = {k: getattr(load.summary, k) for k in _COUNTERS}
        try:
            load.commit_batch(items(), file=record)
            return
        except ConflictError:
            for k, v in saved.items():
                setattr(load.summary, k, v)
            load._touched = set()
            load.reconnect()  # a commit that failed on a lock leaves its SQLite connection holding it
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * 2**attempt)


def ingest_items(
    items: Iterable[Item],
    *,
    settings: Settings | None = None,
    source: str,
    format: str,
    cursor: dict | None = None,
) -> LoadSummary:
    """Ingest records produced in memory (e.g. one API page) with an optional cursor, in one transaction."""
    with open_load(settings, source=source, format=format) as load:
        load.commit_batch(items, cursor=cursor, source_file=source)
    return load.summary


__all__ = ["FileRecord", "Load", "LoadSummary", "ingest_items", "ingest_paths", "last_cursor", "open_load", "Source"]

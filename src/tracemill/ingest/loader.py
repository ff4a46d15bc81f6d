"""Load parsed records into the warehouse: batched, validated, de-duplicated, transactional.

Each file (or API page) is written in one transaction together with its ``ingest_files`` row (or
the load's cursor), so a killed load leaves nothing half-visible and the next run completes it.
Re-ingesting the same input adds nothing; late spans rebuild their trace's rollup.
"""

from __future__ import annotations

import gc
import os
import pickle
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from operator import attrgetter
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tracemill.errors import ConflictError, DataError, TracemillError
from tracemill.ingest import native
from tracemill.ingest import sources as sources_mod
from tracemill.ingest.cost import CostModel, load_prices
from tracemill.ingest.formats import FormatOptions, Source, detect, get
from tracemill.ingest.formats._common import raw_json
from tracemill.ingest.records import (
    Feedback,
    FrozenSpan,
    Item,
    Rejected,
    Span,
    ToolCall,
)
from tracemill.ingest.records import json_text as _json
from tracemill.ingest.validation import prepare as prepare_validation
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


_TS = pa.timestamp("ns", tz="UTC")
# Arrow's JSON extension type: DuckDB reads it as JSON without parsing every value again (the
# text comes from ``_json``, so it is valid JSON). Saves ~5 us per span on the raw payload alone.
_JSON = pa.json_()


def _ts(values: list[int | None]) -> pa.Array:
    return pa.array(values, pa.int64()).cast(_TS)


def _freeze(s: Span) -> None:
    """Serialise a span's JSON fields now: a parsed dict costs ~10x its JSON text in memory."""
    s.raw = _json(s.raw)
    s.attributes = _json(s.attributes)  # type: ignore[assignment]
    s.input_messages = _json(s.input_messages)  # type: ignore[assignment]
    s.output_messages = _json(s.output_messages)  # type: ignore[assignment]
    s.tool_arguments = _json(s.tool_arguments)


# The span table's columns taken from Span fields, in table order, with how each becomes Arrow
# ("text_or_null": an empty string is stored as NULL). Both builders below follow it.
_SPAN_FIELDS: tuple[tuple[str, str], ...] = (
    ("trace_id", "text"), ("span_id", "text"), ("parent_span_id", "text_or_null"), ("name", "text"),
    ("kind", "text"), ("start_ns", "int"), ("end_ns", "int"), ("status_code", "text"), ("status_message", "text"),
    ("model", "text"), ("provider", "text"), ("input_tokens", "int"), ("output_tokens", "int"),
    ("total_tokens", "int"), ("cost_usd", "float"), ("input_text", "text"), ("output_text", "text"),
    ("input_messages", "json"), ("output_messages", "json"), ("tool_name", "text"), ("tool_call_id", "text"),
    ("tool_arguments", "json"), ("tool_result", "text"), ("user_id", "text"), ("session_id", "text"),
    ("tags", "tags"), ("environment", "text"), ("app_version", "text"), ("service_name", "text"),
    ("attributes", "json"), ("raw", "json"), ("source", "text"),
)
_ARROW_TYPES = {"text": pa.string(), "text_or_null": pa.string(), "int": pa.int64(), "float": pa.float64(),
                "json": _JSON, "tags": pa.list_(pa.string())}


def _field_arrays(spans: list[Span], use_native: bool) -> dict[str, pa.Array]:
    """The Span-field columns: from the native column builder when asked for and compiled, else by
    pyarrow from Python lists (also when a value is of a type only pyarrow converts)."""
    got = native.span_columns(spans, _SPAN_FIELDS) if use_native and native.available() else None
    if got is not None:
        return got
    out: dict[str, pa.Array] = {}
    for name, kind in _SPAN_FIELDS:
        values = list(map(attrgetter(name), spans))
        if kind == "text_or_null":
            values = [v or None for v in values]
        out[name] = pa.array(values, _ARROW_TYPES[kind])
    return out


def _spans_table(spans: list[Span], load_id: str, chash: str, source_file: str | None, costs: CostModel,
                 use_native: bool = False) -> pa.Table:
    for s in spans:
        if s.cost_usd is None and s.kind == "llm" and (s.input_tokens is not None or s.output_tokens is not None):
            s.cost_usd = costs.cost(s.model, s.provider, s.input_tokens, s.output_tokens)
    arrays = _field_arrays(spans, use_native)
    start_ns, end_ns = arrays["start_ns"], arrays["end_ns"]
    cols: dict[str, pa.Array] = {}
    for name, _ in _SPAN_FIELDS:
        cols[name] = arrays[name]
        if name == "end_ns":   # derived columns, after the times
            cols["start_time"] = start_ns.cast(_TS)
            cols["end_time"] = end_ns.cast(_TS)
            # (end - start) / 1e6 exactly as Python computes it: an exact int64 difference, then a float division.
            cols["duration_ms"] = pc.divide(pc.cast(pc.subtract(end_ns, start_ns), pa.float64(), safe=False), 1e6)
    n = len(spans)
    cols["source_file"] = pa.array([source_file] * n, pa.string())
    cols["load_id"] = pa.array([load_id] * n, pa.string())
    cols["config_hash"] = pa.array([chash] * n, pa.string())
    cols["schema_version"] = pa.array([SCHEMA_VERSION] * n, pa.int32())
    # Every column has a fixed type, so the tables a chunk is built from concatenate without
    # promotion even when a column is empty in one of them.
    return pa.table(cols)


def _tool_calls_table(calls: list[ToolCall], load_id: str) -> pa.Table:
    return pa.table({
        "trace_id": pa.array([c.trace_id for c in calls], pa.string()),
        "call_id": pa.array([c.call_id for c in calls], pa.string()),
        "span_id": pa.array([c.span_id for c in calls], pa.string()),
        "seq": pa.array([c.seq for c in calls], pa.int32()),
        "tool_name": pa.array([c.tool_name for c in calls], pa.string()),
        "arguments": pa.array([_json(c.arguments) for c in calls], _JSON),
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
        "correction": pa.array([_json(f.correction) for f in items], _JSON),
        "source": pa.array([f.source for f in items], pa.string()),
        "author": pa.array([f.author for f in items], pa.string()),
        "created_at": _ts([f.created_ns for f in items]),
        "raw": pa.array([_json(f.raw) for f in items], _JSON),
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


QRow = tuple[str, str | None, int | None, str | None, int | None, str | None]
"""A quarantine row before it gets its id: (reason, detail, line_no, raw text, raw bytes, validation JSON)."""


def _qrow(reason: str, detail: str | None, line_no: int | None, raw: Any, validation: dict | None = None) -> QRow:
    text, nbytes = _raw_text(raw)
    return (reason, detail, line_no, text, nbytes, _json(validation))


# -- chunks: a batch of parsed records as Arrow tables --------------------------------------------------


@dataclass
class Chunk:
    """One batch of parsed records, turned into Arrow tables (in a parse worker or in-process).

    The loader still de-duplicates it against the warehouse, flags orphans, validates and writes it
    inside the file's transaction. ``spans`` is de-duplicated within the chunk (first copy wins).
    """

    records: int = 0                                    # parser items consumed for this chunk
    spans: pa.Table | None = None
    duplicate_raw: list[str | None] = field(default_factory=list)   # raw of in-chunk repeats (quarantined with a failed batch)
    calls: pa.Table | None = None
    feedback: pa.Table | None = None
    quarantine: list[QRow] = field(default_factory=list)           # rejected records
    spool: str | None = None                            # Arrow IPC file holding ``spans`` (worker chunks)
    # A worker's ready-made span data file (see _direct_file). ``spans`` is then its "head": the key,
    # validated and root-metadata columns, with the worker's in-file orphan flags.
    data_file: str | None = None

    def load_spans(self) -> pa.Table | None:
        """``spans``, read (memory-mapped) from the spool file when a worker wrote it there."""
        if self.spans is None and self.spool is not None:
            with pa.memory_map(self.spool) as src:
                self.spans = pa.ipc.open_file(src).read_all()
        return self.spans


_FREEZE_EVERY = 16
_TABLE_EVERY = 4096


def build_chunks(
    items: Iterable[Item],
    *,
    load_id: str,
    chash: str,
    source_file: str | None,
    costs: CostModel,
    batch_spans: int,
    cpu: dict[str, float] | None = None,
    native: bool = False,
) -> Iterator[Chunk]:
    """Group parser items into chunks of at most ``batch_spans`` spans (rejected records every 10k).

    ``cpu`` (if given) gets the CPU seconds spent building tables under "build"; the rest of the
    time a caller measures around this generator is the parser's. ``native``: build the span columns
    with the C extension when it is compiled (``TRACEMILL_NATIVE``).
    """
    spans: list[Span] = []    # this chunk's spans not yet in one of its tables
    parts: list[pa.Table] = []
    keys: set[tuple[str, str]] = set()
    duplicate_raw: list[str | None] = []
    n_spans = 0               # this chunk's spans, repeats included
    calls: list[ToolCall] = []
    fbs: list[Feedback] = []
    rejected: list[QRow] = []
    count = 0
    frozen = 0   # spans[:frozen] hold JSON text; the rest still their parsed dicts
    unwritable: set[tuple[str, str]] = set()   # spans of this chunk quarantined by freeze()

    def charge(t0: float) -> None:
        if cpu is not None:
            cpu["build"] = cpu.get("build", 0.0) + time.process_time() - t0

    def freeze() -> None:
        # Spans are frozen a few at a time: timing each one costs a tenth of freezing it, and a few
        # hundred at a time is slower again (their dicts have left the CPU cache by then).
        nonlocal frozen, n_spans
        t0 = time.process_time()
        bad: list[Span] = []
        for sp in spans[frozen:]:
            if type(sp) is not FrozenSpan:   # the native mapper's spans come frozen
                try:
                    _freeze(sp)
                except TypeError as e:   # orjson writes 254 levels of nesting, though it reads 1,024
                    unwritable.add((sp.trace_id, sp.span_id))
                    bad.append(sp)
                    rejected.append(_qrow("invalid_value", f"span {sp.trace_id}/{sp.span_id}: a JSON value in it cannot "
                                          f"be stored ({e}: it nests deeper than 254 levels)", None, raw_json(sp.raw)))
        if bad:   # quarantined whole: make() leaves out its tool calls and feedback too
            spans[frozen:] = [sp for sp in spans[frozen:] if not any(sp is b for b in bad)]
            n_spans -= len(bad)
        frozen = len(spans)
        charge(t0)

    def tabulate() -> None:
        # A chunk's span table is built a few thousand spans at a time, so the Span objects of a whole
        # chunk (~5 KB each) are never alive next to its table: ~110 MB less peak memory per worker.
        nonlocal spans, frozen
        freeze()
        t0 = time.process_time()
        fresh: list[Span] = []
        for sp in spans:   # in-chunk repeats: the first copy wins, the others are counted as duplicates
            key = (sp.trace_id, sp.span_id)
            if key in keys:
                duplicate_raw.append(sp.raw.decode() if type(sp.raw) is bytes else sp.raw)
            else:
                keys.add(key)
                fresh.append(sp)
        if fresh:
            parts.append(_spans_table(fresh, load_id, chash, source_file, costs, native))
        spans, frozen = [], 0
        charge(t0)

    def make() -> Chunk:
        tabulate()
        t0 = time.process_time()
        chunk = Chunk(records=count, quarantine=rejected, duplicate_raw=duplicate_raw)
        if parts:
            chunk.spans = parts[0] if len(parts) == 1 else pa.concat_tables(parts)
        if unwritable:
            calls[:] = [c for c in calls if (c.trace_id, c.span_id) not in unwritable]
            fbs[:] = [f for f in fbs if (f.trace_id, f.span_id) not in unwritable]
        if calls:
            chunk.calls = _tool_calls_table(calls, load_id)
        if fbs:
            chunk.feedback = _feedback_table(fbs, load_id)
        charge(t0)
        return chunk

    for item in items:
        count += 1
        if isinstance(item, Span):
            spans.append(item)
            n_spans += 1
            if n_spans >= batch_spans:
                yield make()
                parts, keys, duplicate_raw, n_spans = [], set(), [], 0
                calls, fbs, rejected, count = [], [], [], 0
                unwritable = set()
            elif len(spans) >= _TABLE_EVERY:
                tabulate()
            elif len(spans) - frozen >= _FREEZE_EVERY:
                freeze()
        elif isinstance(item, ToolCall):
            calls.append(item)
        elif isinstance(item, Feedback):
            fbs.append(item)
        elif isinstance(item, Rejected):
            rejected.append(_qrow(item.reason, item.detail, item.line_no, item.raw))
            if len(rejected) >= 10_000:
                yield Chunk(records=count, quarantine=rejected)
                rejected, count = [], 0
        else:  # a parser bug, not user data
            raise TypeError(f"parser yielded {type(item).__name__}")
    yield make()


# -- parse workers ---------------------------------------------------------------------------------------
#
# Parsing is pure Python and CPU-bound, so big loads parse files in worker processes. Each worker is a
# fresh interpreter (never a fork of a process that has DuckDB threads, and never a re-run of the
# caller's __main__ as multiprocessing's spawn does). It builds its files' Arrow tables, writes span
# tables to Arrow IPC spool files and sends small pickled messages over its stdout; the loader consumes
# files in order and writes each one in its own transaction, exactly as the in-process path does.
# Files are dealt round-robin, so worker w's stream carries its files in the order the loader wants.
# Flow control: a worker may be at most _SPOOL_AHEAD messages ahead; the loader returns a credit byte
# on the worker's stdin per message read (bounded spool disk and memory). A worker whose loader died
# sees EOF on stdin (or a broken pipe) and exits.

_SPOOL_AHEAD = 16
_PARALLEL_MIN_BYTES = 64 * 1024 * 1024
_WORKER_CMD = "from tracemill.ingest.loader import _worker_entry; _worker_entry()"


@dataclass(frozen=True)
class _WorkerConfig:
    options: FormatOptions
    prices_file: str | None
    batch_spans: int
    load_id: str
    chash: str
    spool_dir: str
    data_dir: str | None = None     # where to write span data files for the loader to register (None: don't)


def _portable_error(exc: BaseException) -> Any:
    """The exception in a form that survives pickling (TracemillError keeps problem/value/fix)."""
    import traceback

    if isinstance(exc, TracemillError):
        try:
            value = pickle.loads(pickle.dumps(exc.value))
        except Exception:
            value = repr(exc.value)
        return _RemoteError(type(exc), exc.problem, value, exc.fix)
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError("".join(traceback.format_exception(exc))[-4000:])


@dataclass(frozen=True)
class _RemoteError:
    """A TracemillError raised in a worker, rebuilt in the loader with its value and fix."""

    cls: type
    problem: str
    value: Any
    fix: str | None

    def rebuild(self) -> BaseException:
        return self.cls(self.problem, value=self.value, fix=self.fix)


def _worker_entry() -> None:
    """A parse worker's main: read (files, config) from stdin, stream messages to stdout."""
    import sys

    # A short-lived worker that builds acyclic dicts and lists: the cyclic collector only costs time here
    # (about a third of the parse); reference counting still frees everything.
    gc.disable()
    # The loader writes the files one after another and is the slower side; the workers run ahead of it
    # (bounded by their credits), so they take the CPU the loader leaves rather than compete with it.
    try:
        os.nice(10)
    except OSError:
        pass
    import pyarrow.parquet  # noqa: F401 - imported while the loader opens the warehouse, before the job comes

    stdin = sys.stdin.buffer
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints go to stderr, never into the message stream
    try:
        files, cfg = pickle.load(stdin)
    except EOFError:  # the loader closed the pipe before sending any files
        return
    credits = _SPOOL_AHEAD

    def put(msg: tuple) -> None:
        nonlocal credits
        while credits <= 0:
            got = stdin.read(1)
            if not got:  # the loader is gone
                os._exit(1)
            credits += len(got)
        credits -= 1
        try:
            pickle.dump(msg, out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
        except BrokenPipeError:
            os._exit(1)

    _parse_files(files, cfg, put)
    out.close()


def _parse_files(files: list[tuple[str, str]], cfg: _WorkerConfig, put: Callable[[tuple], None]) -> None:
    """Parse ``files`` [(path, format name)] in order; put ("chunk"|"done"|"error", path, payload)."""
    costs = CostModel(load_prices(cfg.prices_file))
    seq = 0
    for path, fmt_name in files:
        cpu: dict[str, float] = {}
        t_file = time.process_time()
        file_keys: set[str] = set()   # the span keys of this file's chunks so far (see _direct_file)
        try:
            src = sources_mod.local_source(path)
            fmt = get(fmt_name)
            for chunk in build_chunks(fmt.parse(src, cfg.options), load_id=cfg.load_id, chash=cfg.chash,
                                      source_file=path, costs=costs, batch_spans=cfg.batch_spans, cpu=cpu,
                                      native=cfg.options.native):
                t0 = time.process_time()
                seq += 1
                base = os.path.join(cfg.spool_dir, f"{os.getpid()}-{seq}")
                if chunk.spans is not None and cfg.data_dir is not None:
                    data_file = os.path.join(cfg.data_dir, f"tracemill-{cfg.load_id}-{os.getpid()}-{seq}.parquet")
                    head = _direct_file(chunk.spans, file_keys, data_file)
                    if head is not None:
                        chunk.spans, chunk.data_file = head, data_file
                    cpu["data_file"] = cpu.get("data_file", 0.0) + time.process_time() - t0
                    t0 = time.process_time()
                if chunk.spans is not None:
                    with pa.OSFile(base + ".arrow", "wb") as sink, pa.ipc.new_file(sink, chunk.spans.schema) as w:
                        w.write_table(chunk.spans)
                    chunk.spans, chunk.spool = None, base + ".arrow"
                # The rest of the chunk goes to the spool too: a message of megabytes would fill the pipe
                # and stop this worker until the loader reads its stream, whatever the credits allow.
                with open(base + ".pickle", "wb") as fh:
                    pickle.dump(chunk, fh, protocol=pickle.HIGHEST_PROTOCOL)
                cpu["spool"] = cpu.get("spool", 0.0) + time.process_time() - t0
                put(("chunk", path, base + ".pickle"))
        except Exception as exc:  # handed to the loader, which raises it inside the file's transaction
            put(("error", path, _portable_error(exc)))
            return
        cpu["parse"] = (time.process_time() - t_file - cpu.get("build", 0.0) - cpu.get("spool", 0.0)
                        - cpu.get("data_file", 0.0))
        put(("done", path, (sorted(costs.unknown), cpu)))


# -- span data files written by the parse workers -----------------------------------------------------------
#
# Writing a chunk's spans as Parquet is most of what inserting them costs. The loader is one process
# and the workers are several, so a worker writes each chunk's data file itself and the loader only
# registers it in the lake (ducklake_add_data_files) inside the file's transaction, after the same
# checks as any other chunk: no span of it stored before, validation passed. The worker sends the
# loader the chunk's "head" (keys, the validated columns, root metadata) instead of the whole table.
# Whenever the loader cannot take a data file as it is (late spans of stored traces, a failed batch
# earlier in the transaction), it reads the file back and writes the chunk the ordinary way.

# The span columns the loader needs of a chunk whose data file it registers (validation, keys, roots).
_HEAD_COLUMNS = ("trace_id", "span_id", "parent_span_id", "source", "load_id", "start_ns", "end_ns",
                 "input_tokens", "output_tokens", "total_tokens", "cost_usd", "kind", "status_code")
# Columns that get Parquet statistics (what DuckLake prunes files by); the long text and JSON columns
# get none, rather than their first and last 256 characters in the catalog.
_STATS_COLUMNS = ["trace_id", "span_id", "parent_span_id", "name", "kind", "start_time", "end_time",
                  "duration_ms", "status_code", "model", "provider", "input_tokens", "output_tokens",
                  "total_tokens", "cost_usd", "tool_name", "tool_call_id", "user_id", "session_id",
                  "environment", "app_version", "service_name", "is_orphan", "source", "source_file",
                  "load_id", "config_hash", "schema_version"]
# Low-cardinality columns worth a Parquet dictionary; the rest are nearly all distinct per span.
_DICT_COLUMNS = ["trace_id", "name", "kind", "status_code", "model", "provider", "tool_name", "user_id",
                 "session_id", "environment", "app_version", "service_name", "source", "source_file",
                 "load_id", "config_hash"]


def _span_keys(trace_id: Any, span_id: Any) -> pa.Array:
    """One string per (trace_id, span_id), distinct exactly when the pairs are: "len(trace_id):trace_id:span_id"."""
    length = pc.cast(pc.utf8_length(trace_id), pa.string())
    return pc.binary_join_element_wise(length, trace_id, span_id, ":")


def _direct_file(tbl: pa.Table, file_keys: set[str], path: str) -> pa.Table | None:
    """Write the chunk's span data file at ``path`` and return its head, or None (nothing written) when
    the chunk repeats a span of an earlier chunk of its file: the loader must then drop the repeat.

    The orphan flags are the loader's own rule with this file's spans as all it knows: a span whose
    parent is neither in this chunk nor in an earlier chunk of the file. The loader takes them only
    when no trace of the chunk has spans stored before its transaction."""
    import pyarrow.parquet as pq

    keys = set(_span_keys(tbl.column("trace_id"), tbl.column("span_id")).to_pylist())
    repeats = not file_keys.isdisjoint(keys)
    file_keys |= keys
    if repeats:
        return None
    parent = tbl.column("parent_span_id")
    parent_keys = _span_keys(tbl.column("trace_id"), parent).to_pylist()
    orphan = pa.array([k is not None and k not in file_keys for k in parent_keys], pa.bool_())
    full = tbl.drop_columns(["start_ns", "end_ns"]).append_column("is_orphan", orphan)
    pq.write_table(full, path, compression="snappy", use_dictionary=_DICT_COLUMNS,
                   write_statistics=[c for c in _STATS_COLUMNS if c in full.column_names])
    # Root candidates keep their attributes (the rollup's root metadata), the other spans' are left out.
    root = pc.or_(pc.is_null(parent), orphan)
    text = pa.chunked_array([c.storage for c in tbl.column("attributes").chunks], pa.string())
    attributes = pc.if_else(root, text, pa.scalar(None, pa.string())).combine_chunks()
    return (tbl.select(list(_HEAD_COLUMNS)).append_column("is_orphan", orphan)
            .append_column("attributes", pa.ExtensionArray.from_storage(_JSON, attributes)))


def _read_data_file(path: str) -> pa.Table:
    """A worker's data file back as the chunk's span table (the loader writes it the ordinary way)."""
    import pyarrow.parquet as pq

    tbl = pq.read_table(path)
    tbl = tbl.drop_columns(["is_orphan"])
    i = tbl.schema.get_field_index("end_time") + 1
    tbl = tbl.add_column(i, "end_ns", tbl.column("end_time").cast(pa.int64()))
    return tbl.add_column(i, "start_ns", tbl.column("start_time").cast(pa.int64()))


def _take_back(chunk: Chunk) -> None:
    """Turn a worker chunk with a data file back into an ordinary one: its span table, the file removed."""
    assert chunk.data_file is not None
    chunk.spans = _read_data_file(chunk.data_file)
    os.unlink(chunk.data_file)
    chunk.data_file = None


def _drop_spool(chunk: Chunk) -> None:
    """Remove a worker chunk's files once it is written or skipped (a registered data file is no longer its)."""
    chunk.spans = None
    for path in (chunk.spool, chunk.data_file):
        if path:
            with suppress(FileNotFoundError):
                os.unlink(path)
    chunk.spool = chunk.data_file = None


def _unspool(path: str) -> Chunk:
    """A chunk a worker spooled (``_parse_files``); the pickle file is removed once read."""
    with open(path, "rb") as fh:
        chunk = pickle.load(fh)
    os.unlink(path)
    return chunk


def _spawn_workers(n: int) -> list[Any]:
    """Start ``n`` parse worker processes (n > 1), which import while the loader opens the warehouse and
    then wait for their files (:class:`_ParsePool`). Closing a worker's stdin first ends it quietly."""
    import subprocess
    import sys

    if n <= 1:
        return []
    # Arrow's default pool (mimalloc) keeps what a chunk's table freed; the C allocator gives it back,
    # ~50 MB less per worker at the same speed. A user's own choice of pool still wins.
    env = {"ARROW_DEFAULT_MEMORY_POOL": "system", **os.environ}
    return [subprocess.Popen([sys.executable, "-c", _WORKER_CMD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
            for _ in range(n)]


def _stop_workers(procs: list[Any]) -> None:
    """End workers that were never given files (they hold nothing yet, so they are killed, not waited for)."""
    for proc in procs:
        proc.kill()
        for pipe in (proc.stdin, proc.stdout):
            with suppress(OSError):
                pipe.close()
        proc.wait()


class _ParsePool:
    """Worker processes parsing the files of one load; ``stream(path)`` yields that file's chunks."""

    def __init__(self, files: list[tuple[str, str]], procs: list[Any], cfg: _WorkerConfig, stats: _Stats) -> None:
        """Hand ``files`` round-robin to the worker processes ``procs`` (from :func:`_spawn_workers`)."""
        self.stats = stats
        self.procs = procs
        n = len(procs)
        for w, proc in enumerate(procs):
            pickle.dump((files[w::n], cfg), proc.stdin)
            proc.stdin.flush()
        self.worker_of = {path: i % n for i, (path, _) in enumerate(files)}
        self.unknown_models: set[str] = set()
        self._open: dict[str, Iterator[Chunk]] = {}

    def _get(self, w: int) -> tuple:
        proc = self.procs[w]
        try:
            msg = pickle.load(proc.stdout)
        except EOFError:
            raise RuntimeError(f"ingest parse worker {w} died (exit code {proc.wait()}); see its stderr") from None
        try:
            proc.stdin.write(b"\x01")  # one credit back: the worker may send one more message
            proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # it finished its files and exited
        return msg

    def stream(self, path: str) -> Iterator[Chunk]:
        """The chunks of ``path``, in order; a parse error in the worker is raised here."""
        gen = self._stream(path)
        self._open[path] = gen
        return gen

    def _stream(self, path: str) -> Iterator[Chunk]:
        w = self.worker_of[path]
        while True:
            with self.stats.timed("wait_for_workers"):
                kind, got, payload = self._get(w)
            if got != path:
                raise RuntimeError(f"parse worker {w} sent {got!r} while {path!r} was expected")
            if kind == "chunk":
                yield _unspool(payload)
            elif kind == "done":
                unknown, cpu = payload
                self.unknown_models.update(unknown)
                for k, v in cpu.items():
                    self.stats.add_cpu(f"worker_{k}", v)
                return
            else:
                raise payload.rebuild() if isinstance(payload, _RemoteError) else payload

    def discard(self, path: str) -> None:
        """Throw away ``path``'s chunks unread (a file skipped after its worker parsed it)."""
        self.stream(path)
        self.finish(path)

    def finish(self, path: str) -> None:
        """Consume what is left of ``path``'s chunks (after a failed attempt) so the next file lines up."""
        gen = self._open.pop(path, None)
        if gen is not None:
            for chunk in gen:
                _drop_spool(chunk)

    def close(self, *, ok: bool) -> None:
        for proc in self.procs:
            for pipe in (proc.stdin, proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
            if not ok:
                proc.kill()
            try:
                proc.wait(timeout=30)
            except Exception:
                proc.kill()
                proc.wait()


class _Stats:
    """Where a load's time goes: wall and CPU seconds per stage (CPU includes DuckDB's threads)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[stage] = self.wall.get(stage, 0.0) + time.perf_counter() - w0
            self.cpu[stage] = self.cpu.get(stage, 0.0) + time.process_time() - c0

    def add_cpu(self, stage: str, seconds: float) -> None:
        self.cpu[stage] = self.cpu.get(stage, 0.0) + seconds

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {"wall_s": dict(self.wall), "cpu_s": dict(self.cpu)}


class Load:
    """One running load. ``commit_batch`` writes a group of records in one transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection, settings: Settings, summary: LoadSummary, chash: str) -> None:
        self.con = con
        self.settings = settings
        self.summary = summary
        self.config_hash = chash
        self.costs = CostModel(load_prices(settings.prices_file))
        self.stats = _Stats()
        self._spans_dir: str | None = None   # where worker data files are registered from (ingest_paths)
        self._added_files: list[str] = []    # worker data files registered by the open transaction
        self._direct_ok = True
        self._reset_touched()

    def _reset_touched(self) -> None:
        self._touched: set[str] = set()        # traces whose rollup this transaction must rebuild
        self._with_spans: set[str] = set()     # ... of which spans were written by it
        self._outside: set[str] = set()        # ... of which spans exist from other loads or files
        self._stored: set[str] = set()         # traces with a `traces` row whose stored keys are in _txkeys
        self._orphaned: set[str] = set()       # traces given an orphan span by this transaction
        self._pending_calls: list[pa.Table] = []     # tool calls / feedback to write at the end of it
        self._pending_feedback: list[pa.Table] = []

    def _begin_tx(self) -> None:
        """Per-transaction temp tables (DuckDB memory, not the lake): the span keys that de-duplication
        and orphan flags check against, and the root candidates' metadata for the rollup."""
        self._reset_touched()
        self._direct_ok = True    # every chunk so far written whole (see _write_data_file)
        self.con.execute("CREATE OR REPLACE TEMP TABLE _txkeys (trace_id VARCHAR, span_id VARCHAR)")
        self.con.execute("CREATE OR REPLACE TEMP TABLE _txroots (trace_id VARCHAR, span_id VARCHAR, metadata JSON)")

    def _end_tx(self) -> None:
        for t in ("_txkeys", "_txroots", "_touched", "_unorphan"):
            self.con.execute(f"DROP TABLE IF EXISTS temp.{t}")

    def reconnect(self) -> None:
        """Replace the connection (after a failed commit, which can leave the catalog locked)."""
        try:
            self.con.close()
        except duckdb.Error:
            pass
        self.con = connect(self.settings)
        _tune_for_ingest(self.con)

    # -- quarantine -------------------------------------------------------------------------
    def _quarantine(self, rows: list[QRow], source: str) -> None:
        if not rows:
            return
        now = utcnow()
        load_id = self.summary.load_id
        data = [(new_id("q"), load_id, source, line_no, reason, detail, text, nbytes, validation, now, SCHEMA_VERSION)
                for reason, detail, line_no, text, nbytes, validation in rows]
        self.con.executemany("INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", data)
        self.summary.quarantined += len(rows)

    # -- one chunk ------------------------------------------------------------------------------
    def _existing_keys(self, tbl: pa.Table, label: str) -> None:
        """Add to ``_txkeys`` the stored (trace_id, span_id) of the chunk's (``tbl``) traces stored before
        this transaction. Only traces with a ``traces`` row can have stored spans, so the wide scan
        of ``spans`` runs only for those (late spans, re-ingest), once per trace and transaction.

        Traces with a stored span from outside this (load, file) are remembered: their rollup must
        read all their spans, not only this file's."""
        con = self.con
        _b = tbl  # the SQL's `_b`: a replacement scan, see _write_chunk
        found = [t for (t,) in con.execute(query("ingest/chunk_stored_traces")).fetchall() if t not in self._stored]
        if not found:
            return
        self._stored.update(found)
        _tids = pa.table({"trace_id": pa.array(found, pa.string())})
        rows = con.execute(query("ingest/existing_span_keys"),
                           {"load_id": self.summary.load_id, "source_file": label}).to_arrow_table()
        self._outside.update(rows.filter(rows.column("outside")).column("trace_id").to_pylist())
        _st = rows
        con.execute("INSERT INTO _txkeys SELECT trace_id, span_id FROM _st")

    def _write_chunk(self, chunk: Chunk, label: str) -> None:
        # The SQL reads chunk tables as DuckDB replacement scans of local variables (``_b = tbl``, then
        # ``FROM _b``), not con.register(): a registered view, even unregistered, keeps its Arrow table
        # (a worker's memory-mapped spool file) alive until the transaction commits, so a file's chunks
        # piled up in the loader's memory (~100 MB per 25k-span chunk).
        with self.stats.timed("quarantine_rejected"):
            self._quarantine(chunk.quarantine, label)
        written = self._write_data_file(chunk, label) if chunk.data_file else self._write_spans(chunk, label)
        if not written:   # the batch failed validation: its calls and feedback were quarantined with it
            return
        # Tool calls and feedback are written once per transaction (see _flush_calls_feedback).
        if chunk.calls is not None and chunk.calls.num_rows:
            self._pending_calls.append(chunk.calls)
        if chunk.feedback is not None and chunk.feedback.num_rows:
            self._pending_feedback.append(chunk.feedback)

    def _write_data_file(self, chunk: Chunk, label: str) -> bool:
        """Register the chunk's worker-written data file (see ``_direct_file``) in this transaction, or, when
        the worker's view of the chunk may be wrong here, write the chunk the ordinary way. False when the
        batch failed validation (then it is quarantined whole, as in ``_write_spans``)."""
        con, st = self.con, self.stats
        path = chunk.data_file
        assert path is not None and self._spans_dir is not None
        head = chunk.load_spans()
        assert head is not None
        with st.timed("dedup_orphans"):
            _b = head  # the SQL's `_b`: a replacement scan, see _write_chunk
            # The worker knew only this file: any stored span of these traces (late spans, a re-ingest)
            # or a chunk of this transaction not written whole means its flags may not hold.
            direct = self._direct_ok and not con.execute(query("ingest/chunk_stored_traces")).fetchall()
            del _b
        if not direct:
            _take_back(chunk)
            return self._write_spans(chunk, label)
        outcome = self._validate(head)
        if not outcome.success:
            _take_back(chunk)   # the batch's raw payloads
            self._quarantine_batch(chunk, outcome, label)
            return False
        self.summary.duplicates += len(chunk.duplicate_raw)
        with st.timed("insert_spans"):
            final = os.path.join(self._spans_dir, os.path.basename(path))
            os.replace(path, final)
            chunk.data_file = None
            self._added_files.append(final)
            con.execute(query("ingest/add_span_data_file"), {"path": final}).fetchall()
            self._written(head)
        return True

    def _validate(self, tbl: pa.Table) -> Any:
        """The GX suite's outcome on a chunk's spans (``tbl`` with its ``is_orphan`` flags)."""
        # What the suite checks: a parent exists in the trace, or the span is flagged orphan (an orphan
        # is exactly a span whose parent is set but neither stored nor in the chunk).
        orphan = tbl.column("is_orphan")
        no_parent = pc.is_null(tbl.column("parent_span_id"))
        parent_ok = pc.or_(pc.or_(no_parent, pc.and_not(pc.invert(no_parent), orphan)), orphan)
        with self.stats.timed("validate"):
            return validate_spans(tbl.append_column("parent_ok", parent_ok))

    def _quarantine_batch(self, chunk: Chunk, outcome: Any, label: str) -> None:
        """The whole batch goes to quarantine with the validation result; nothing of it is written."""
        self._direct_ok = False
        with self.stats.timed("quarantine_batch"):
            self.summary.failed_validations.extend(outcome.failed)
            self._quarantine(_failed_batch_rows(chunk, outcome), label)

    def _written(self, tbl: pa.Table) -> None:
        """Record spans just written to the lake (``tbl``, with ``is_orphan``): the keys later chunks of
        this transaction check against, the rollup's root metadata, and the traces to roll up."""
        _b = tbl  # the SQL's `_b`: a replacement scan, see _write_chunk
        self.con.execute("INSERT INTO _txkeys SELECT trace_id, span_id FROM _b")
        self.con.execute(query("ingest/root_candidates_chunk"))
        del _b
        self.summary.spans_ingested += tbl.num_rows
        tids = set(tbl.column("trace_id").to_pylist())
        self._touched.update(tids)
        self._with_spans.update(tids)
        orphan = tbl.column("is_orphan")
        if pc.any(orphan).as_py():
            self._orphaned.update(tbl.filter(orphan).column("trace_id").to_pylist())

    def _write_spans(self, chunk: Chunk, label: str) -> bool:
        """De-duplicate, flag orphans, validate and insert the chunk's spans; False when the batch failed
        validation (then it is quarantined whole with its calls and feedback, and nothing is written)."""
        con = self.con
        st = self.stats
        tbl = chunk.load_spans()
        if tbl is not None and tbl.num_rows:
            with st.timed("dedup_orphans"):
                n = tbl.num_rows
                self._existing_keys(tbl, label)
                _k = pa.table({
                    "i": pa.array(np.arange(n, dtype=np.int64)), "trace_id": tbl.column("trace_id"),
                    "span_id": tbl.column("span_id"), "parent_span_id": tbl.column("parent_span_id"),
                })
                flags = con.execute(query("ingest/chunk_span_flags")).to_arrow_table()
                del _k
                idx = flags.column("i").to_numpy()
                is_stored = flags.column("stored").to_numpy(zero_copy_only=False)
                keep = np.ones(n, dtype=bool)
                keep[idx[is_stored]] = False
                orphan = np.zeros(n, dtype=bool)
                orphan[idx[~is_stored]] = True
                n_fresh = int(keep.sum())
                self.summary.duplicates += len(chunk.duplicate_raw) + n - n_fresh
                if n_fresh:
                    tbl = tbl.append_column("is_orphan", pa.array(orphan, pa.bool_()))
                    if n_fresh < n:
                        tbl = tbl.filter(pa.array(keep, pa.bool_()))
            if n_fresh:
                outcome = self._validate(tbl)
                if not outcome.success:
                    self._quarantine_batch(chunk, outcome, label)
                    return False
                with st.timed("insert_spans"):
                    _b = tbl
                    con.execute("INSERT INTO spans BY NAME SELECT * EXCLUDE (start_ns, end_ns) FROM _b")
                    del _b
                    self._written(tbl)
            if n_fresh < n:
                self._direct_ok = False
        return True

    def _flush_calls_feedback(self) -> None:
        """Insert the transaction's tool calls and feedback, de-duplicated against the warehouse.

        Once per transaction rather than per chunk: the anti-join scans the key columns of the whole
        table (no indexes in DuckLake), and one data file per file beats one per chunk. A file's
        calls and feedback are a small fraction of its spans."""
        con = self.con
        for pending, name, counter in ((self._pending_calls, "ingest/insert_tool_calls", "tool_calls"),
                                       (self._pending_feedback, "ingest/insert_feedback", "feedback")):
            if not pending:
                continue
            tbl = pa.concat_tables(pending) if len(pending) > 1 else pending[0]
            pending.clear()
            tbl = tbl.append_column("_pos", pa.array(np.arange(tbl.num_rows, dtype=np.int64)))
            _pending = tbl  # the SQL's `_pending`: a replacement scan, see _write_chunk
            n = con.execute(query(name)).fetchall()[0][0]
            del _pending
            setattr(self.summary, counter, getattr(self.summary, counter) + n)
            self._touched.update(tbl.column("trace_id").to_pylist())

    def _rollup(self, label: str) -> None:
        if not self._touched:
            return
        con = self.con
        # Traces all of whose spans came from this (load, file) - nearly all of them - are rolled up
        # from this file's data files only; the others (late spans, calls or feedback only) from all.
        local = self._with_spans - self._outside
        rest = self._touched - local

        def temp_ids(name: str, ids: set[str]) -> None:
            _t = pa.table({"trace_id": pa.array(list(ids), pa.string())})
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT DISTINCT trace_id FROM _t")

        # A late parent turns an earlier orphan into a normal child. Only traces given an orphan by
        # this transaction, or stored before it and given new spans, can have such a pair.
        unorphan = self._orphaned | (self._stored & self._with_spans)
        if unorphan:
            temp_ids("_unorphan", unorphan)
            con.execute(query("ingest/unorphan_spans"))
        temp_ids("_touched", self._touched)
        con.execute("DELETE FROM traces WHERE trace_id IN (SELECT trace_id FROM _touched)")
        params = {"load_id": self.summary.load_id, "schema_version": SCHEMA_VERSION}
        for ids, scope in ((local, (self.summary.load_id, label)), (rest, (None, None))):
            if not ids:
                continue
            temp_ids("_touched", ids)
            if scope[0] is None:  # root candidates from earlier transactions
                con.execute(query("ingest/root_candidates_stored"))
            con.execute(query("ingest/rollup_traces"), {**params, "scope_load_id": scope[0], "scope_file": scope[1]})
        self.summary.traces_touched += len(self._touched)
        con.execute("DROP TABLE IF EXISTS _touched")
        self._reset_touched()

    def _save_progress(self, cursor: dict | None) -> None:
        s = self.summary
        self.con.execute(
            """UPDATE ingest_loads SET cursor = coalesce(?::JSON, cursor), files_seen = ?, files_skipped = ?,
                   records_seen = ?, spans_ingested = ?, traces_touched = ?, quarantined = ?, duplicates = ?
               WHERE load_id = ?""",
            [_json(cursor), s.files_seen, s.files_skipped, s.records_seen, s.spans_ingested,
             s.traces_touched, s.quarantined, s.duplicates, s.load_id],
        )

    def _chunks(self, items: Iterable[Item | Chunk], label: str) -> Iterator[Chunk]:
        """Chunks from a parse worker pass through; parser items are built into chunks here."""
        it = iter(items)
        first = next(it, None)
        if first is None:
            return
        if isinstance(first, Chunk):
            yield first
            yield from it  # type: ignore[misc]
            return

        def rest() -> Iterator[Item]:
            yield first  # type: ignore[misc]
            yield from it  # type: ignore[misc]

        cpu: dict[str, float] = {}
        gen = build_chunks(rest(), load_id=self.summary.load_id, chash=self.config_hash, source_file=label,
                           costs=self.costs, batch_spans=self.settings.ingest_batch_spans, cpu=cpu,
                           native=self.settings.native)
        while True:
            with self.stats.timed("parse_build_inprocess"):
                chunk = next(gen, None)
            if chunk is None:
                break
            yield chunk

    # -- public ----------------------------------------------------------------------------------
    def commit_batch(
        self,
        items: Iterable[Item | Chunk],
        *,
        cursor: dict | None = None,
        file: FileRecord | None = None,
        source_file: str | None = None,
    ) -> None:
        """Write records (and the cursor or the file record) in ONE transaction.

        ``items`` are parser records, or chunks a parse worker already built from them.
        """
        label = (file.path if file else source_file) or self.summary.source
        self._added_files = []
        try:
            self._commit_batch(items, cursor, file, label)
        except BaseException:
            # Data files this transaction registered are not in the lake now: nothing else will remove them.
            for path in self._added_files:
                with suppress(FileNotFoundError):
                    os.unlink(path)
            raise
        finally:
            self._added_files = []

    def _commit_batch(self, items: Iterable[Item | Chunk], cursor: dict | None, file: FileRecord | None,
                      label: str) -> None:
        st = self.stats
        with writer_lock(self.settings), transaction(self.con, what="ingest"):
            self._begin_tx()
            count = 0
            for chunk in self._chunks(items, label):
                count += chunk.records
                try:
                    self._write_chunk(chunk, label)
                finally:
                    _drop_spool(chunk)
            self.summary.records_seen += count
            with st.timed("insert_calls_feedback"):
                self._flush_calls_feedback()
            with st.timed("rollup"):
                self._rollup(label)
            w0, c0 = time.perf_counter(), time.process_time()
            if file is not None:
                self.con.execute(
                    "INSERT INTO ingest_files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [file.path, file.content_sha256, file.size_bytes, file.format, count,
                     self.summary.load_id, utcnow(), SCHEMA_VERSION],
                )
            self._save_progress(cursor)
            self._end_tx()
        st.wall["commit"] = st.wall.get("commit", 0.0) + time.perf_counter() - w0
        st.cpu["commit"] = st.cpu.get("commit", 0.0) + time.process_time() - c0


def _tune_for_ingest(con: duckdb.DuckDBPyConnection) -> None:
    """Settings of a loader's connection.

    - A load reads back mostly what it just wrote: caching data files in DuckDB's buffer pool only
      grows the loader's memory (peak RSS) without saving reads.
    - One DuckDB thread: the loader's statements are small (one chunk, one file's rollup); a second
      thread saved little wall time but cost ~40% more CPU (insert 23 -> 12 us/span of CPU at 25k-span
      chunks), CPU the parse workers need on the same cores.
    """
    con.execute("SET enable_external_file_cache = false")
    con.execute("SET threads = 1")


def _call_record(row: dict[str, Any]) -> dict[str, Any]:
    """A tool_calls row (times as epoch ns) back in ``ToolCall`` shape (what a failed batch quarantines)."""
    return {
        "trace_id": row["trace_id"], "call_id": row["call_id"], "tool_name": row["tool_name"], "source": row["source"],
        "span_id": row["span_id"], "seq": row["seq"],
        "arguments": orjson.loads(row["arguments"]) if row.get("arguments") else None,
        "result": row["result"], "status": row["status"], "error_message": row["error_message"],
        "start_ns": row["start_time"], "duration_ms": row["duration_ms"],
    }


def _feedback_record(row: dict[str, Any]) -> dict[str, Any]:
    """A feedback row (times as epoch ns) back in ``Feedback`` shape (what a failed batch quarantines)."""
    return {
        "trace_id": row["trace_id"], "key": row["key"], "source": row["source"], "score": row["score"],
        "label": row["label"], "comment": row["comment"],
        "correction": orjson.loads(row["correction"]) if row.get("correction") else None,
        "author": row["author"], "created_ns": row["created_at"], "span_id": row["span_id"],
        "raw": orjson.loads(row["raw"]) if row.get("raw") else None, "feedback_id": row["feedback_id"],
    }


def _ns_rows(tbl: pa.Table, column: str) -> list[dict[str, Any]]:
    i = tbl.schema.get_field_index(column)
    return tbl.set_column(i, column, tbl.column(column).cast(pa.int64())).to_pylist()


def _failed_batch_rows(chunk: Chunk, outcome: Any) -> list[QRow]:
    """Every record of a batch that failed validation, with the GX result on its spans."""
    detail = "batch failed validation: " + "; ".join(outcome.failed)
    raws = (chunk.spans.column("raw").to_pylist() if chunk.spans is not None else []) + chunk.duplicate_raw
    rows = [_qrow("validation_failed", detail, None, raw, outcome.result) for raw in raws]
    if chunk.calls is not None:
        rows += [_qrow("validation_failed", detail, None, _call_record(r)) for r in _ns_rows(chunk.calls, "start_time")]
    if chunk.feedback is not None:
        rows += [_qrow("validation_failed", detail, None, _feedback_record(r)) for r in _ns_rows(chunk.feedback, "created_at")]
    return rows


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
    workers: int | None = None,
    stats: dict[str, Any] | None = None,
) -> LoadSummary:
    """Ingest files, folders, globs or object-store prefixes. Already-loaded files are skipped.

    ``workers``: parse processes (None: one per CPU when the local input to load is over 64 MB,
    else parse in-process; 0 or 1: in-process). ``stats``, if given, receives where the time went
    (wall and CPU seconds per stage).

    Raises DataError when a file's format cannot be told (before anything is written), or after
    the load when a batch failed validation (that batch is in quarantine; the rest is committed).
    """
    s = settings or get_settings()
    remote = any("://" in p for p in paths)
    # Local inputs are listed first, so that parse workers (if the load is big enough for them) start
    # their imports while the loader opens the warehouse.
    local_srcs = None if remote else sources_mod.expand(paths)
    idle = _spawn_workers(_worker_count(workers, local_srcs)) if local_srcs else []
    try:
        con = connect(s)
    except BaseException:
        _stop_workers(idle)
        raise
    _tune_for_ingest(con)
    n_workers = 1
    try:
        if remote:
            from tracemill.warehouse import extensions

            extensions.load(con, "httpfs")
        srcs = local_srcs if local_srcs is not None else sources_mod.expand(paths, object_con=con)
        # Tell every file's format first, so an unplaceable file stops the load before any write.
        if format == "auto" and mapping and "preset" not in mapping:
            format = "messages"  # a field mapping only means something for chat trajectories
        formats = [(src, get(format) if format != "auto" else detect(src)) for src in srcs]
        options = FormatOptions(mapping=mapping or {}, max_record_bytes=s.max_record_bytes, native=s.native)
        stored = con.execute("SELECT content_sha256, size_bytes FROM ingest_files").fetchall()
        loaded = {sha for sha, _ in stored}
        fmt_names = sorted({f.name for _, f in formats})
        with open_load(s, source=",".join(paths), format=",".join(fmt_names), con=con,
                       config={"paths": paths, "format": format, "mapping": mapping or {}}) as load:
            # What to load: files already loaded (or seen earlier in this run) are skipped by content.
            plan: list[tuple[Source, Any, FileRecord | None]] = []
            deferred = _deferred_hashes([src for src, _ in formats], {size for _, size in stored})
            with load.stats.timed("hash_files"):
                for src, fmt in formats:
                    if src.path in deferred:  # its hash is filled in at its turn
                        plan.append((src, fmt, FileRecord(src.path, "", src.size, fmt.name)))
                        continue
                    sha = sources_mod.sha256_of(src)
                    plan.append((src, fmt, None if sha in loaded else FileRecord(src.path, sha, src.size, fmt.name)))
                    loaded.add(sha)
            todo = [(r.path, r.format) for _, _, r in plan if r is not None]
            # Fewer workers than were started if files were skipped (none if what is left is small).
            n_workers = min(_worker_count(workers, [src for src, _, r in plan if r is not None]), len(idle)) or 1
            keep = n_workers if n_workers > 1 else 0
            _stop_workers(idle[keep:])
            idle = idle[:keep]
            pool: _ParsePool | None = None
            ok = False
            spool = tempfile.TemporaryDirectory(prefix="tracemill-spool-") if n_workers > 1 else None
            staging = None
            try:
                if spool is not None:
                    load._spans_dir = _spans_data_dir(con) if s.worker_data_files else None
                    if load._spans_dir is not None:
                        # Beside the table's files (one file system: registering one is a rename); whatever
                        # is left here when the load ends was never registered.
                        _sweep_staging(load._spans_dir)
                        staging = tempfile.TemporaryDirectory(prefix=_staging_prefix(), dir=load._spans_dir)
                    cfg = _WorkerConfig(options, s.prices_file, s.ingest_batch_spans, load.summary.load_id,
                                        load.config_hash, spool.name, staging.name if staging else None)
                    pool, idle = _ParsePool(todo, idle, cfg, load.stats), []
                    with load.stats.timed("prepare_validation"):
                        prepare_validation()  # import GX while the workers parse their first chunks
                for i, (src, fmt, record) in enumerate(plan):
                    load.summary.files_seen += 1
                    if record is not None and src.path in deferred:
                        with load.stats.timed("hash_files"):
                            sha = sources_mod.sha256_of(src)
                        if sha in loaded:  # the same content after all (e.g. a compressed copy): skip it
                            record = None
                            if pool is not None:
                                pool.discard(src.path)
                        else:
                            record = replace(record, content_sha256=sha)
                        loaded.add(sha)
                    if record is None:
                        load.summary.files_skipped += 1
                    else:
                        _commit_with_retry(load, _file_items(pool, src, fmt, options), record)
                        if pool is not None:
                            pool.finish(record.path)
                    if progress:
                        progress(src.path, i + 1, len(formats))
                ok = True
            finally:
                if pool is not None:
                    pool.close(ok=ok)
                    load.costs.unknown.update(pool.unknown_models)
                if spool is not None:
                    spool.cleanup()
                if staging is not None:
                    staging.cleanup()
            load.stats.cpu["workers_total"] = sum(v for k, v in load.stats.cpu.items() if k.startswith("worker_"))
        summary = load.summary
        con = load.con
        if stats is not None:
            stats.update(load.stats.as_dict(), workers=n_workers)
    finally:
        _stop_workers(idle)   # a load that failed before it handed the workers their files
        con.close()
    if summary.failed_validations:
        raise DataError(
            "a batch failed validation and was quarantined whole: " + "; ".join(summary.failed_validations),
            value=summary.load_id,
            fix="inspect it with: tracemill sql \"SELECT reason, detail, raw FROM quarantine WHERE load_id = "
            f"'{summary.load_id}'\", fix the source and ingest it again",
        )
    return summary


def _spans_data_dir(con: duckdb.DuckDBPyConnection) -> str | None:
    """The local folder DuckLake keeps the spans table's data files in, or None when the lake's data path
    is not a local folder (object storage) or a path is absolute (then the loader writes every chunk)."""
    try:
        rows = con.execute(query("ingest/table_data_dir"), {"table": "spans"}).fetchall()
    except duckdb.Error:
        return None
    if len(rows) != 1:
        return None
    data_path, schema_path, schema_relative, table_path, table_relative = rows[0]
    if not (schema_relative and table_relative and data_path) or "://" in data_path:
        return None
    folder = os.path.join(data_path, schema_path or "", table_path or "")
    os.makedirs(folder, exist_ok=True)
    return folder


_STAGING = ".tracemill-staging-"


def _staging_prefix() -> str:
    """A load's staging folder name says which process owns it: ``.tracemill-staging-HOST-PID-xxxxxxxx``."""
    return f"{_STAGING}{socket.gethostname()}-{os.getpid()}-"


def _sweep_staging(folder: str) -> None:
    """Remove staging folders left by killed loads on this host (their files were never registered)."""
    import shutil

    host = socket.gethostname()
    for name in os.listdir(folder):
        if not name.startswith(_STAGING):
            continue
        owner, _, _suffix = name[len(_STAGING):].rpartition("-")
        owner_host, _, pid = owner.rpartition("-")
        if owner_host == host and pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


def _deferred_hashes(sources: list[Source], stored_sizes: set[int | None]) -> set[str]:
    """Local files that may be hashed when their turn comes instead of before the load starts, so that
    the parse workers need not wait for every file to be hashed (~1.3 s a GB).

    A file whose size no stored file and no other file of this load has cannot repeat their content;
    a compressed file can (its content hash is of what it decompresses to), so the loader still
    checks each deferred file's hash before it writes it, and skips it if it was loaded after all.
    """
    sizes = Counter(src.size for src in sources)
    return {src.path for src in sources
            if "://" not in src.path and src.size is not None and sizes[src.size] == 1 and src.size not in stored_sizes}


def _worker_count(requested: int | None, sources: list[Source]) -> int:
    """Parse processes for these sources: only local files can be re-opened in a worker."""
    if len(sources) < 2 or any("://" in src.path for src in sources):
        return 1
    if requested is None:
        if sum(src.size or 0 for src in sources) < _PARALLEL_MIN_BYTES:
            return 1
        requested = os.cpu_count() or 1
    return max(1, min(requested, len(sources)))


def _file_items(pool: _ParsePool | None, src: Source, fmt: Any, options: FormatOptions) -> Callable[[], Iterable[Item | Chunk]]:
    """The records of one file for each commit attempt: the worker's chunks first; a retry after a
    conflict parses the file again in-process (the worker's chunks are spent)."""
    attempts = 0

    def items() -> Iterable[Item | Chunk]:
        nonlocal attempts
        attempts += 1
        if pool is not None and attempts == 1:
            return pool.stream(src.path)
        if pool is not None:
            pool.finish(src.path)
        return fmt.parse(src, options)

    return items


_COUNTERS = ("records_seen", "spans_ingested", "traces_touched", "tool_calls", "feedback", "quarantined", "duplicates")


def _commit_with_retry(load: Load, items: Callable[[], Iterable[Item | Chunk]], record: FileRecord, attempts: int = 6) -> None:
    """Commit one file; if a concurrent commit or a reader's lock made it fail, parse it again and
    retry with backoff (nothing of the failed attempt was written)."""
    for attempt in range(attempts):
        saved = {k: getattr(load.summary, k) for k in _COUNTERS}
        n_failed = len(load.summary.failed_validations)
        try:
            load.commit_batch(items(), file=record)
            return
        except ConflictError:
            for k, v in saved.items():
                setattr(load.summary, k, v)
            del load.summary.failed_validations[n_failed:]
            load._reset_touched()
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


__all__ = ["FileRecord", "Load", "LoadSummary", "Source", "ingest_items", "ingest_paths", "last_cursor", "open_load"]

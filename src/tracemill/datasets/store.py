"""Read and write dataset versions.

Storage: ``dataset_examples`` rows carry a validity range ``[valid_from_version, valid_to_version)``; a new
version closes changed/removed rows and inserts new ones, records a ``dataset_versions`` row with the content
hash, and bumps ``datasets.head_version`` — all in one DuckLake transaction, so a half-written version never
becomes visible and a concurrent writer to the same dataset gets a ConflictError.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from tracemill.datasets.dedup import input_key
from tracemill.datasets.example import Example
from tracemill.datasets.splits import assign_split
from tracemill.datasets.versions import DatasetVersion, check_name, list_versions, resolve
from tracemill.errors import DataError, NotFoundError
from tracemill.lineage import SCHEMA_VERSION, canonical_json, config_hash, content_hash, new_id, utcnow
from tracemill.warehouse import CATALOG, query, transaction

# --- canonical form -------------------------------------------------------------------------------


def normalize_example(ex: Example, *, author: str | None = None) -> Example:
    """The stored form of an example: JSON-pure values, UTC ``promoted_at``, a split, ``promoted_by`` set."""
    data = orjson.loads(canonical_json(ex.model_dump(mode="json")))
    if data.get("split") is None:
        data["split"] = assign_split(ex.example_id)
    if data.get("promoted_by") is None and author is not None:
        data["promoted_by"] = author
    out = Example.model_validate(data)
    if out.promoted_at is not None:
        ts = out.promoted_at
        out = out.model_copy(update={"promoted_at": ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)})
    return out


def canonical_row(ex: Example) -> dict[str, Any]:
    """The JSON-pure dict that is hashed for an example."""
    return ex.model_dump(mode="json")


def row_hash(ex: Example) -> str:
    return content_hash(canonical_row(ex))


def version_hash(examples: Iterable[Example]) -> str:
    """sha256 over the canonical rows sorted by example_id: the content hash of a version."""
    return content_hash([canonical_row(e) for e in sorted(examples, key=lambda e: e.example_id)])


# --- reading --------------------------------------------------------------------------------------

_J = ("inputs", "reference_output", "reference_trajectory", "metadata")


def _row_to_example(r: tuple) -> Example:
    (eid, inputs, ref_out, ref_traj, metadata, split, trace, cluster, run, by, at, *_rest) = r
    if at is not None:
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return Example(
        example_id=eid,
        inputs=orjson.loads(inputs),
        reference_output=None if ref_out is None else orjson.loads(ref_out),
        reference_trajectory=None if ref_traj is None else orjson.loads(ref_traj),
        metadata=orjson.loads(metadata) if metadata else {},
        split=split,
        source_trace_id=trace,
        cluster_id=cluster,
        mining_run_id=run,
        promoted_by=by,
        promoted_at=at,
    )


def _read_rows(con: duckdb.DuckDBPyConnection, name: str, version: int) -> list[Example]:
    rows = con.execute(query("datasets/examples_at_version"), [name, version, version]).fetchall()
    return [_row_to_example(r) for r in rows]


def load_examples(con: duckdb.DuckDBPyConnection, ref: str) -> tuple[DatasetVersion, list[Example]]:
    """The version ``ref`` points at and its examples (sorted by example_id), after checking the content hash.

    Raises DataError naming the version if the stored rows no longer hash to the recorded content hash.
    """
    v = resolve(con, ref)
    examples = _read_rows(con, v.name, v.version)
    ids = [e.example_id for e in examples]
    if len(set(ids)) != len(ids):
        raise DataError(
            f"dataset version {v.ref} is corrupt: an example id appears twice",
            value=sorted({i for i in ids if ids.count(i) > 1})[:10],
            fix="the dataset_examples table was edited outside tracemill; restore it or re-import the dataset",
        )
    actual = version_hash(examples)
    if actual != v.content_hash or len(examples) != v.n_examples:
        raise DataError(
            f"dataset version {v.ref} failed its integrity check: its rows were changed after it was written",
            value={"expected_hash": v.content_hash, "actual_hash": actual,
                   "expected_examples": v.n_examples, "actual_examples": len(examples)},
            fix="the dataset_examples table was edited outside tracemill; restore it (DuckLake time travel "
            f"to snapshot {v.snapshot_id}) or write a new version",
        )
    return v, examples


# --- writing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteResult:
    """What a write did: the new version (or the unchanged head) and the ids added/changed/removed."""

    version: DatasetVersion
    previous: DatasetVersion | None
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    examples: tuple[Example, ...] = field(default=(), repr=False)  # the stored form of the upserted examples

    @property
    def created(self) -> bool:
        return bool(self.added or self.changed or self.removed) or self.previous is None


def first_row(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> tuple | None:
    """First row of a query, fetching the whole result: a half-read result would keep the SQLite catalog
    locked against other processes' commits."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def head_version(con: duckdb.DuckDBPyConnection, name: str) -> int:
    """Latest version number of dataset ``name`` (0 if it has none)."""
    row = first_row(con, "SELECT max(head_version) FROM datasets WHERE name = ?", [name])
    return int(row[0] or 0) if row else 0


def _ensure_dataset(con: duckdb.DuckDBPyConnection, name: str, author: str, description: str | None) -> None:
    if first_row(con, "SELECT 1 FROM datasets WHERE name = ?", [name]):
        return
    with transaction(con, what=f"creation of dataset {name!r}"):
        if not first_row(con, "SELECT 1 FROM datasets WHERE name = ?", [name]):
            now = utcnow()
            con.execute(
                "INSERT INTO datasets VALUES (?, ?, 0, ?, ?, ?, ?)",
                [name, description, now, author, now, SCHEMA_VERSION],
            )


_ARROW_SCHEMA = pa.schema(
    [
        ("dataset_name", pa.string()), ("example_id", pa.string()), ("valid_from_version", pa.int32()),
        ("row_hash", pa.string()), ("input_key", pa.string()), ("inputs", pa.string()),
        ("reference_output", pa.string()), ("reference_trajectory", pa.string()), ("metadata", pa.string()),
        ("split", pa.string()), ("source_trace_id", pa.string()), ("cluster_id", pa.string()),
        ("mining_run_id", pa.string()), ("promoted_by", pa.string()), ("promoted_at", pa.timestamp("us", tz="UTC")),
        ("write_id", pa.string()), ("source", pa.string()), ("config_hash", pa.string()),
    ]
)


def _insert_rows(
    con: duckdb.DuckDBPyConnection, name: str, version: int, examples: Sequence[Example],
    write_id: str, source: str, cfg: str,
) -> None:
    def js(v: Any) -> str | None:
        return None if v is None else canonical_json(v).decode()

    cols: dict[str, list[Any]] = {f.name: [] for f in _ARROW_SCHEMA}
    for ex in examples:
        row = canonical_row(ex)
        for k, v in {
            "dataset_name": name, "example_id": ex.example_id, "valid_from_version": version,
            "row_hash": content_hash(row), "input_key": input_key(ex.inputs),
            "inputs": js(row["inputs"]), "reference_output": js(row["reference_output"]),
            "reference_trajectory": js(row["reference_trajectory"]), "metadata": js(row["metadata"]),
            "split": ex.split, "source_trace_id": ex.source_trace_id, "cluster_id": ex.cluster_id,
            "mining_run_id": ex.mining_run_id, "promoted_by": ex.promoted_by, "promoted_at": ex.promoted_at,
            "write_id": write_id, "source": source, "config_hash": cfg,
        }.items():
            cols[k].append(v)
    table = pa.table(cols, schema=_ARROW_SCHEMA)
    view = f"_ds_rows_{write_id[-8:]}"
    con.register(view, table)
    try:
        con.execute(
            f"""INSERT INTO dataset_examples
                SELECT dataset_name, example_id, valid_from_version, NULL, row_hash, input_key, inputs,
                       reference_output, reference_trajectory, metadata, split, source_trace_id, cluster_id,
                       mining_run_id, promoted_by, promoted_at, write_id, source, config_hash, {SCHEMA_VERSION}
                FROM {view}"""
        )
    finally:
        con.unregister(view)


def write_version(
    con: duckdb.DuckDBPyConnection,
    name: str,
    *,
    upserts: Sequence[Example] = (),
    removals: Sequence[str] = (),
    message: str,
    author: str,
    source: str = "api",
    config: Any = None,
    description: str | None = None,
) -> WriteResult:
    """Write a new immutable version = head + ``upserts`` (by example_id) - ``removals``.

    Nothing is written when nothing changes (the head is returned). The whole write is one transaction;
    a concurrent write to the same dataset raises ConflictError and leaves no trace of this one.
    """
    check_name(name)
    examples = [normalize_example(e, author=author) for e in upserts]
    ids = [e.example_id for e in examples]
    if len(set(ids)) != len(ids):
        raise DataError("the same example_id is given twice in one write",
                        value=sorted({i for i in ids if ids.count(i) > 1})[:10], fix="give each example once")
    if set(ids) & set(removals):
        raise DataError("an example is both upserted and removed", value=sorted(set(ids) & set(removals))[:10])
    _ensure_dataset(con, name, author, description)
    write_id = new_id("dsw")
    cfg = config_hash(config if config is not None else {"source": source})
    with transaction(con, what=f"write of dataset {name!r}"):
        head = head_version(con, name)
        current = {e.example_id: e for e in _read_rows(con, name, head)} if head else {}
        added, changed, stored = [], [], []
        for ex in examples:
            old = current.get(ex.example_id)
            if old is None:
                added.append(ex.example_id)
            else:
                if ex.split != old.split and not _explicit_split(upserts, ex.example_id):
                    ex = ex.model_copy(update={"split": old.split})  # keep an example's split stable
                if row_hash(ex) == row_hash(old):
                    continue
                changed.append(ex.example_id)
            stored.append(ex)
        missing = [i for i in removals if i not in current]
        if missing:
            raise NotFoundError(
                f"cannot remove examples that are not in {name}@v{head}",
                value=missing[:10],
                fix=f"{len(current)} examples exist; see `tracemill datasets show {name}`",
            )
        removed = list(dict.fromkeys(removals))
        if head and not (added or changed or removed):
            prev = resolve(con, f"{name}@v{head}")
            return WriteResult(version=prev, previous=prev)
        version = head + 1
        final = dict(current)
        for i in removed:
            final.pop(i)
        for ex in stored:
            final[ex.example_id] = ex
        digest = version_hash(final.values())
        closing = changed + removed
        if closing:
            con.execute(
                "UPDATE dataset_examples SET valid_to_version = ? WHERE dataset_name = ? "
                "AND valid_to_version IS NULL AND list_contains(?, example_id)",
                [version, name, closing],
            )
        if stored:
            _insert_rows(con, name, version, stored, write_id, source, cfg)
        now = utcnow()
        commit_key = canonical_json({"dataset": name, "version": version, "write_id": write_id}).decode()
        con.execute(
            "INSERT INTO dataset_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [name, version, digest, head or None, len(final), len(added), len(removed), len(changed),
             message, author, now, commit_key, write_id, source, cfg, SCHEMA_VERSION],
        )
        # Updating the head row makes two concurrent writers of this dataset conflict (DuckLake refuses two
        # commits that both rewrite it), so one version number is never claimed twice.
        con.execute("UPDATE datasets SET head_version = ?, updated_at = ? WHERE name = ?", [version, now, name])
        con.execute(
            f"CALL {CATALOG}.set_commit_message(?, ?, extra_info => ?)",
            [author, f"dataset {name} v{version}: {message}"[:500], commit_key],
        )
    by_number = {v.version: v for v in list_versions(con, name)}
    prev, new = by_number.get(head), by_number[version]
    return WriteResult(
        version=new, previous=prev, added=tuple(added), changed=tuple(changed), removed=tuple(removed),
        examples=tuple(stored),
    )


def _explicit_split(upserts: Sequence[Example], example_id: str) -> bool:
    return any(e.example_id == example_id and e.split is not None for e in upserts)


def add_examples(
    con: duckdb.DuckDBPyConnection, name: str, examples: list[Example], *, message: str, author: str
) -> DatasetVersion:
    """Add (or replace, by example_id) examples in dataset ``name``, creating it if needed.

    Returns the new immutable version (or the unchanged head if nothing changed). Examples without a split
    get a stable hash-based one; ``promoted_by`` defaults to ``author``.
    """
    return write_version(con, name, upserts=examples, message=message, author=author).version


def remove_examples(
    con: duckdb.DuckDBPyConnection, name: str, example_ids: list[str], *, message: str, author: str
) -> DatasetVersion:
    """A new version of ``name`` without ``example_ids``."""
    list_versions(con, name)  # NotFoundError for an unknown dataset
    return write_version(con, name, removals=example_ids, message=message, author=author).version

"""Movable tags (e.g. ``prod``, ``candidate``) pointing at dataset versions, with their full history."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import duckdb

from tracemill.datasets.versions import DatasetVersion, current_tags, list_versions, resolve, split_ref
from tracemill.errors import ConfigError, NotFoundError
from tracemill.lineage import SCHEMA_VERSION, utcnow
from tracemill.warehouse import transaction

_TAG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")


@dataclass(frozen=True)
class TagMove:
    """One entry of a tag's history; ``version`` None means the tag was deleted."""

    tag: str
    version: int | None
    set_at: datetime
    set_by: str | None
    note: str | None


def _check_tag(tag: str) -> str:
    if not _TAG_RE.match(tag or "") or re.match(r"^v\d+$", tag) or tag == "latest":
        raise ConfigError(
            "invalid tag name",
            value=tag,
            fix="start with a letter, use letters/digits/_ . -, and not vN or 'latest' (e.g. prod, candidate)",
        )
    return tag


def set_tag(con: duckdb.DuckDBPyConnection, ref: str, tag: str, *, author: str, note: str | None = None) -> DatasetVersion:
    """Point ``tag`` at the version ``ref`` resolves to (moving it if it exists). Returns that version."""
    _check_tag(tag)
    v = resolve(con, ref)
    with transaction(con, what=f"tag {tag!r} of dataset {v.name!r}"):
        con.execute(
            "INSERT INTO dataset_tags VALUES (?, ?, ?, ?, ?, ?, ?)",
            [v.name, tag, v.version, utcnow(), author, note, SCHEMA_VERSION],
        )
    return v


def delete_tag(con: duckdb.DuckDBPyConnection, name: str, tag: str, *, author: str) -> None:
    """Remove ``tag`` from dataset ``name`` (kept in the history)."""
    tags = current_tags(con, name)
    if tag not in tags:
        raise NotFoundError(f"dataset {name!r} has no tag {tag!r}", value=tag, fix=f"existing tags: {sorted(tags) or '(none)'}")
    with transaction(con, what=f"tag deletion on {name!r}"):
        con.execute("INSERT INTO dataset_tags VALUES (?, ?, NULL, ?, ?, 'deleted', ?)", [name, tag, utcnow(), author, SCHEMA_VERSION])


def tags(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, int]:
    """Current tag -> version number of dataset ``name``."""
    name, _ = split_ref(name)
    list_versions(con, name)
    return current_tags(con, name)


def tag_history(con: duckdb.DuckDBPyConnection, name: str, tag: str | None = None) -> list[TagMove]:
    """Every move of the dataset's tags (or of one tag), oldest first."""
    list_versions(con, name)
    rows = con.execute(
        "SELECT tag, version, set_at, set_by, note FROM dataset_tags WHERE dataset_name = ? "
        "AND (? IS NULL OR tag = ?) ORDER BY set_at, tag",
        [name, tag, tag],
    ).fetchall()
    return [TagMove(r[0], r[1], r[2], r[3], r[4]) for r in rows]

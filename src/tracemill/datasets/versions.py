"""Dataset versions and references: ``NAME``, ``NAME@v3``, ``NAME@<hash prefix>``, ``NAME@<tag>``, ``NAME@<timestamp>``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from tracemill.errors import ConfigError, NotFoundError
from tracemill.warehouse import query

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_VERSION_RE = re.compile(r"^v(\d+)$")
_HEX_RE = re.compile(r"^[0-9a-f]{4,64}$")


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable version of a dataset: its number, content hash and the DuckLake snapshot that wrote it."""

    name: str
    version: int
    content_hash: str
    snapshot_id: int
    created_at: datetime
    n_examples: int
    message: str

    @property
    def ref(self) -> str:
        """The exact reference of this version, e.g. ``support@v3``."""
        return f"{self.name}@v{self.version}"

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]


def check_name(name: str) -> str:
    """Validate a dataset name (letters, digits, ``_ . -``)."""
    if not NAME_RE.match(name or ""):
        raise ConfigError(
            "invalid dataset name",
            value=name,
            fix="use letters, digits, '_', '.' or '-' (starting with a letter or digit), e.g. support-golden",
        )
    return name


def split_ref(ref: str) -> tuple[str, str | None]:
    """``"name@rest"`` -> ``("name", "rest")``; ``"name"`` -> ``("name", None)``."""
    name, sep, rest = (ref or "").strip().partition("@")
    if sep and not rest:
        raise ConfigError("empty version after '@'", value=ref, fix="use NAME, NAME@v3, NAME@<tag>, NAME@<hash> or NAME@<time>")
    return check_name(name), (rest if sep else None)


def dataset_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT DISTINCT name FROM datasets WHERE head_version > 0 ORDER BY name").fetchall()]


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def list_versions(con: duckdb.DuckDBPyConnection, name: str) -> list[DatasetVersion]:
    """All versions of ``name``, oldest first (raises NotFoundError for an unknown dataset)."""
    rows = con.execute(query("datasets/versions"), [name]).fetchall()
    if not rows:
        known = dataset_names(con)
        raise NotFoundError(
            f"no dataset named {name!r}",
            value=name,
            fix=f"existing datasets: {', '.join(known) if known else '(none yet: promote or import one)'}",
        )
    seen: set[int] = set()
    out = []
    for r in rows:
        if r[1] in seen:  # defensive: a duplicated version number means a broken write
            from tracemill.errors import DataError

            raise DataError(f"dataset {name!r} has two rows for version v{r[1]}", value=r[1], fix="report this bug")
        seen.add(r[1])
        out.append(
            DatasetVersion(
                name=r[0], version=int(r[1]), content_hash=r[2], snapshot_id=int(r[3] or 0),
                created_at=_utc(r[4]), n_examples=int(r[5]), message=r[6] or "",
            )
        )
    return out


def current_tags(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, int]:
    """Tag -> version for the dataset's live tags."""
    return {t: int(v) for t, v, *_ in con.execute(query("datasets/current_tags"), [name]).fetchall() if v is not None}


def _parse_time(text: str) -> datetime | None:
    if not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def resolve(con: duckdb.DuckDBPyConnection, ref: str) -> DatasetVersion:
    """The version a reference points at.

    ``NAME`` (latest), ``NAME@v3``, ``NAME@<tag>`` (e.g. prod), ``NAME@<hash prefix>`` (>= 4 hex chars),
    ``NAME@<ISO timestamp>`` (the latest version created at or before it). Tags win over hash prefixes.
    """
    name, rest = split_ref(ref)
    versions = list_versions(con, name)
    listing = ", ".join(f"v{v.version} ({v.short_hash})" for v in versions)
    if rest is None or rest == "latest":
        return versions[-1]
    m = _VERSION_RE.match(rest)
    if m:
        for v in versions:
            if v.version == int(m.group(1)):
                return v
        raise NotFoundError(f"dataset {name!r} has no version {rest}", value=ref, fix=f"existing versions: {listing}")
    tags = current_tags(con, name)
    if rest in tags:
        return next(v for v in versions if v.version == tags[rest])
    if _HEX_RE.match(rest.lower()):
        hits = [v for v in versions if v.content_hash.startswith(rest.lower())]
        # The same content can recur (e.g. after a revert): the prefix then names the latest such version.
        if len({v.content_hash for v in hits}) > 1:
            raise ConfigError(
                f"hash prefix {rest!r} is ambiguous in dataset {name!r}",
                value=[v.ref for v in hits],
                fix="give more characters of the content hash",
            )
        if hits:
            return hits[-1]
    ts = _parse_time(rest)
    if ts is not None:
        before = [v for v in versions if v.created_at <= ts]
        if before:
            return before[-1]
        raise NotFoundError(
            f"dataset {name!r} has no version at or before {ts.isoformat()}",
            value=ref,
            fix=f"its first version was created at {versions[0].created_at.isoformat()}",
        )
    tag_list = ", ".join(f"{t}->v{v}" for t, v in sorted(tags.items())) or "(none)"
    raise NotFoundError(
        f"dataset {name!r} has no version, tag or hash matching {rest!r}",
        value=ref,
        fix=f"existing versions: {listing}; tags: {tag_list}",
    )

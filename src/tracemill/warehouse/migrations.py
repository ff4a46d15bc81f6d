"""Versioned schema migrations with a ``schema_migrations`` table inside the lake.

A migration is a folder ``warehouse/migrations/NNNN_name/`` of ``.sql`` files, one table or view
per file, applied in file-name order inside one transaction. Applied migrations are recorded with
a checksum; editing an applied migration is refused rather than silently diverging.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tracemill.errors import ConfigError, ConflictError
from tracemill.warehouse.sqlfiles import sql_root

_DIR = re.compile(r"^(\d{4})_([a-z0-9_]+)$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    files: tuple[Path, ...]

    @property
    def checksum(self) -> str:
        h = hashlib.sha256()
        for f in self.files:
            h.update(f.name.encode())
            h.update(f.read_bytes())
        return h.hexdigest()[:16]


def discover(root: Path | None = None) -> list[Migration]:
    """All migrations under ``warehouse/migrations`` in version order."""
    base = (root or sql_root()) / "migrations"
    found: list[Migration] = []
    for d in sorted(p for p in base.iterdir() if p.is_dir()):
        m = _DIR.match(d.name)
        if not m:
            raise ConfigError(
                "migration folder name must look like NNNN_name",
                value=d.name,
                fix="rename it, e.g. 0007_add_column",
            )
        found.append(Migration(int(m.group(1)), m.group(2), tuple(sorted(d.glob("*.sql")))))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ConfigError("two migrations share a version number", value=versions)
    return found


_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    checksum VARCHAR NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
)
"""


def applied(con: duckdb.DuckDBPyConnection) -> dict[int, str]:
    con.execute(_BOOTSTRAP)
    return {v: c for v, c in con.execute("SELECT version, checksum FROM schema_migrations").fetchall()}


def migrate(con: duckdb.DuckDBPyConnection, *, attempts: int = 5) -> list[int]:
    """Apply pending migrations; returns the versions applied by this call."""
    done: list[int] = []
    for migration in discover():
        for attempt in range(attempts):
            have = applied(con)
            if migration.version in have:
                if have[migration.version] != migration.checksum:
                    raise ConfigError(
                        f"migration {migration.version:04d}_{migration.name} changed after it was applied",
                        value=migration.checksum,
                        fix="never edit an applied migration; add a new NNNN_ folder instead",
                    )
                break
            try:
                con.execute("BEGIN TRANSACTION")
                for f in migration.files:
                    con.execute(f.read_text())
                con.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?, now())",
                    [migration.version, migration.name, migration.checksum],
                )
                con.execute("COMMIT")
                done.append(migration.version)
                break
            except duckdb.Error as exc:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:
                    pass  # a failed COMMIT has already ended the transaction
                text = str(exc).lower()
                racing = "conflict" in text or "database is locked" in text
                # Another process migrating (or committing) at the same moment: re-read and try again.
                if not racing:
                    raise
                if attempt == attempts - 1:
                    raise ConflictError(
                        "could not apply a migration while another process was writing the catalog",
                        value=migration.name,
                        fix="run the command again",
                    ) from exc
                time.sleep(0.1 * 2**attempt)
    return done


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    have = applied(con)
    return max(have) if have else 0

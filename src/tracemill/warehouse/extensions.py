"""Load DuckDB's signed extensions from their PyPI packages, offline, signatures checked.

The ``duckdb-extension-*`` wheels ship the signed binaries DuckDB itself distributes. We LOAD
them by path; ``allow_unsigned_extensions`` stays false so DuckDB verifies each signature, and
auto-install/auto-load stay off so nothing is ever fetched from the network.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import duckdb

from tracemill.errors import ConfigError

# extension name -> the PyPI package that ships it. The file name must match the entry point
# DuckDB looks for, which is why the SQLite scanner comes from -sqlite-scanner, not -sqlite.
PACKAGES: dict[str, str] = {
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
    "ducklake": "duckdb_extension_ducklake",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    "httpfs": "duckdb_extension_httpfs",
}

SAFE_CONFIG: dict[str, object] = {
    "allow_unsigned_extensions": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def extension_path(name: str) -> Path:
    """Path of the signed ``NAME.duckdb_extension`` inside its PyPI package."""
    try:
        package = PACKAGES[name]
    except KeyError:
        raise ConfigError(
            "unknown DuckDB extension", value=name, fix=f"use one of {sorted(PACKAGES)}"
        ) from None
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise ConfigError(
            f"the package for DuckDB extension {name!r} is not installed",
            value=package,
            fix=f"install {package.replace('_', '-')}=={duckdb.__version__} (make install does)",
        ) from None
    path = Path(next(iter(module.__path__))) / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.exists():
        raise ConfigError(
            f"extension binary for DuckDB {duckdb.__version__} not found",
            value=str(path),
            fix=f"pin {package.replace('_', '-')} to the same version as duckdb",
        )
    return path


def load(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """LOAD each extension from its package path (a no-op for already loaded ones)."""
    loaded = {
        row[0]
        for row in con.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE loaded"
        ).fetchall()
    }
    for name in names:
        if name in loaded:
            continue
        # LOAD takes a literal path, not a parameter; the path comes from our package table.
        con.execute(f"LOAD '{extension_path(name).as_posix()}'")


def connect_plain(database: str = ":memory:", **config: object) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with safe extension settings (no auto-install, signatures on)."""
    return duckdb.connect(database, config={**SAFE_CONFIG, **config})

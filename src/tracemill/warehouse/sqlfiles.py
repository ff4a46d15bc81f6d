"""Find the SQL files under ``warehouse/``: migrations, named queries and user rules."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tracemill.errors import ConfigError
from tracemill.settings import PROJECT_ROOT


def sql_root() -> Path:
    """The ``warehouse/`` folder of SQL (the repo's, or the copy packaged into the wheel)."""
    packaged = Path(__file__).resolve().parents[1] / "_sql"
    return packaged if packaged.is_dir() else PROJECT_ROOT / "warehouse"


@lru_cache(maxsize=256)
def query(name: str) -> str:
    """Text of ``warehouse/queries/NAME.sql`` (NAME may contain a stage folder, e.g. ``ingest/rollup``)."""
    path = sql_root() / "queries" / f"{name}.sql"
    if not path.is_file():
        raise ConfigError("named SQL query not found", value=str(path), fix="check the query name")
    return path.read_text()

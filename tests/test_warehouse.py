"""The warehouse opens offline with signed extensions and applies its migrations once."""

from __future__ import annotations

import pytest

from tracemill.errors import ConfigError
from tracemill.warehouse import connect, current_version
from tracemill.warehouse.extensions import extension_path
from tracemill.warehouse.migrations import discover


def test_signed_extensions_only(con):
    assert con.execute("SELECT current_setting('allow_unsigned_extensions')").fetchone()[0] is False
    assert con.execute("SELECT current_setting('autoinstall_known_extensions')").fetchone()[0] is False
    loaded = {r[0] for r in con.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()}
    assert {"ducklake", "sqlite_scanner"} <= loaded


def test_extension_files_come_from_packages():
    for name in ["ducklake", "sqlite_scanner", "postgres_scanner", "httpfs"]:
        p = extension_path(name)
        assert p.name == f"{name}.duckdb_extension" and "site-packages" in str(p)
    with pytest.raises(ConfigError):
        extension_path("sqlite")


def test_migrations_apply_once_and_record_version(settings):
    c1 = connect(settings)
    latest = max(m.version for m in discover())
    assert current_version(c1) == latest
    n = c1.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
    c1.close()
    c2 = connect(settings)
    assert c2.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == n
    c2.close()


def test_every_sql_file_states_its_grain():
    for m in discover():
        for f in m.files:
            head = f.read_text().splitlines()[:3]
            assert any(line.startswith("-- grain:") for line in head), f

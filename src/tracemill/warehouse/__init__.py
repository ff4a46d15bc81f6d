"""The DuckLake warehouse: connection, migrations and named SQL."""

from tracemill.warehouse.connection import (
    CATALOG,
    attach_sql,
    connect,
    retry_on_conflict,
    snapshot_id,
    transaction,
    writer_lock,
)
from tracemill.warehouse.migrations import current_version, migrate
from tracemill.warehouse.sqlfiles import query, sql_root

__all__ = [
    "CATALOG",
    "attach_sql",
    "connect",
    "current_version",
    "migrate",
    "query",
    "retry_on_conflict",
    "snapshot_id",
    "sql_root",
    "transaction",
    "writer_lock",
]

"""``tracemill sql "QUERY"`` and ``tracemill warehouse``: query the warehouse, print a table."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from tracemill.cli import app
from tracemill.errors import ConfigError

console = Console()


def render_table(columns: list[str], rows: list[tuple], *, title: str | None = None, max_width: int = 60) -> Table:
    """A rich table of query results (cells truncated to ``max_width`` characters)."""
    table = Table(title=title, show_lines=False)
    for c in columns:
        table.add_column(c, overflow="fold")
    for row in rows:
        cells = []
        for v in row:
            s = "" if v is None else str(v)
            cells.append(s if len(s) <= max_width else s[: max_width - 1] + "…")
        table.add_row(*cells)
    return table


@app.command("sql")
def sql(
    query: str = typer.Argument(..., help="SQL to run against the warehouse (tables: spans, traces, …)"),
    limit: int = typer.Option(100, help="Rows to print at most"),
    csv: bool = typer.Option(False, "--csv", help="Print CSV instead of a table"),
) -> None:
    """Run SQL against the warehouse and print the result."""
    import duckdb

    from tracemill.warehouse import connect

    con = connect()
    try:
        rel = con.sql(query)
    except duckdb.Error as exc:
        raise ConfigError("the query failed", value=query, fix=str(exc).splitlines()[0]) from None
    if rel is None:  # a statement without a result
        console.print("ok")
        return
    rows = rel.fetchmany(limit)
    if csv:
        import csv as _csv
        import sys

        w = _csv.writer(sys.stdout)
        w.writerow(rel.columns)
        w.writerows(rows)
        return
    console.print(render_table(list(rel.columns), rows))


@app.command("warehouse")
def warehouse_info() -> None:
    """Show where the warehouse is and how to attach it from the DuckDB CLI or Python."""
    from tracemill.settings import get_settings
    from tracemill.warehouse import attach_sql, connect, current_version
    from tracemill.warehouse.connection import _needed_extensions
    from tracemill.warehouse.extensions import extension_path

    s = get_settings()
    con = connect()
    console.print(f"catalog:        {s.catalog_uri}")
    console.print(f"data path:      {s.resolved_data_path}")
    console.print(f"schema version: {current_version(con)}")
    console.print("\nFrom the DuckDB CLI (1.5.5):")
    for name in _needed_extensions(s):
        console.print(f"  LOAD '{extension_path(name)}';", highlight=False, soft_wrap=True)
    console.print(f"  {attach_sql(s)}", highlight=False, soft_wrap=True)

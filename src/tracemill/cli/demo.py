"""``tracemill demo``: run the whole loop on the embedded warehouse and explain it."""

from __future__ import annotations

import typer
from rich.console import Console

from tracemill.cli import app


@app.command("demo")
def demo(
    fresh: bool = typer.Option(True, "--fresh/--keep", help="Start from an empty demo warehouse (default) or keep the existing one"),
    traces: int = typer.Option(3000, help="Traces per synthetic day"),
) -> None:
    """Generate two nights of synthetic agent traces and run ingest -> mine -> datasets -> evals -> gate."""
    from tracemill.demo import run_demo
    from tracemill.settings import get_settings

    console = Console()
    console.print(
        "[bold]tracemill demo[/]: a customer-support agent in production, two nights of traces, "
        "and a release decision — all on the embedded DuckLake warehouse.\n"
    )
    run_demo(get_settings(), console=console, fresh=fresh, state={"n_traces": traces})

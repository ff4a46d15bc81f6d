"""``tracemill mine``: find failure modes in the warehouse's traces and print the top clusters."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tracemill.cli import app
from tracemill.cli.sql import render_table

console = Console()


@app.command("mine")
def mine_command(
    since: str = typer.Option(None, help="Traces starting at/after this: ISO date or datetime, or '24h' / '7d'"),
    until: str = typer.Option(None, help="Traces starting before this (same forms as --since)"),
    min_cluster_size: int = typer.Option(5, help="Smaller groups of failures stay 'unclustered'"),
    top: int = typer.Option(10, help="How many clusters to print"),
) -> None:
    """Mine failing traces into failure modes (stable ids, trends, representatives) and print the largest."""
    from tracemill.mining import MiningParams, mine, top_rows
    from tracemill.mining.mine import STAGES

    params = MiningParams(min_cluster_size=min_cluster_size)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as bar:
        task = bar.add_task("mining", total=len(STAGES))

        def progress(stage: str, frac: float) -> None:
            done = STAGES.index(stage) + frac if stage in STAGES else 0
            bar.update(task, completed=done, description=f"mining: {stage}")

        result = mine(since=since, until=until, params=params, progress=progress)
    console.print(
        f"run [bold]{result.run_id}[/]: {result.n_traces_scanned} traces scanned, "
        f"{result.n_failing_traces} failing, {len(result.live_clusters)} clusters", highlight=False,
    )
    if result.signals_by_kind:
        console.print("signals: " + ", ".join(f"{k} {v}" for k, v in sorted(result.signals_by_kind.items())),
                      highlight=False)
    if result.clusters:
        console.print(render_table(["cluster", "size", "trend", "label", "example traces"],
                                   top_rows(result, top), title="Top failure modes"))
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)

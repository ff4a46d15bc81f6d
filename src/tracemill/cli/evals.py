"""``tracemill eval …``: run offline evals (this module); compare and gate live in ``cli/gate.py``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from tracemill.cli import app
from tracemill.cli.sql import render_table

eval_app = typer.Typer(help="Offline evals: run a candidate over a dataset version, compare, gate.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
console = Console()


@eval_app.command("run")
def run_cmd(
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset version: NAME@v3, NAME@tag, NAME@<hash>, NAME"),
    candidate: Path = typer.Option(..., "--candidate", "-c", help="Candidate spec YAML (target, evaluators, limits)"),
    name: str | None = typer.Option(None, "--name", help="Experiment name (default: the spec's name)"),
) -> None:
    """Run a candidate over a dataset version; an interrupted run with the same spec resumes."""
    from tracemill.evals import run_experiment
    from tracemill.settings import get_settings

    with Progress(
        TextColumn("[bold]eval[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("errors {task.fields[errors]} · cached {task.fields[cached]} · ${task.fields[cost]:.4f}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
    ) as bar:
        task = bar.add_task(dataset, total=None, errors=0, cached=0, cost=0.0)

        def progress(done: int, total: int, info: dict) -> None:
            bar.update(task, completed=done, total=total, errors=info.get("errors", 0),
                       cached=info.get("cached", 0), cost=info.get("cost_usd", 0.0))

        summary = run_experiment(get_settings(), dataset_ref=dataset, spec_path=candidate, name=name, progress=progress)
    style = {"completed": "green", "budget_exceeded": "yellow"}.get(summary.status, "red")
    console.print(
        f"experiment [bold]{summary.experiment_id}[/] [{style}]{summary.status}[/]"
        + (f" ({summary.message})" if summary.message else "")
        + f": {summary.n_results} results, {summary.n_errors} errors, {summary.n_cached} cached,"
        f" {summary.n_resumed} resumed, ${summary.total_cost_usd:.4f}"
    )
    if summary.scores:
        console.print(render_table(["key", "mean score"],
                                   [(k, "n/a" if v is None else f"{v:.3f}") for k, v in summary.scores.items()],
                                   title="scores"))
    if summary.status not in ("completed", "budget_exceeded"):
        raise typer.Exit(1)

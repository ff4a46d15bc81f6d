"""``tracemill ingest PATH... [--format F] [--map k=v,...]``: load traces into the warehouse."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tracemill.cli import app
from tracemill.cli.sql import render_table
from tracemill.errors import ConfigError

console = Console()


def parse_mapping(text: str | None) -> dict[str, str]:
    """``id=task_id,messages=traj`` -> {"id": "task_id", "messages": "traj"}."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(
                "--map takes comma-separated key=value pairs", value=text,
                fix="e.g. --map id=task_id,messages=traj,outcome=reward (or --map preset=toolbench)",
            )
        out[key.strip()] = value.strip()
    return out


def print_summary(summary) -> None:
    rows = [
        ("load", summary.load_id), ("status", summary.status), ("format", summary.format),
        ("files seen / skipped (already loaded)", f"{summary.files_seen} / {summary.files_skipped}"),
        ("records read", summary.records_seen), ("spans ingested", summary.spans_ingested),
        ("traces touched", summary.traces_touched), ("tool calls", summary.tool_calls),
        ("feedback", summary.feedback), ("duplicates skipped", summary.duplicates),
        ("quarantined", summary.quarantined),
    ]
    if summary.unknown_cost_models:
        rows.append(("models without a price", ", ".join(summary.unknown_cost_models)))
    console.print(render_table(["", "value"], rows, title="ingest"))
    if summary.quarantined:
        console.print(
            f"[yellow]{summary.quarantined} record(s) quarantined[/]: "
            f"tracemill sql \"SELECT line_no, reason, detail FROM quarantine WHERE load_id = '{summary.load_id}'\""
        )


@app.command("ingest")
def ingest(
    paths: list[str] = typer.Argument(None, help="Files, folders, globs or s3:// prefixes"),
    format: str = typer.Option("auto", "--format", "-f", help="auto, otlp-json, otlp-proto, messages, langsmith, langfuse, …"),
    map_: str = typer.Option(None, "--map", help="Field mapping for chat trajectories: id=…,messages=…,outcome=… or preset=NAME"),
    from_: str = typer.Option(None, "--from", help="Pull from a platform API instead of files: langfuse"),
    host: str = typer.Option(None, "--host", help="API base URL for --from (or LANGFUSE_HOST; keys from LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY)"),
) -> None:
    """Ingest traces. Files already loaded are skipped; bad records go to quarantine."""
    from tracemill.ingest import ingest_paths

    if from_:
        _pull(from_, host)
        return
    if not paths:
        raise ConfigError("nothing to ingest", fix="give one or more paths, or --from langfuse --host URL")
    mapping = parse_mapping(map_)
    with Progress(TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, transient=True) as bar:
        task = bar.add_task("", total=None)

        def progress(path: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=path[-60:])

        summary = ingest_paths(paths, format=format, mapping=mapping, progress=progress)
    print_summary(summary)


def _pull(name: str, host: str | None) -> None:
    if name != "langfuse":
        raise ConfigError("unknown API to pull from", value=name, fix="use --from langfuse")
    from tracemill.ingest.pull import LangfuseAPI, pull_langfuse
    from tracemill.settings import get_settings

    api = LangfuseAPI.from_env(host)  # keys from LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY
    with Progress(TextColumn("[bold]pull langfuse"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, transient=True) as bar:
        task = bar.add_task("", total=None)

        def progress(page: int, total_pages: int, n_traces: int) -> None:
            bar.update(task, completed=page, total=total_pages, description=f"{n_traces} traces")

        summary = pull_langfuse(get_settings(), api=api, progress=progress)
    print_summary(summary)

"""``make demo``: the whole loop on the embedded warehouse, explained step by step.

Night 1: the collector lands a day of traces -> ingest -> mine failure modes -> promote a dataset.
Night 2: a new day with a new failure mode -> ingest -> mine (new / growing modes) -> promote (diff)
-> offline eval of baseline and candidate -> paired comparison and release gate -> report.
Finally: SQL to try next, with its output.
"""

from __future__ import annotations

import importlib
import shutil
import time
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from tracemill.demo.context import DemoContext
from tracemill.settings import Settings

# (title, step module, state overrides applied before the step)
STEPS: list[tuple[str, str, dict]] = [
    ("Night 1 · ingest the day's traces", "step_ingest", {"night": 1, "day": date(2026, 1, 5)}),
    ("Night 1 · mine failure modes", "step_mine", {}),
    ("Night 1 · promote representatives into a golden dataset", "step_datasets", {}),
    ("Night 2 · ingest the next day", "step_ingest", {"night": 2, "day": date(2026, 1, 6)}),
    ("Night 2 · mine again: which modes are new or growing?", "step_mine", {}),
    ("Night 2 · refresh the dataset and diff it with last night", "step_datasets", {}),
    ("Release · evaluate baseline and candidate, compare, gate", "step_gate", {}),
    ("Query it yourself", "step_sql", {}),
]


def run_demo(
    settings: Settings, *, console: Console | None = None, fresh: bool = False, state: dict | None = None
) -> DemoContext:
    """Run every demo step against ``settings``' warehouse; returns the shared context."""
    console = console or Console()
    if fresh and settings.is_embedded and (settings.root / "catalog.sqlite").exists():
        _refuse_to_wipe_real_data(settings)
        shutil.rmtree(settings.root)
    workdir = settings.root / "demo"
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(console=console, settings=settings, workdir=Path(workdir), state=dict(state or {}))
    started = time.perf_counter()
    for i, (title, module, overrides) in enumerate(STEPS, 1):
        console.print(Rule(f"[bold]{i}. {title}"))
        ctx.state.update(overrides)
        step = importlib.import_module(f"tracemill.demo.{module}")
        t0 = time.perf_counter()
        step.run(ctx)
        console.print(f"[dim]({time.perf_counter() - t0:.1f}s)[/]")
    console.print(Rule())
    console.print(f"The whole loop ran in {time.perf_counter() - started:.0f}s on the warehouse at [cyan]{settings.root}[/].")
    return ctx


def _refuse_to_wipe_real_data(settings: Settings) -> None:
    from tracemill.errors import ConfigError
    from tracemill.warehouse import connect

    con = connect(settings)
    try:
        other = con.execute(
            "SELECT count(*) FROM ingest_loads WHERE source NOT LIKE ? AND source NOT LIKE 'demo:%'",
            [f"{settings.root / 'demo'}%"],
        ).fetchone()[0]
    finally:
        con.close()
    if other:
        raise ConfigError(
            "the warehouse holds data that the demo did not write; refusing to reset it",
            value=str(settings.root),
            fix="run the demo elsewhere (TRACEMILL_WAREHOUSE=/tmp/tracemill-demo make demo) or keep it (DEMO_ARGS=--keep)",
        )


__all__ = ["DemoContext", "run_demo"]

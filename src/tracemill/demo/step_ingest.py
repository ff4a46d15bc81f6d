"""Demo step: a collector's landing folder gets a day of traces; tracemill ingests it.

Reads ``state["day"]`` (a date, default 2026-01-05) and ``state["night"]`` (1 or 2).
Writes ``state["landing"]`` (the folder), ``state["ground_truth"]`` and ``state["load_id"]``.
"""

from __future__ import annotations

from datetime import date

from tracemill.cli.ingest import print_summary
from tracemill.demo.context import DemoContext
from tracemill.demo.generator import DAY1_MODES, NEXT_NIGHT_MODES, generate_day
from tracemill.ingest import ingest_paths


def run(ctx: DemoContext) -> None:
    night = ctx.state.get("night", 1)
    day = ctx.state.get("day", date(2026, 1, 5))
    landing = ctx.workdir / "landing" / day.isoformat()
    modes = DAY1_MODES if night == 1 else NEXT_NIGHT_MODES
    truth = generate_day(landing, day=day, n_traces=ctx.state.get("n_traces", 3000), modes=modes)
    # The planted labels are the demo's answer key, not production data: keep them out of the landing folder.
    answers = ctx.workdir / "ground_truth"
    answers.mkdir(exist_ok=True)
    (landing / f"ground_truth-{day.isoformat()}.jsonl").replace(answers / f"{day.isoformat()}.jsonl")
    ctx.console.print(
        f"The support agent's collector wrote {len(truth.modes)} traces for {day} as OTLP JSON lines to "
        f"[cyan]{landing}[/] (planted failure modes: "
        + ", ".join(f"{m}={n}" for m, n in sorted(truth.counts().items()) if m != "ok")
        + ")."
    )
    summary = ingest_paths([str(landing)], settings=ctx.settings)
    print_summary(summary)
    if summary.files_skipped and not summary.spans_ingested:
        ctx.console.print("[dim]These files were loaded by an earlier run, so nothing was added (ingest is idempotent).[/]")
    ctx.state.update(landing=landing, ground_truth=truth, load_id=summary.load_id)

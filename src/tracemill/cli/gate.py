"""``tracemill eval compare``, ``tracemill eval gate`` and ``tracemill eval post`` (on the ``eval`` group)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from tracemill.cli.evals import eval_app
from tracemill.cli.sql import render_table

console = Console()


def _print_run(run) -> None:  # a report.GateRun
    from tracemill.report.markdown import headline, stats_rows

    c = run.comparison
    level = f"{c.confidence:.0%}"
    console.print(f"[bold]{headline(c, run.gate, emoji=False).replace('`', '')}[/]", highlight=False)
    console.print(f"{c.n_examples} paired examples" + (f" on {c.dataset_ref}" if c.dataset_ref else ""), highlight=False)
    rows = [(m.key, f"{m.baseline_mean:.3f} → {m.candidate_mean:.3f}",
             f"{m.delta * 100:+.1f} [{m.ci_low * 100:+.1f}, {m.ci_high * 100:+.1f}]", f"{m.p_value:.3g} {m.test}",
             f"{m.n_regressions} / {m.n_improvements}") for m in c.metrics]
    console.print(render_table(["evaluator", "baseline → candidate", f"Δ pts [{level} CI]", "p (test)", "regressed / improved"],
                               rows, title="Scores (candidate − baseline, points)"))
    regs = c.regressions
    if regs:
        console.print(render_table(
            ["example", "evaluator", "baseline", "candidate", "cluster", "split", "source trace"],
            [(e.example_id, e.key, f"{e.baseline_score:.2f}", f"{e.candidate_score:.2f}", e.cluster_id, e.split,
              e.source_trace_id) for e in regs[:15]],
            title=f"Regressions ({len(regs)}{', first 15' if len(regs) > 15 else ''})"))
    console.print(render_table(["", "baseline", "candidate", "Δ"], stats_rows(c), title="Cost and latency"))
    if run.gate is not None:
        for ch in sorted(run.gate.checks, key=lambda x: x.passed):
            console.print(f"  {'[green]pass[/]' if ch.passed else '[red]FAIL[/]'}  {ch.reason}", highlight=False)
    console.print(f"report: {run.report.html}", highlight=False, soft_wrap=True)
    for o in run.delivery.outcomes:
        console.print(f"posted to {o.target} {o.destination}: {o.status}" + (f" ({o.error})" if o.error else ""),
                      highlight=False)


@eval_app.command("compare")
def compare_cmd(
    baseline: str = typer.Argument(..., help="Baseline experiment id"),
    candidate: str = typer.Argument(..., help="Candidate experiment id (same dataset version)"),
    confidence: float = typer.Option(0.80, help="Two-sided CI level of the paired differences"),
) -> None:
    """Paired comparison of two experiments: per-evaluator deltas with CIs, regressions, cost and latency."""
    from tracemill.report import run_gate
    from tracemill.settings import get_settings
    from tracemill.warehouse import connect

    settings = get_settings()
    con = connect(settings)
    try:
        with console.status("comparing…"):
            run = run_gate(con, settings, baseline_id=baseline, candidate_id=candidate, confidence=confidence)
    finally:
        con.close()
    _print_run(run)


@eval_app.command("gate")
def gate_cmd(
    baseline: str = typer.Option(..., "--baseline", help="Baseline experiment id"),
    candidate: str = typer.Option(..., "--candidate", help="Candidate experiment id"),
    policy: Path = typer.Option(..., "--policy", help="Gate policy YAML (see examples/policies/)"),
    post_to: list[str] = typer.Option([], "--post-to", help="github:OWNER/REPO#PR or slack (repeatable)"),
) -> None:
    """Judge the candidate against the baseline with a policy; exits 1 when the gate fails (for CI)."""
    from tracemill.gate import load_policy
    from tracemill.report import run_gate
    from tracemill.settings import get_settings
    from tracemill.warehouse import connect

    pol = load_policy(policy)
    settings = get_settings()
    con = connect(settings)
    try:
        with console.status("comparing and gating…"):
            run = run_gate(con, settings, baseline_id=baseline, candidate_id=candidate, policy=pol, post_to=post_to)
    finally:
        con.close()
    _print_run(run)
    assert run.gate is not None
    console.print("[bold green]GATE PASSED[/]" if run.gate.passed else "[bold red]GATE FAILED[/]")
    if not run.gate.passed:
        raise typer.Exit(1)


@eval_app.command("post")
def post_cmd(
    include_failed: bool = typer.Option(False, "--include-failed", help="Also resend posts that were given up on"),
) -> None:
    """Send posts still waiting in the outbox (GITHUB_TOKEN / SLACK_WEBHOOK_URL from the environment)."""
    from tracemill.report import deliver, senders
    from tracemill.warehouse import connect

    con = connect()
    try:
        report = deliver(con, senders(), include_failed=include_failed)
    finally:
        con.close()
    rows = [(o.post_id, o.target, o.destination, o.status, o.attempts, o.error or "") for o in report.outcomes]
    console.print(render_table(["post", "target", "destination", "status", "attempts", "error"], rows, title="Outbox"))
    if any(o.status in ("pending", "failed") for o in report.outcomes):
        raise typer.Exit(1)

"""Demo step: evaluate a baseline and a candidate of the demo support agent on the promoted dataset,
compare them example by example, and judge the release gate.

The demo agent is a small deterministic stand-in (no LLM, fully offline) that routes each request to
the tools its intent needs. ``v1`` (the baseline) understands English keywords only; ``v2`` (the
candidate) also understands Spanish, French and German, but "optimises" refunds by skipping the
order lookup when the message does not say "order" -- a regression the gate should catch.
Two evaluators score them: ``right_tools`` (binary: exactly the tools the intent needs) and ``brevity``
(numeric). The policy gates both and forbids any regression on examples tagged ``premium``.

Reads ``state["dataset_ref"]`` (exact ref of the promoted dataset, e.g. ``support-golden@v2``).
Writes ``state["baseline_experiment_id"]``, ``state["candidate_experiment_id"]``, ``state["comparison_id"]``,
``state["gate_id"]``, ``state["gate_passed"]`` and ``state["report_html"]`` (path of the HTML report).
"""

from __future__ import annotations

from pathlib import Path

from tracemill.cli.sql import render_table
from tracemill.demo.context import DemoContext

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
POLICY = str(EXAMPLES / "policies" / "demo.yaml")


def run(ctx: DemoContext) -> None:
    from tracemill.report import run_release_gate

    console = ctx.console
    ref = ctx.state.get("dataset_ref")
    if not ref:
        console.print("No promoted dataset in this demo run (state['dataset_ref'] is missing); skipping the gate.")
        return
    base = str(EXAMPLES / "candidates" / "support-agent-v1.yaml")
    cand = str(EXAMPLES / "candidates" / "support-agent-v2.yaml")
    console.print(f"Running the demo agent v1 (baseline) and v2 (candidate) over [bold]{ref}[/] …", highlight=False)
    result = run_release_gate(ctx.settings, dataset_ref=ref, candidate_spec=cand, baseline=base, policy=POLICY)
    run_, c, gate = result.run, result.run.comparison, result.run.gate
    assert gate is not None
    rows = [(m.key, f"{m.baseline_mean:.2f} → {m.candidate_mean:.2f}", f"{m.delta * 100:+.1f} pts",
             f"[{m.ci_low * 100:+.1f}, {m.ci_high * 100:+.1f}]", f"{m.n_regressions} / {m.n_improvements}")
            for m in c.metrics]
    console.print(render_table(["evaluator", "baseline → candidate", "Δ", f"{c.confidence:.0%} CI", "regressed / improved"],
                               rows, title=f"Paired comparison on {c.n_examples} examples of {result.dataset_ref}"))
    regs = [e for e in c.regressions if e.key == "right_tools"]
    if regs:
        console.print(render_table(["example", "cluster", "source trace", "tags"],
                                   [(e.example_id, e.cluster_id, e.source_trace_id, ", ".join(e.tags)) for e in regs[:5]],
                                   title=f"Regressions on right_tools ({len(regs)}; first 5), with their lineage"))
    verdict = "[bold green]PASSED[/]" if gate.passed else "[bold red]FAILED[/]"
    console.print(f"Release gate {verdict} (policy: lower {c.confidence:.0%} CI bound of each paired difference above "
                  "−3 pts; no regression on examples tagged 'premium'):")
    for reason in gate.reasons:
        console.print(f"  • {reason}", highlight=False)
    console.print(f"HTML report: [cyan]{run_.report.html}[/]  (Markdown next to it; stored in tables comparisons, "
                  "comparison_examples, gate_results)", highlight=False)
    ctx.state.update(baseline_experiment_id=result.baseline_experiment_id,
                     candidate_experiment_id=result.candidate_experiment_id, comparison_id=c.comparison_id,
                     gate_id=gate.gate_id, gate_passed=gate.passed, report_html=str(run_.report.html))

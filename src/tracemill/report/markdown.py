"""Markdown for a comparison and its gate decision: the PR comment, the report file, the artifact."""

from __future__ import annotations

from typing import Any

from tracemill.gate.compare import Comparison, RunStats
from tracemill.gate.policy import GateResult

MAX_ROWS = 20


def _pts(x: float) -> str:
    return f"{x * 100:+.1f}"


def _score(x: float) -> str:
    return f"{x:.3f}"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ") if text is not None else "—"


def _fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{unit}{value:,.{digits}f}" if unit == "$" else f"{value:,.{digits}f}{unit}"


def _delta(new: float | None, old: float | None, unit: str = "", digits: int = 0) -> str:
    if new is None or old is None:
        return "—"
    d = new - old
    pct = f" ({d / old * 100:+.0f}%)" if old else ""
    return (f"{'+' if d >= 0 else '-'}{unit}{abs(d):,.{digits}f}" if unit == "$" else f"{d:+,.{digits}f}{unit}") + pct


def headline(comparison: Comparison, gate: GateResult | None = None, *, emoji: bool = True) -> str:
    """One line: the verdict (if gated) and what was compared."""
    who = f"`{comparison.candidate_name or comparison.candidate_id}` vs baseline `{comparison.baseline_name or comparison.baseline_id}`"
    if gate is None:
        return f"Comparison: {who}"
    mark = ("✅ " if gate.passed else "❌ ") if emoji else ""
    return f"{mark}{'Release gate passed' if gate.passed else 'Release gate FAILED'}: {who}"


def metrics_table(comparison: Comparison) -> list[dict[str, Any]]:
    """One row per evaluator (for Prefect table artifacts and CLI output)."""
    level = f"{comparison.confidence:.0%}"
    return [
        {
            "evaluator": m.key, "kind": m.kind, "n": m.n, "baseline": round(m.baseline_mean, 4),
            "candidate": round(m.candidate_mean, 4), "delta_pts": round(m.delta * 100, 2),
            f"ci{level}_low_pts": round(m.ci_low * 100, 2), f"ci{level}_high_pts": round(m.ci_high * 100, 2),
            "test": m.test, "p_value": round(m.p_value, 4), "regressions": m.n_regressions,
            "improvements": m.n_improvements, "flaky_candidate": m.candidate_flaky,
        }
        for m in comparison.metrics
    ]


def _stats_rows(b: RunStats, c: RunStats) -> list[tuple[str, str, str, str]]:
    return [
        ("cost (total)", _fmt(b.cost_usd, "$", 4), _fmt(c.cost_usd, "$", 4), _delta(c.cost_usd, b.cost_usd, "$", 4)),
        ("cost per example", _fmt(b.cost_per_example_usd, "$", 5), _fmt(c.cost_per_example_usd, "$", 5),
         _delta(c.cost_per_example_usd, b.cost_per_example_usd, "$", 5)),
        ("latency p50", _fmt(b.latency_p50_ms, " ms"), _fmt(c.latency_p50_ms, " ms"), _delta(c.latency_p50_ms, b.latency_p50_ms, " ms")),
        ("latency p95", _fmt(b.latency_p95_ms, " ms"), _fmt(c.latency_p95_ms, " ms"), _delta(c.latency_p95_ms, b.latency_p95_ms, " ms")),
        ("tokens per example", _fmt(b.tokens_per_example, "", 1), _fmt(c.tokens_per_example, "", 1),
         _delta(c.tokens_per_example, b.tokens_per_example, "", 1)),
        ("errors", f"{b.n_errors}/{b.n_calls}", f"{c.n_errors}/{c.n_calls}", f"{c.n_errors - b.n_errors:+d}"),
    ]


def stats_rows(comparison: Comparison) -> list[tuple[str, str, str, str]]:
    """(measure, baseline, candidate, delta) rows for cost, latency, tokens and errors."""
    return _stats_rows(comparison.baseline_stats, comparison.candidate_stats)


def render_markdown(comparison: Comparison, gate: GateResult | None = None, *, report_path: str | None = None) -> str:
    """The full Markdown report (GitHub-flavoured tables)."""
    c = comparison
    level = f"{c.confidence:.0%}"
    out = [f"## {headline(c, gate)}", ""]
    ds = f"dataset `{c.dataset_ref}`" if c.dataset_ref else "the same examples"
    reps = "" if max(c.baseline_repetitions, c.candidate_repetitions) <= 1 else (
        f", repetitions {c.baseline_repetitions}/{c.candidate_repetitions} (baseline/candidate)")
    out += [f"{c.n_examples} paired examples on {ds}{reps}. Differences are candidate − baseline in points "
            f"(1 pt = 0.01 of a 0–1 score) with {level} paired-bootstrap CIs ({c.n_resamples} resamples).", ""]
    if gate is not None:
        out += ["### Gate checks", f"Policy `{gate.policy_name}` (hash `{gate.policy_hash}`):", ""]
        for ch in sorted(gate.checks, key=lambda x: x.passed):
            out.append(f"- {'✅' if ch.passed else '❌'} {ch.reason}")
        out.append("")
    out += ["### Scores", "",
            f"| Evaluator | Baseline | Candidate | Δ pts | {level} CI (pts) | Test | p | ↓ regressed | ↑ improved |",
            "|---|---:|---:|---:|---|---|---:|---:|---:|"]
    for m in c.metrics:
        out.append(
            f"| {_cell(m.key)} | {_score(m.baseline_mean)} | {_score(m.candidate_mean)} | {_pts(m.delta)} | "
            f"[{_pts(m.ci_low)}, {_pts(m.ci_high)}] | {m.test} | {m.p_value:.3g} | {m.n_regressions} | {m.n_improvements} |"
        )
    flaky = [m for m in c.metrics if m.baseline_flaky or m.candidate_flaky]
    if flaky:
        out += ["", "Flaky examples (score varied across repetitions): "
                + ", ".join(f"{m.key}: {m.baseline_flaky} → {m.candidate_flaky}" for m in flaky)]
    regs = c.regressions
    out += ["", f"### Regressions ({len(regs)})", ""]
    if regs:
        out += ["| Example | Evaluator | Baseline → Candidate | Cluster | Split | Source trace | Tags |",
                "|---|---|---|---|---|---|---|"]
        for e in regs[:MAX_ROWS]:
            out.append(f"| {_cell(e.example_id)} | {_cell(e.key)} | {_score(e.baseline_score)} → {_score(e.candidate_score)} | "
                       f"{_cell(e.cluster_id)} | {_cell(e.split)} | {_cell(e.source_trace_id)} | {_cell(', '.join(e.tags) or None)} |")
        if len(regs) > MAX_ROWS:
            out.append(f"\n…and {len(regs) - MAX_ROWS} more (see the HTML report or the comparison_examples table).")
    else:
        out.append("None.")
    imps = c.improvements
    out += ["", f"Improvements: {len(imps)}" + (": " + ", ".join(f"{e.example_id} ({e.key})" for e in imps[:10]) if imps else "")
            + (" …" if len(imps) > 10 else "")]
    out += ["", "### Cost and latency", "", "| | Baseline | Candidate | Δ |", "|---|---:|---:|---:|"]
    out += [f"| {a} | {b} | {cc} | {d} |" for a, b, cc, d in stats_rows(c)]
    clusters = [g for g in c.breakdown if g.dimension == "cluster"]
    if clusters and not (len({g.group for g in clusters}) == 1 and clusters[0].group == "(none)"):
        out += ["", "### By failure cluster", "", "| Cluster | Evaluator | n | Baseline | Candidate | Δ pts | ↓ | ↑ |",
                "|---|---|---:|---:|---:|---:|---:|---:|"]
        ranked = sorted(clusters, key=lambda g: (g.delta, g.group))
        for g in ranked[:MAX_ROWS]:
            out.append(f"| {_cell(g.group)} | {_cell(g.key)} | {g.n} | {_score(g.baseline_mean)} | {_score(g.candidate_mean)} | "
                       f"{_pts(g.delta)} | {g.n_regressions} | {g.n_improvements} |")
    splits = [g for g in c.breakdown if g.dimension == "split" and g.group != "(none)"]
    if splits:
        out += ["", "### By split", "", "| Split | Evaluator | n | Baseline | Candidate | Δ pts |", "|---|---|---:|---:|---:|---:|"]
        out += [f"| {_cell(g.group)} | {_cell(g.key)} | {g.n} | {_score(g.baseline_mean)} | {_score(g.candidate_mean)} | {_pts(g.delta)} |"
                for g in splits]
    out += ["", f"<sub>comparison `{c.comparison_id}` · baseline `{c.baseline_id}` · candidate `{c.candidate_id}`"
            + (f" · gate `{gate.gate_id}`" if gate else "") + (f" · report `{report_path}`" if report_path else "") + "</sub>", ""]
    return "\n".join(out)


def render_slack_text(comparison: Comparison, gate: GateResult | None = None, *, report_url: str | None = None) -> str:
    """A short Slack message (mrkdwn): verdict, per-evaluator deltas, failed checks."""
    c = comparison
    lines = [headline(c, gate).replace("`", "")]
    if c.dataset_ref:
        lines.append(f"dataset {c.dataset_ref}, {c.n_examples} examples")
    for m in c.metrics:
        lines.append(f"• {m.key}: {_score(m.baseline_mean)} → {_score(m.candidate_mean)} ({_pts(m.delta)} pts, "
                     f"{c.confidence:.0%} CI [{_pts(m.ci_low)}, {_pts(m.ci_high)}]), {m.n_regressions} regressed")
    if gate is not None and not gate.passed:
        lines.append("Failed checks:")
        lines += [f"• {r}" for r in gate.reasons]
    if report_url:
        lines.append(f"Report: {report_url}")
    return "\n".join(lines)

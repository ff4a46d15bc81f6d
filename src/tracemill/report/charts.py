"""Charts for the HTML report, drawn with matplotlib into inline SVG strings (no files, no URLs)."""

from __future__ import annotations

import io
import re

import matplotlib
from matplotlib.figure import Figure

from tracemill.gate.compare import Comparison

BASE, CAND, BAD, GOOD = "#8c96a6", "#2f6fd6", "#c8423b", "#2e9d57"
_PROLOG = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*|<metadata>.*?</metadata>\s*", re.S)


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "tracemill"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    # The XML prolog, DOCTYPE (an external DTD URL) and RDF metadata are not needed inline.
    return _PROLOG.sub("", buf.getvalue())


def scores_chart(c: Comparison, margin: float | None = None) -> str:
    """Left: mean score per evaluator, baseline vs candidate. Right: paired difference with its CI."""
    keys = [m.key for m in c.metrics]
    fig = Figure(figsize=(9, 0.55 * len(keys) + 1.4))
    left, right = fig.subplots(1, 2, sharey=True)
    y = list(range(len(keys)))
    left.barh([i - 0.2 for i in y], [m.baseline_mean for m in c.metrics], height=0.4, color=BASE, label="baseline")
    left.barh([i + 0.2 for i in y], [m.candidate_mean for m in c.metrics], height=0.4, color=CAND, label="candidate")
    left.set_yticks(y, keys)
    left.invert_yaxis()
    left.set_xlabel("mean score")
    left.legend(loc="lower right", fontsize=8)
    for i, m in enumerate(c.metrics):
        color = BAD if m.ci_high < 0 else GOOD if m.ci_low > 0 else "#444444"
        right.errorbar([m.delta * 100], [i], xerr=[[(m.delta - m.ci_low) * 100], [(m.ci_high - m.delta) * 100]],
                       fmt="o", color=color, capsize=4)
    right.axvline(0, color="#999999", lw=1)
    if margin is not None:
        right.axvline(-margin * 100, color=BAD, lw=1, ls="--", label=f"allowed −{margin * 100:.1f} pts")
        right.legend(loc="lower right", fontsize=8)
    right.set_xlabel(f"candidate − baseline (pts), {c.confidence:.0%} CI")
    fig.tight_layout()
    return _svg(fig)


def cluster_chart(c: Comparison, key: str | None = None, max_groups: int = 15) -> str | None:
    """Change in mean score per failure cluster for one evaluator (the first, by default)."""
    rows = [g for g in c.breakdown if g.dimension == "cluster" and g.key == (key or (c.metrics[0].key if c.metrics else ""))]
    if not rows or all(g.group == "(none)" for g in rows):
        return None
    rows = sorted(rows, key=lambda g: g.delta)[:max_groups]
    fig = Figure(figsize=(9, 0.4 * len(rows) + 1.2))
    ax = fig.subplots()
    ax.barh([f"{g.group} (n={g.n})" for g in rows], [g.delta * 100 for g in rows],
            color=[BAD if g.delta < 0 else GOOD for g in rows])
    ax.axvline(0, color="#999999", lw=1)
    ax.invert_yaxis()
    ax.set_xlabel(f"{rows[0].key}: candidate − baseline (pts) per failure cluster")
    fig.tight_layout()
    return _svg(fig)


def cost_latency_chart(c: Comparison) -> str:
    """Latency p50/p95 and cost per example, baseline vs candidate."""
    b, k = c.baseline_stats, c.candidate_stats
    fig = Figure(figsize=(9, 2.8))
    lat, cost = fig.subplots(1, 2)
    labels = ["p50", "p95"]
    bv = [b.latency_p50_ms or 0, b.latency_p95_ms or 0]
    kv = [k.latency_p50_ms or 0, k.latency_p95_ms or 0]
    lat.bar([0 - 0.2, 1 - 0.2], bv, width=0.4, color=BASE, label="baseline")
    lat.bar([0 + 0.2, 1 + 0.2], kv, width=0.4, color=CAND, label="candidate")
    lat.set_xticks([0, 1], labels)
    lat.set_ylabel("latency (ms)")
    lat.legend(fontsize=8)
    cost.bar(["baseline", "candidate"], [b.cost_per_example_usd or 0, k.cost_per_example_usd or 0], color=[BASE, CAND])
    cost.set_ylabel("cost per example (USD)")
    fig.tight_layout()
    return _svg(fig)

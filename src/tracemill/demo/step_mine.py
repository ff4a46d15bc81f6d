"""Demo step: mine the day's failing traces into failure modes and show the morning report.

Reads ``state["day"]`` (a date: mine the traces that started that UTC day; default: all traces) and
``state["ground_truth"]`` (optional GroundTruth: prints how well the clusters recover the planted modes).
Writes ``state["mining_run_id"]``, ``state["mining_result"]`` (the MiningResult) and
``state["mining_report"]`` (path of the markdown report).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sklearn.metrics import adjusted_rand_score

from tracemill.cli.sql import render_table
from tracemill.demo.context import DemoContext
from tracemill.mining import markdown, mine, top_rows
from tracemill.warehouse import connect


def run(ctx: DemoContext) -> None:
    day = ctx.state.get("day")
    result = mine(ctx.settings, since=day, until=day + timedelta(days=1) if day else None)
    c = ctx.console
    c.print(
        f"Mining run [bold]{result.run_id}[/] scanned {result.n_traces_scanned} traces of {day or 'all days'}: "
        f"{result.n_failing_traces} failed (signals: "
        + ", ".join(f"{k} {v}" for k, v in sorted(result.signals_by_kind.items(), key=lambda kv: -kv[1]))
        + f"). They form {len(result.live_clusters)} failure modes; each keeps its id from night to night.",
        highlight=False,
    )
    c.print(render_table(["cluster", "size", "trend", "label", "example traces"], top_rows(result, 10),
                         title="Failure modes (largest first)"))
    statuses = Counter(x.status for x in result.clusters)
    c.print("Trend: " + ", ".join(f"{n} {s}" for s, n in statuses.most_common()), highlight=False)
    truth = getattr(ctx.state.get("ground_truth"), "modes", None)
    if truth:
        con = connect(ctx.settings)
        try:
            rows = con.execute("SELECT trace_id, cluster_id FROM cluster_members WHERE run_id = ?",
                               [result.run_id]).fetchall()
        finally:
            con.close()
        planted = {t for t, m in truth.items() if m != "ok"}
        found = {t for t, _ in rows}
        ari = adjusted_rand_score([truth.get(t, "ok") for t, _ in rows], [cid for _, cid in rows]) if rows else 0.0
        c.print(f"Against the generator's planted modes: {len(found & planted)}/{len(planted)} planted failures "
                f"flagged, adjusted Rand index {ari:.3f} (1.0 = perfect).", highlight=False)
    ctx.settings.reports_dir.mkdir(parents=True, exist_ok=True)
    path = ctx.settings.reports_dir / f"{result.run_id}.md"
    path.write_text(markdown(result))
    c.print(f"Morning report: [cyan]{path}[/]  ·  members: tracemill sql \"SELECT * FROM cluster_members "
            f"WHERE run_id = '{result.run_id}' AND is_representative\"", highlight=False, soft_wrap=True)
    ctx.state.update(mining_run_id=result.run_id, mining_result=result, mining_report=path)

"""Demo step: three SQL queries to try next, each printed with its output.

Reads nothing from ``state``; everything is in the warehouse.
"""

from __future__ import annotations

from tracemill.cli.sql import render_table
from tracemill.demo.context import DemoContext
from tracemill.warehouse import connect

QUERIES: list[tuple[str, str]] = [
    (
        "Tonight's failure modes, biggest first, with their trend",
        "SELECT cluster_id, status, size, label FROM latest_failure_clusters "
        "WHERE cluster_id <> 'unclustered' ORDER BY size DESC LIMIT 6",
    ),
    (
        "What the agent costs, by model (tokens -> cost via litellm's offline price map)",
        "SELECT model, sum(llm_spans) AS llm_calls, sum(input_tokens) AS input_tokens, "
        "round(sum(cost_usd), 4) AS cost_usd FROM cost_rollup GROUP BY model ORDER BY cost_usd DESC",
    ),
    (
        "Every experiment, the exact dataset version it ran on, and its mean scores",
        "SELECT e.name, e.dataset_name || '@v' || e.dataset_version AS dataset, s.key, "
        "round(s.mean_score, 3) AS mean_score, s.n_scored FROM experiments e "
        "JOIN experiment_scores s USING (experiment_id) ORDER BY e.started_at, s.key",
    ),
]


def run(ctx: DemoContext) -> None:
    con = connect(ctx.settings, migrate=False)
    try:
        for title, sql in QUERIES:
            rel = con.sql(sql)
            rows = rel.fetchall()
            ctx.console.print(f"[bold]{title}[/]\n  tracemill sql \"{sql}\"", highlight=False, soft_wrap=True)
            ctx.console.print(render_table(list(rel.columns), rows))
    finally:
        con.close()
    ctx.console.print(
        "The same tables are open to the DuckDB CLI, notebooks and BI tools: run [bold]tracemill warehouse[/] "
        "for the LOAD/ATTACH lines."
    )

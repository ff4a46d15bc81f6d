"""The morning report of a mining run: top clusters with size, trend, label and example traces."""

from __future__ import annotations

from tracemill.mining.result import ClusterSummary, MiningResult

COLUMNS = ["cluster", "size", "trend", "label", "examples"]
_ARROWS = {"new": "new ✚", "growing": "growing ↑", "stable": "stable →", "shrinking": "shrinking ↓", "gone": "gone ✕"}


def trend_text(c: ClusterSummary) -> str:
    text = _ARROWS.get(c.status, c.status)
    if c.previous_daily_rate and c.status in ("growing", "shrinking", "stable"):
        change = (c.daily_rate - c.previous_daily_rate) / c.previous_daily_rate * 100
        text += f" ({change:+.0f}%/day)"
    return text


def top_rows(result: MiningResult, n: int = 10, examples: int = 3) -> list[tuple[str, str, str, str, str]]:
    """Rows for ``COLUMNS``: the ``n`` largest clusters, then 'unclustered', then gone ones."""
    live = [c for c in result.clusters if c.status != "gone"]
    named = [c for c in live if c.cluster_id != "unclustered"][:n]
    rest = [c for c in live if c.cluster_id == "unclustered"] + [c for c in result.clusters if c.status == "gone"]
    rows = []
    for c in named + rest:
        title = c.name if c.name and c.name != c.label else c.label
        rows.append((c.cluster_id, str(c.size), trend_text(c), title,
                     ", ".join(t[:12] for t in c.representative_trace_ids[:examples])))
    return rows


def markdown(result: MiningResult, n: int = 10) -> str:
    """Markdown for the Prefect artifact and the reports folder."""
    window = f"{result.since or 'the beginning'} → {result.until or 'now'}"
    lines = [
        f"# Failure modes — mining run `{result.run_id}`",
        "",
        f"Window: {window}. Scanned **{result.n_traces_scanned}** traces; **{result.n_failing_traces}** failing "
        f"({result.n_signals} signals: "
        + (", ".join(f"{k} {v}" for k, v in sorted(result.signals_by_kind.items(), key=lambda kv: -kv[1])) or "none")
        + ").",
        "",
    ]
    if not result.clusters:
        lines.append("No failing traces in this window.")
    else:
        lines += ["| cluster | size | trend | label | example traces |", "|---|---:|---|---|---|"]
        for cid, size, trend, title, _ in top_rows(result, n):
            c = result.by_id(cid)
            ex = ", ".join(f"`{t}`" for t in c.representative_trace_ids[:3])
            desc = f"<br>{c.description}" if c.description else ""
            lines.append(f"| `{cid}` | {size} | {trend} | {_cell(title)}{_cell(desc)} | {ex} |")
    if result.notes:
        lines += ["", "Notes:"] + [f"- {n_}" for n_ in result.notes]
    lines += ["", f"Members: `SELECT * FROM cluster_members WHERE run_id = '{result.run_id}'`"]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")

"""Write the Markdown and HTML reports of a comparison under the warehouse's reports folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tracemill.gate.compare import Comparison
from tracemill.gate.policy import GateResult
from tracemill.report.html import render_html
from tracemill.report.markdown import render_markdown


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    html: Path


def write_report(reports_dir: Path, comparison: Comparison, gate: GateResult | None = None) -> ReportFiles:
    """``REPORTS/<comparison_id>/report.{md,html}``; written via a temp file so a reader never sees half."""
    folder = Path(reports_dir) / comparison.comparison_id
    folder.mkdir(parents=True, exist_ok=True)
    html_path, md_path = folder / "report.html", folder / "report.md"
    for path, text in ((md_path, render_markdown(comparison, gate, report_path=str(html_path))),
                       (html_path, render_html(comparison, gate))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return ReportFiles(markdown=md_path, html=html_path)

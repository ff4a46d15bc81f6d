"""Reports and posting: Markdown, a self-contained HTML page, PR comments, Slack, via an outbox."""

from tracemill.report.files import ReportFiles, write_report
from tracemill.report.html import render_html
from tracemill.report.markdown import metrics_table, render_markdown, render_slack_text
from tracemill.report.post import DeliveryReport, PostOutcome, deliver, enqueue, outbox
from tracemill.report.publish import GateRun, ReleaseGateRun, parse_destinations, run_gate, run_release_gate, senders

__all__ = [
    "DeliveryReport",
    "GateRun",
    "PostOutcome",
    "ReleaseGateRun",
    "ReportFiles",
    "deliver",
    "enqueue",
    "metrics_table",
    "outbox",
    "parse_destinations",
    "render_html",
    "render_markdown",
    "render_slack_text",
    "run_gate",
    "run_release_gate",
    "senders",
    "write_report",
]

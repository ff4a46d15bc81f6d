"""Failure mining: signals -> failure-mode clusters with stable ids -> representatives and a report."""

from tracemill.mining.mine import mine, parse_when
from tracemill.mining.params import MiningParams
from tracemill.mining.report import markdown, top_rows
from tracemill.mining.result import ClusterSummary, MiningResult

__all__ = ["ClusterSummary", "MiningParams", "MiningResult", "markdown", "mine", "parse_when", "top_rows"]

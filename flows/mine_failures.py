"""Nightly failure mining: signals -> failure-mode clusters with stable ids -> a markdown report artifact."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from tracemill.mining import MiningParams, markdown, mine


@flow(name="mine-failures", log_prints=True)
def mine_failures(since: str | None = None, until: str | None = None, min_cluster_size: int = 5) -> dict:
    """Mine the traces with ``since <= start_time < until`` (ISO dates/datetimes or '24h' / '7d')."""
    result = mine(since=since, until=until, params=MiningParams(min_cluster_size=min_cluster_size))
    report = markdown(result)
    get_run_logger().info(
        "mining run %s: %s failing traces in %s clusters", result.run_id, result.n_failing_traces,
        len(result.live_clusters),
    )
    create_markdown_artifact(key="failure-modes", markdown=report, description="tracemill: top failure modes")
    return {
        "run_id": result.run_id,
        "n_traces_scanned": result.n_traces_scanned,
        "n_failing_traces": result.n_failing_traces,
        "n_clusters": len(result.live_clusters),
        "clusters": [
            {"cluster_id": c.cluster_id, "size": c.size, "status": c.status, "label": c.label}
            for c in result.clusters
        ],
    }

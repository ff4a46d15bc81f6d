"""Nightly promotion: turn the latest failure clusters (or a query, or human corrections) into a new dataset version."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from tracemill.datasets.promote import promote
from tracemill.settings import get_settings


@flow(name="promote-dataset", log_prints=True)
def promote_dataset(
    dataset: str,
    policy: str = "clusters",
    k_per_cluster: int = 3,
    budget: int = 50,
    query: str | None = None,
) -> dict:
    """Promote examples into ``dataset`` with ``policy`` (clusters | query | feedback); near-duplicates are skipped.

    Writes one new immutable version (or none when nothing is new) and publishes a markdown summary.
    """
    result = promote(get_settings(), dataset, policy=policy, k_per_cluster=k_per_cluster, budget=budget,
                     query_sql=query, author="prefect:promote-dataset")
    out = result.to_dict()
    get_run_logger().info("promoted into %s: %s (+%s, %s duplicates skipped)", dataset, out["ref"], out["added"],
                          out["skipped_duplicates"])
    create_markdown_artifact(key="promote-dataset", markdown=result.to_markdown(), description="tracemill dataset promotion")
    return out

"""Nightly ingest: load the landing folder (or bucket prefix) of OTLP files into the warehouse."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from tracemill.ingest import ingest_paths


@flow(name="ingest-traces", log_prints=True)
def ingest_traces(paths: list[str], format: str = "auto", mapping: dict[str, str] | None = None) -> dict:
    """Ingest files, folders, globs or s3:// prefixes. Already-loaded files are skipped.

    Fails (after committing the good files) if a batch fails validation; that batch is quarantined.
    """
    summary = ingest_paths(paths, format=format, mapping=mapping)
    get_run_logger().info("load %s: %s spans, %s quarantined", summary.load_id, summary.spans_ingested, summary.quarantined)
    create_markdown_artifact(
        key="ingest-summary",
        markdown="\n".join(
            ["## Ingest", "", "| | |", "|---|---|"]
            + [f"| {k} | {v} |" for k, v in summary.as_dict().items() if k not in ("failed_validations",)]
        ),
        description="tracemill ingest summary",
    )
    return summary.as_dict()

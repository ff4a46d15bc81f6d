"""Offline eval: run a candidate spec over a dataset version (by hand before a release, and nightly)."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from tracemill.evals import run_experiment
from tracemill.settings import get_settings


@flow(name="offline-eval", log_prints=True)
def run_offline_eval(dataset_ref: str, candidate_spec: str, name: str | None = None) -> dict:
    """Run (or resume) the experiment for ``candidate_spec`` over ``dataset_ref`` and publish its scores."""
    summary = run_experiment(get_settings(), dataset_ref=dataset_ref, spec_path=candidate_spec, name=name)
    get_run_logger().info("experiment %s %s: %s results, %s errors, $%.4f", summary.experiment_id, summary.status,
                          summary.n_results, summary.n_errors, summary.total_cost_usd)
    create_markdown_artifact(key="offline-eval", markdown=summary.to_markdown(), description="tracemill offline eval")
    return {
        "experiment_id": summary.experiment_id,
        "status": summary.status,
        "n_results": summary.n_results,
        "n_errors": summary.n_errors,
        "total_cost_usd": summary.total_cost_usd,
        "scores": summary.scores,
    }

"""Release gate: run a candidate (and a baseline spec) over one dataset version, compare, gate, post.

Triggered by hand before a release. Secrets: ``github_token_secret`` / ``slack_webhook_secret``
name Prefect Secret blocks; without them GITHUB_TOKEN / SLACK_WEBHOOK_URL from the environment
are used. Posts that fail stay in the outbox (``tracemill eval post`` resends them).
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.secrets import secret
from tracemill.report import metrics_table, run_release_gate
from tracemill.settings import get_settings


@flow(name="release-gate", log_prints=True)
def release_gate(
    dataset_ref: str,
    candidate_spec: str,
    baseline: str,
    policy: str,
    post_to: list[str] | None = None,
    github_token_secret: str | None = None,
    slack_webhook_secret: str | None = None,
) -> dict:
    """Gate ``candidate_spec`` against ``baseline`` (an experiment id or a spec path) with ``policy``."""
    logger = get_run_logger()
    result = run_release_gate(
        get_settings(), dataset_ref=dataset_ref, candidate_spec=candidate_spec, baseline=baseline, policy=policy,
        post_to=post_to, github_token=secret(github_token_secret), slack_webhook_url=secret(slack_webhook_secret),
    )
    run = result.run
    assert run.gate is not None
    create_markdown_artifact(key="release-gate", markdown=run.markdown, description="tracemill release gate")
    create_table_artifact(key="release-gate-scores", table=metrics_table(run.comparison),
                          description="per-evaluator paired differences")
    for reason in run.gate.reasons:
        (logger.info if run.gate.passed else logger.warning)("%s", reason)
    logger.info("gate %s: %s; report %s; posts: %s", run.gate.gate_id, "PASSED" if run.gate.passed else "FAILED",
                run.report.html, run.delivery.summary())
    return {
        "passed": run.gate.passed,
        "gate_id": run.gate.gate_id,
        "comparison_id": run.comparison.comparison_id,
        "candidate_experiment_id": result.candidate_experiment_id,
        "baseline_experiment_id": result.baseline_experiment_id,
        "dataset_ref": result.dataset_ref,
        "reasons": run.gate.reasons,
        "report": str(run.report.html),
        "posts": {o.post_id: o.status for o in run.delivery.outcomes},
    }

"""The nightly loop: ingest -> mine -> promote -> offline eval -> compare with last night -> post.

Each stage is a subflow. A stage that completed for this run is never run again: retrying the
flow run (or passing ``resume_run_id``) goes on from the first stage that did not finish. Warehouse
writes are guarded by the global concurrency limit ``tracemill-warehouse-writer`` (limit 1), so
overlapping runs queue instead of failing; readers are never blocked. Only transient errors
(network, rate limits, a lost commit race) are retried; data errors fail the run at once, naming the
stage, and a notification goes to the configured webhook.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.concurrency.sync import concurrency
from prefect.context import get_run_context

from flows.ingest_traces import ingest_traces
from flows.mine_failures import mine_failures
from flows.promote_dataset import promote_dataset
from flows.run_offline_eval import run_offline_eval
from flows.secrets import secret
from tracemill import pipeline
from tracemill.errors import ConflictError, TransientError
from tracemill.settings import get_settings

WRITER_LIMIT = "tracemill-warehouse-writer"
_TRANSIENT_NAMES = {"RateLimitError", "APIConnectionError", "Timeout", "ServiceUnavailableError",
                    "InternalServerError", "ConnectError", "ReadTimeout", "ConnectTimeout"}


class StageFailed(RuntimeError):
    """A nightly stage failed; the message names the stage and the cause."""


def is_transient(exc: BaseException) -> bool:
    """Network errors, rate limits and lost commit races are worth retrying; data errors never."""
    return isinstance(exc, (TransientError, ConflictError)) or type(exc).__name__ in _TRANSIENT_NAMES


def ensure_writer_limit() -> None:
    """Create the one-writer global concurrency limit on the Prefect server if it is missing."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(WRITER_LIMIT)
        except Exception:  # ObjectNotFound; a concurrent creator may win the race, which is fine
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=WRITER_LIMIT, limit=1))
            except Exception:
                pass


def _notify(text: str, webhook: str | None) -> None:
    if not webhook:
        return
    from tracemill.report.slack import post_message

    try:
        post_message(text, webhook_url=webhook)
    except Exception as exc:  # a failed notification must not hide the stage failure
        get_run_logger().warning("could not notify %s: %s", webhook, exc)


def _run_stage(run_id: str, stage: str, fn: Callable[..., dict], /, *, retries: int = 3, **kwargs: Any) -> dict:
    settings = get_settings()
    logger = get_run_logger()
    done = pipeline.completed_stage(settings, run_id, stage)
    if done is not None:
        logger.info("stage %s already completed for run %s; reusing its outputs", stage, run_id)
        return done
    flow_run_id = str(get_run_context().flow_run.id)
    for attempt in range(retries + 1):
        n = pipeline.start_stage(settings, run_id=run_id, stage=stage, flow_run_id=flow_run_id)
        try:
            with concurrency(WRITER_LIMIT, occupy=1):
                out = fn(**kwargs)
        except Exception as exc:
            cause = f"{type(exc).__name__}: {exc}"
            pipeline.finish_stage(settings, run_id=run_id, stage=stage, attempt=n, outputs=None, error=cause[:4000])
            if is_transient(exc) and attempt < retries:
                logger.warning("stage %s hit a transient error (%s); retrying", stage, cause[:200])
                time.sleep(min(60, 2 ** attempt))
                continue
            raise StageFailed(f"stage {stage!r} failed: {cause}") from exc
        pipeline.finish_stage(settings, run_id=run_id, stage=stage, attempt=n, outputs=out)
        return out
    raise AssertionError("unreachable")


@flow(name="nightly", log_prints=True)
def nightly(
    landing: list[str],
    dataset: str = "golden",
    candidate_spec: str = "examples/candidates/support-agent-v1.yaml",
    post_to: list[str] | None = None,
    k_per_cluster: int = 3,
    budget: int = 50,
    resume_run_id: str | None = None,
    notify_webhook_secret: str | None = None,
    github_token_secret: str | None = None,
    slack_webhook_secret: str | None = None,
) -> dict:
    """Run the whole loop once. ``landing``: files/folders/globs/s3 prefixes the collector writes to.

    ``candidate_spec`` is the current production config, evaluated on the refreshed dataset.
    ``post_to``: e.g. ["slack", "github:OWNER/REPO#PR"]. Secrets come from Prefect Secret blocks named
    by the ``*_secret`` parameters, or from the worker's environment (GITHUB_TOKEN,
    SLACK_WEBHOOK_URL, TRACEMILL_NOTIFY_WEBHOOK). ``resume_run_id`` continues an earlier failed run.
    """
    settings = get_settings()
    ctx = get_run_context()
    flow_run_id = str(ctx.flow_run.id)
    run_id = resume_run_id or f"nightly_{flow_run_id}"
    params = {"landing": landing, "dataset": dataset, "candidate_spec": candidate_spec, "post_to": post_to or [],
              "k_per_cluster": k_per_cluster, "budget": budget}
    deployment = getattr(ctx.flow_run, "deployment_id", None)
    ensure_writer_limit()
    pipeline.start_run(settings, run_id=run_id, flow_run_id=flow_run_id,
                       deployment=str(deployment) if deployment else None, params=params)
    outputs: dict[str, Any] = {}
    stage = "ingest"
    try:
        outputs["ingest"] = _run_stage(run_id, "ingest", ingest_traces, paths=landing)
        stage = "mine"
        outputs["mine"] = _run_stage(run_id, "mine", mine_failures)
        stage = "promote"
        outputs["promote"] = _run_stage(run_id, "promote", promote_dataset, dataset=dataset,
                                        k_per_cluster=k_per_cluster, budget=budget)
        ref = outputs["promote"].get("ref") or dataset
        stage = "eval"
        outputs["eval"] = _run_stage(run_id, "eval", run_offline_eval, dataset_ref=ref, candidate_spec=candidate_spec,
                                     name=f"nightly {run_id}")
        stage = "compare"
        outputs["compare"] = _run_stage(
            run_id, "compare", pipeline.compare_with_previous_night, settings=settings, run_id=run_id,
            experiment_id=outputs["eval"]["experiment_id"], dataset_ref=ref,
        )
        stage = "post"
        outputs["post"] = _run_stage(
            run_id, "post", pipeline.post_comparison, settings=settings, comparison=outputs["compare"],
            post_to=post_to, github_token=secret(github_token_secret),
            slack_webhook_url=secret(slack_webhook_secret),
        )
    except Exception as exc:
        message = str(exc) if isinstance(exc, StageFailed) else f"stage {stage!r} failed: {exc}"
        pipeline.finish_run(settings, run_id=run_id, status="failed", failed_stage=stage, error=message[:4000])
        _notify(f"tracemill nightly {run_id} FAILED at stage {stage}: {message[:1500]}",
                secret(notify_webhook_secret) or settings.notify_webhook)
        raise StageFailed(message) from exc
    pipeline.finish_run(settings, run_id=run_id, status="completed")
    create_markdown_artifact(key="nightly", markdown=_markdown(run_id, outputs), description="tracemill nightly run")
    return {"run_id": run_id, **outputs}


def _markdown(run_id: str, outputs: dict[str, Any]) -> str:
    ing, mine, prom = outputs.get("ingest", {}), outputs.get("mine", {}), outputs.get("promote", {})
    ev, cmp = outputs.get("eval", {}), outputs.get("compare", {})
    lines = [
        f"## tracemill nightly `{run_id}`", "",
        f"- ingest: {ing.get('spans_ingested', 0)} spans, {ing.get('quarantined', 0)} quarantined (load `{ing.get('load_id')}`)",
        f"- mine: {mine.get('n_failing_traces', 0)} failing traces in {mine.get('n_clusters', 0)} clusters (run `{mine.get('run_id')}`)",
        f"- promote: `{prom.get('ref')}` (+{prom.get('added', 0)} examples)",
        f"- eval: experiment `{ev.get('experiment_id')}` {ev.get('status')}, scores {ev.get('scores')}",
        "- compare: " + (cmp.get("skipped") or f"{cmp.get('regressions')} regressions, {cmp.get('improvements')} "
                         f"improvements vs last night's config; report {cmp.get('report_html')}"),
    ]
    return "\n".join(lines)

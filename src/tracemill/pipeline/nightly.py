"""The two nightly stages that are not a stage package of their own: compare with the previous
night, and post the result. Both are plain functions over the warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tracemill.pipeline.runs import previous_eval
from tracemill.settings import Settings
from tracemill.warehouse import connect


def compare_with_previous_night(settings: Settings, *, run_id: str, experiment_id: str, dataset_ref: str) -> dict[str, Any]:
    """Paired comparison of tonight's experiment with the previous night's config on tonight's examples.

    A paired comparison needs the same examples, so the previous night's spec is re-run on tonight's
    dataset version; its response cache makes the examples it already saw free, so only new
    examples cost calls. The first night has nothing to compare with and says so.
    """
    from tracemill.datasets import load_examples
    from tracemill.evals.runner import run_spec
    from tracemill.evals.spec import CandidateSpec
    from tracemill.report import run_gate

    prev_exp = (previous_eval(settings, run_id) or {}).get("experiment_id")
    if not prev_exp:
        return {"skipped": "no earlier completed night to compare with"}
    con = connect(settings)
    try:
        row = con.execute(
            "SELECT spec, dataset_hash FROM experiments WHERE experiment_id = ?", [prev_exp]
        ).fetchall()
        tonight = con.execute(
            "SELECT dataset_hash FROM experiments WHERE experiment_id = ?", [experiment_id]
        ).fetchall()
        if not row or not tonight:
            return {"skipped": f"experiment {prev_exp or experiment_id} not found"}
        spec_json, prev_hash = row[0]
        baseline_id = prev_exp
        if prev_hash != tonight[0][0]:
            spec = CandidateSpec.model_validate(orjson.loads(spec_json))
            version, examples = load_examples(con, dataset_ref)
            baseline_id = run_spec(con, spec, version=version, examples=examples, dataset_ref=dataset_ref,
                                   name=f"{spec.name} (previous night's config)").experiment_id
        run = run_gate(con, settings, baseline_id=baseline_id, candidate_id=experiment_id)
    finally:
        con.close()
    cmp = run.comparison
    return {
        "comparison_id": cmp.comparison_id,
        "baseline_experiment_id": baseline_id,
        "candidate_experiment_id": experiment_id,
        "previous_night_experiment_id": prev_exp,
        "report_html": str(run.report.html),
        "report_markdown": str(run.report.markdown),
        "regressions": len(cmp.regressions),
        "improvements": len(cmp.improvements),
    }


def post_comparison(
    settings: Settings,
    *,
    comparison: dict[str, Any],
    post_to: list[str] | None,
    github_token: str | None = None,
    slack_webhook_url: str | None = None,
) -> dict[str, Any]:
    """Post the stored comparison's report to each destination, through the outbox (never lost)."""
    from tracemill.report import deliver, enqueue, parse_destinations, senders

    destinations = parse_destinations(post_to)
    if not destinations or "comparison_id" not in comparison:
        return {"posted": [], "note": "nothing to post" if not destinations else comparison.get("skipped")}
    markdown = Path(comparison["report_markdown"]).read_text()
    payload = {"markdown": markdown, "text": markdown.split("\n\n", 1)[0] + f"\nReport: {comparison['report_html']}"}
    con = connect(settings)
    try:
        for target, dest in destinations:
            enqueue(con, subject_id=comparison["comparison_id"], target=target, destination=dest, payload=payload)
        report = deliver(con, senders(github_token=github_token, slack_webhook_url=slack_webhook_url),
                         subject_id=comparison["comparison_id"])
    finally:
        con.close()
    return {"posted": [{"post_id": o.post_id, "target": o.target, "status": o.status} for o in report.outcomes]}

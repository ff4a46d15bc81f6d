"""Compare, judge, store, write the reports, then post: the one sequence the CLI and the flow share.

Order matters: the comparison and gate decision are stored, and every post is put in the outbox,
before anything is sent; a post that fails stays in the outbox (see ``report.post``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from tracemill.errors import ConfigError
from tracemill.gate.compare import Comparison
from tracemill.gate.policy import GatePolicy, GateResult, evaluate
from tracemill.gate.store import compare_experiments, save_comparison, save_gate, set_report_path
from tracemill.report import post
from tracemill.report.files import ReportFiles, write_report
from tracemill.report.markdown import render_markdown, render_slack_text
from tracemill.settings import Settings


@dataclass(frozen=True)
class GateRun:
    comparison: Comparison
    gate: GateResult | None
    report: ReportFiles
    markdown: str
    delivery: post.DeliveryReport


def parse_destinations(post_to: list[str] | tuple[str, ...] | None) -> list[tuple[str, str]]:
    """``["github:acme/agent#42", "slack", "slack:releases"]`` -> [(target, destination)]."""
    out: list[tuple[str, str]] = []
    for item in post_to or ():
        target, _, dest = item.partition(":")
        target = target.strip().lower()
        if target in ("report", "prefect"):
            continue  # always written / handled by the flow
        if target == "github":
            from tracemill.report.github import PullRequest

            out.append(("github", str(PullRequest.parse(dest))))
        elif target == "slack":
            out.append(("slack", dest or "default"))
        else:
            raise ConfigError("unknown place to post", value=item, fix="use github:OWNER/REPO#PR, slack, report or prefect")
    return out


def run_gate(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    baseline_id: str,
    candidate_id: str,
    policy: GatePolicy | None = None,
    confidence: float | None = None,
    post_to: list[str] | None = None,
    github_token: str | None = None,
    slack_webhook_url: str | None = None,
) -> GateRun:
    """Compare two stored experiments, judge the policy (if any), store both, write reports, post.

    Without a policy this is a plain comparison (at ``confidence``, default 0.80); with one, the
    policy's statistics settings are used.
    """
    destinations = parse_destinations(post_to)  # refuse a bad destination before doing any work
    comparison = compare_experiments(con, baseline_id, candidate_id, policy=policy, confidence=confidence)
    gate = evaluate(comparison, policy) if policy is not None else None
    save_comparison(con, comparison)
    if gate is not None:
        save_gate(con, gate)
    files = write_report(Path(settings.reports_dir), comparison, gate)
    set_report_path(con, comparison.comparison_id, str(files.html))
    markdown = render_markdown(comparison, gate, report_path=str(files.html))
    subject = gate.gate_id if gate else comparison.comparison_id
    payload = {"markdown": markdown, "text": render_slack_text(comparison, gate, report_url=str(files.html))}
    for target, dest in destinations:
        post.enqueue(con, subject_id=subject, target=target, destination=dest, payload=payload)
    delivery = post.deliver(con, senders(github_token=github_token, slack_webhook_url=slack_webhook_url),
                            subject_id=subject) if destinations else post.DeliveryReport()
    return GateRun(comparison, gate, files, markdown, delivery)


def senders(*, github_token: str | None = None, slack_webhook_url: str | None = None) -> dict[str, post.Sender]:
    """Senders for the targets we have credentials for (argument, else environment)."""
    import os

    out: dict[str, post.Sender] = {}
    if github_token or os.environ.get("GITHUB_TOKEN"):
        out["github"] = post.github_sender(github_token)
    if slack_webhook_url or os.environ.get("SLACK_WEBHOOK_URL"):
        out["slack"] = post.slack_sender(slack_webhook_url)
    return out


@dataclass(frozen=True)
class ReleaseGateRun:
    run: GateRun
    candidate_experiment_id: str
    baseline_experiment_id: str
    dataset_ref: str


def looks_like_spec(baseline: str) -> bool:
    """A baseline is a candidate spec file when it names an existing file or ends in .yaml/.yml."""
    return baseline.endswith((".yaml", ".yml")) or Path(baseline).is_file()


def run_release_gate(
    settings: Settings,
    *,
    dataset_ref: str,
    candidate_spec: str,
    baseline: str,
    policy: str | Path | None,
    post_to: list[str] | None = None,
    github_token: str | None = None,
    slack_webhook_url: str | None = None,
    progress: object | None = None,
) -> ReleaseGateRun:
    """Run the candidate (and the baseline, when it is a spec) on one dataset version, then gate and post.

    ``dataset_ref`` is resolved once to ``NAME@vN`` so a moving tag cannot give the two runs
    different examples. ``baseline`` is an experiment id or a spec path.
    """
    from tracemill.datasets import resolve
    from tracemill.evals import run_experiment
    from tracemill.gate.policy import load_policy
    from tracemill.warehouse import connect

    pol = load_policy(policy)
    parse_destinations(post_to)
    con = connect(settings)
    try:
        version = resolve(con, dataset_ref)
    finally:
        con.close()
    pinned = f"{version.name}@v{version.version}"
    if looks_like_spec(baseline):
        base = run_experiment(settings, dataset_ref=pinned, spec_path=baseline, progress=progress)  # type: ignore[arg-type]
        baseline_id = base.experiment_id
    else:
        baseline_id = baseline
    cand = run_experiment(settings, dataset_ref=pinned, spec_path=candidate_spec, progress=progress)  # type: ignore[arg-type]
    con = connect(settings)
    try:
        run = run_gate(con, settings, baseline_id=baseline_id, candidate_id=cand.experiment_id, policy=pol,
                       post_to=post_to, github_token=github_token, slack_webhook_url=slack_webhook_url)
    finally:
        con.close()
    return ReleaseGateRun(run, cand.experiment_id, baseline_id, pinned)

"""Demo step: promote failure-cluster representatives (and some successes) into a versioned golden dataset.

Reads ``state["mining_run_id"]`` (the run to promote from; default: the latest completed run),
``state["night"]`` (1 or 2), ``state["ground_truth"]`` (optional: the planted mode of each trace) and
``state["dataset_k"]`` / ``state["dataset_budget"]`` (optional, default 3 / 40).
Writes ``state["dataset"]`` (name), ``state["dataset_ref"]`` (exact ref of the newest version, e.g.
``support-golden@v2``), ``state["dataset_version"]`` (its DatasetVersion) and ``state["dataset_prev_ref"]``.
Night 1's version is tagged ``prod``; later versions are tagged ``candidate``.
"""

from __future__ import annotations

from collections import Counter

from tracemill.cli.sql import render_table
from tracemill.datasets.diff import diff_versions
from tracemill.datasets.promote import SUCCESS_STRATUM, promote_from_clusters
from tracemill.datasets.store import load_examples
from tracemill.datasets.tags import set_tag
from tracemill.demo.context import DemoContext
from tracemill.warehouse import connect

DATASET = "support-golden"


def run(ctx: DemoContext) -> None:
    con = connect(ctx.settings)
    try:
        _run(ctx, con)
    finally:
        con.close()


def _run(ctx: DemoContext, con) -> None:
    console = ctx.console
    k = int(ctx.state.get("dataset_k", 3))
    budget = int(ctx.state.get("dataset_budget", 40))
    result = promote_from_clusters(
        con, DATASET, k_per_cluster=k, budget=budget, author="demo:nightly", run_id=ctx.state.get("mining_run_id")
    )
    skipped = Counter(s.reason for s in result.skipped)
    if result.write is None or not result.write.created:
        console.print(f"Nothing new to promote from mining run {result.mining_run_id}; {DATASET} is unchanged.")
        return
    v, prev = result.write.version, result.write.previous
    console.print(
        f"Promoted {len(result.write.added)} traces from mining run [cyan]{result.mining_run_id}[/] into "
        f"[bold]{v.ref}[/] (content hash {v.short_hash}, DuckLake snapshot {v.snapshot_id}, {v.n_examples} examples): "
        f"at most {k} per failure cluster plus successes, within a budget of {budget}. "
        f"Skipped {skipped.get('same_input', 0)} exact and {skipped.get('near_duplicate', 0)} near-duplicate inputs"
        f" and {skipped.get('already_in_dataset', 0)} traces already in the set.",
        highlight=False,
    )
    _v, examples = load_examples(con, v.ref)
    truth = getattr(ctx.state.get("ground_truth"), "modes", {}) or {}
    new_ids = set(result.write.added)
    rows = []
    for stratum, n in result.per_stratum.items():
        members = [e for e in examples if e.example_id in new_ids and (e.cluster_id or SUCCESS_STRATUM) == stratum]
        name = "successes (no failure signal)" if stratum == SUCCESS_STRATUM else stratum
        label = "" if stratum == SUCCESS_STRATUM else str(members[0].metadata.get("cluster_name", "")) if members else ""
        modes = Counter(truth.get(e.source_trace_id or "", "?") for e in members) if truth else Counter()
        rows.append((name, label, n, ", ".join(f"{m}={c}" for m, c in modes.most_common()) if truth else ""))
    console.print(render_table(["stratum", "cluster", "promoted", "planted mode (ground truth)"], rows,
                               title="New examples, each keeps its trace id, cluster and mining run"))
    tag = "prod" if prev is None else "candidate"
    set_tag(con, v.ref, tag, author="demo")
    if prev is not None:
        d = diff_versions(con, prev.ref, v.ref)
        console.print(
            f"Diff from last night ({prev.ref} -> {v.ref}): +{len(d.added)} added, -{len(d.removed)} removed, "
            f"~{len(d.changed)} changed. {prev.ref} stays readable exactly as it was (tag prod); {v.ref} is tagged {tag}. "
            f"Try: tracemill datasets diff {prev.ref} {v.ref}",
            highlight=False,
        )
    else:
        console.print(f"Tagged {v.ref} as [bold]prod[/]. Try: tracemill datasets show {DATASET}@prod", highlight=False)
    ctx.state.update(
        dataset=DATASET, dataset_ref=v.ref, dataset_version=v, dataset_prev_ref=prev.ref if prev else None
    )

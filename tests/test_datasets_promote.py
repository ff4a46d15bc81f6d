"""Seed a warehouse with traces, spans, tool calls, feedback and one mining run, for dataset promotion tests.

Rows go in through plain SQL with the ingest/mining table shapes (contracts.md), like those stages write them.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson

SYSTEM = "You are the support agent of an online shop. Be polite, check the order before acting. " * 8
RUN_ID = "mine_test_0001"

# cluster_id -> list of (trace_id, user text). fm_0001 holds exact and near duplicates on purpose.
CLUSTERS: dict[str, list[tuple[str, str]]] = {
    "fm_0001": [
        ("t_err_01", "Where is my order 1001? The tracking page has not changed for a week and I need it for a birthday on Friday."),
        ("t_err_02", "where is my order 1001?? the tracking page has not changed for a week, and I need it for a birthday on Friday"),  # same normalised input
        ("t_err_03", "Where is my order 1001? The tracking page has not changed for a week and I need it for a birthday on Friday!!"),  # same normalised
        ("t_err_04", "Where is my order 1001? The tracking page has not changed for a week and I need it for a birthday on Fridays."),  # near-duplicate
        ("t_err_05", "Can you check order 2002, it says delivered but nothing arrived at my door."),
        ("t_err_06", "My package for order 3003 is stuck in customs, what do I do?"),
        ("t_err_07", "The orders page shows an error when I open order 4004."),
        ("t_err_08", "Order 5005 never shipped, can you look into it please?"),
    ],
    "fm_0002": [
        ("t_loop_1", "Cancel my subscription to the coffee club right now."),
        ("t_loop_2", "I would like to change the delivery address of my last order to my office."),
        ("t_loop_3", "Please update the phone number on my account."),
        ("t_loop_4", "Add gift wrapping to order 7007."),
        ("t_loop_5", "Remove the second item from order 8008 before it ships."),
    ],
    "fm_0003": [
        ("t_pol_1", "Refund 900 dollars for the broken television right away."),
        ("t_pol_2", "I demand a full refund of 1200 dollars for the sofa."),
    ],
    "unclustered": [
        ("t_noise_1", "asdf"),
        ("t_noise_2", "hello?"),
    ],
}
SUCCESSES: list[tuple[str, str]] = [
    (f"t_ok_{i:02d}", text)
    for i, text in enumerate(
        [
            "What is your return policy for shoes?",
            "Do you ship to Canada?",
            "How do I reset my password?",
            "Can I pay with PayPal?",
            "What are your opening hours on Sunday?",
            "Is the blue jacket available in size M?",
        ]
    )
]


def _insert(con, table: str, row: dict) -> None:
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    con.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(row.values()))


def add_trace(con, trace_id: str, text: str, *, ok: bool, t0: datetime, tools: list[tuple[str, dict]] | None = None,
              tags: list[str] | None = None) -> None:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
    _insert(con, "traces", {
        "trace_id": trace_id, "root_span_id": f"{trace_id}_root", "name": "invoke_agent support-agent",
        "start_time": t0, "end_time": t0 + timedelta(seconds=2), "status": "ok" if ok else "error",
        "error_message": None if ok else "orders-api timeout", "input": text,
        "output": "Here you go." if ok else None, "outcome": "success" if ok else "failure",
        "tags": tags or [], "source": "test", "load_id": "load_test", "schema_version": 1,
    })
    _insert(con, "spans", {
        "trace_id": trace_id, "span_id": f"{trace_id}_llm1", "parent_span_id": f"{trace_id}_root", "kind": "llm",
        "start_time": t0 + timedelta(milliseconds=10), "input_messages": orjson.dumps(messages).decode(),
        "source": "test", "load_id": "load_test", "schema_version": 1,
    })
    for seq, (name, args) in enumerate(tools or []):
        _insert(con, "tool_calls", {
            "trace_id": trace_id, "call_id": f"{trace_id}_c{seq}", "seq": seq, "tool_name": name,
            "arguments": orjson.dumps(args).decode(), "status": "ok", "source": "test", "load_id": "load_test",
            "schema_version": 1,
        })


def seed(con, *, run_id: str = RUN_ID) -> None:
    """Traces for every cluster member and success, plus a completed mining run over them."""
    t0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    con.execute("BEGIN TRANSACTION")
    for cid, members in CLUSTERS.items():
        for i, (tid, text) in enumerate(members):
            add_trace(con, tid, text, ok=False, t0=t0 + timedelta(minutes=i), tools=[("get_order", {"id": i})])
            _insert(con, "failure_signals", {"run_id": run_id, "trace_id": tid, "kind": "tool_error", "schema_version": 1})
            _insert(con, "cluster_members", {
                "run_id": run_id, "cluster_id": cid, "trace_id": tid, "is_representative": i < 3,
                "distance": i / 10, "schema_version": 1,
            })
        if cid != "unclustered":
            _insert(con, "failure_clusters", {
                "run_id": run_id, "cluster_id": cid, "label": f"label {cid}", "name": f"name {cid}",
                "size": len(members), "status": "new", "schema_version": 1,
            })
    for i, (tid, text) in enumerate(SUCCESSES):
        add_trace(con, tid, text, ok=True, t0=t0 + timedelta(hours=1, minutes=i),
                  tools=[("search_faq", {"q": text[:10]}), ("reply", {"ok": True})], tags=["critical"] if i == 0 else [])
    _insert(con, "mining_runs", {
        "run_id": run_id, "started_at": t0, "finished_at": t0 + timedelta(hours=3), "status": "completed",
        "schema_version": 1,
    })
    con.execute("COMMIT")


def cluster_of() -> dict[str, str]:
    return {tid: cid for cid, members in CLUSTERS.items() for tid, _ in members}


# --- tests ------------------------------------------------------------------------------------------

import pytest  # noqa: E402

from tracemill.datasets import diff_versions, load_examples, promote_from_clusters, promote_from_feedback, promote_from_query  # noqa: E402
from tracemill.datasets.dedup import THRESHOLD, input_key, minhash  # noqa: E402
from tracemill.errors import ConfigError  # noqa: E402
from tracemill.warehouse import connect  # noqa: E402


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """One seeded warehouse for this module (a fresh one costs ~1.5 s CPU); tests use distinct dataset names."""
    from tracemill.settings import Settings

    settings = Settings(warehouse=str(tmp_path_factory.mktemp("wh") / "wh"))
    c = connect(settings)
    seed(c)
    yield settings, c
    c.close()


@pytest.fixture()
def con(seeded):
    return seeded[1]


@pytest.fixture()
def seeded_settings(seeded, monkeypatch):
    """The seeded warehouse's settings, also set in the environment for the CLI and flows."""
    monkeypatch.setenv("TRACEMILL_WAREHOUSE", seeded[0].warehouse)
    return seeded[0]


def _no_near_duplicates(examples) -> None:
    keys = [input_key(e.inputs) for e in examples]
    assert len(keys) == len(set(keys)), "two examples share a normalised input"
    hashes = [minhash(e.inputs) for e in examples]
    for i in range(len(hashes)):
        for j in range(i + 1, len(hashes)):
            assert hashes[i].jaccard(hashes[j]) < THRESHOLD, (examples[i].example_id, examples[j].example_id)


def test_promote_from_clusters_k_per_cluster_no_duplicates_and_lineage(con):
    k = 3
    result = promote_from_clusters(con, "support", k_per_cluster=k, budget=50, author="nightly")
    v, examples = load_examples(con, "support")
    assert v.version == 1 and result.version == v
    by_cluster: dict[str | None, list] = {}
    for e in examples:
        by_cluster.setdefault(e.cluster_id, []).append(e)
    # at most k per cluster, noise never promoted, successes kept as their own stratum
    assert all(len(v) <= k for v in by_cluster.values())
    assert set(by_cluster) == {"fm_0001", "fm_0002", "fm_0003", None}
    assert len(by_cluster["fm_0003"]) == 2 and len(by_cluster[None]) == k
    _no_near_duplicates(examples)
    # fm_0001's exact and near duplicates of t_err_01 were skipped, and its next distinct members taken
    ids = {e.source_trace_id for e in by_cluster["fm_0001"]}
    assert ids == {"t_err_01", "t_err_05", "t_err_06"}
    reasons = {s.trace_id: s.reason for s in result.skipped}
    assert reasons["t_err_02"] == "same_input" and reasons["t_err_03"] == "same_input"
    assert reasons["t_err_04"] == "near_duplicate"
    # every example traces back to its trace and (for failures) its cluster in that mining run
    truth = cluster_of()
    for e in examples:
        assert e.mining_run_id == RUN_ID and e.promoted_by == "nightly" and e.promoted_at is not None
        row = con.execute("SELECT count(*) FROM traces WHERE trace_id = ?", [e.source_trace_id]).fetchall()[0]
        assert row[0] == 1
        if e.cluster_id is None:
            assert e.metadata["outcome"] == "success"
            # a succeeded trace's tool calls become the reference trajectory, its output the reference
            assert [c.name for c in e.reference_trajectory] == ["search_faq", "reply"]
            assert e.reference_output == "Here you go."
        else:
            assert truth[e.source_trace_id] == e.cluster_id
            member = con.execute(
                "SELECT count(*) FROM cluster_members WHERE run_id = ? AND cluster_id = ? AND trace_id = ?",
                [RUN_ID, e.cluster_id, e.source_trace_id],
            ).fetchall()[0]
            assert member[0] == 1
            assert e.reference_trajectory is None and e.metadata["outcome"] == "failure"
            assert e.inputs["messages"][-1]["role"] == "user"


def test_budget_is_shared_round_robin_and_repromotion_adds_no_duplicates(con):
    r1 = promote_from_clusters(con, "support-budget", k_per_cluster=3, budget=4, author="a")
    assert r1.version.n_examples == 4
    # one per stratum before any stratum gets a second: successes + 3 clusters
    assert set(r1.per_stratum.values()) == {1}
    r2 = promote_from_clusters(con, "support-budget", k_per_cluster=3, budget=50, author="a")
    _v, examples = load_examples(con, r2.version.ref)
    # k caps each cluster in the dataset as a whole, across promotions
    per_cluster = Counter(e.cluster_id for e in examples if e.cluster_id)
    assert per_cluster == {"fm_0001": 3, "fm_0002": 3, "fm_0003": 2}
    r3 = promote_from_clusters(con, "support-budget", k_per_cluster=3, budget=50, author="a")
    assert all(not s.startswith("fm_") for s in r3.per_stratum)
    traces = [e.source_trace_id for e in examples]
    assert len(traces) == len(set(traces))
    _no_near_duplicates(examples)
    assert any(s.reason == "already_in_dataset" for s in r2.skipped)


def test_promote_from_query_is_read_only_and_takes_reference_columns(con):
    r = promote_from_query(
        con, "faq",
        "SELECT trace_id, 'See our policy page.' AS reference_output, 'test' AS split "
        "FROM traces WHERE trace_id LIKE 't_ok_%' ORDER BY trace_id LIMIT 2",
        author="analyst",
    )
    _v, examples = load_examples(con, r.version.ref)
    assert {e.source_trace_id for e in examples} == {"t_ok_00", "t_ok_01"}
    assert all(e.reference_output == "See our policy page." and e.split == "test" for e in examples)
    for bad in ["DELETE FROM traces", "SELECT 1; DROP TABLE traces", "CREATE TABLE x AS SELECT 1"]:
        with pytest.raises(ConfigError):
            promote_from_query(con, "faq", bad)
    assert con.execute("SELECT count(*) FROM traces").fetchall()[0][0] > 0
    with pytest.raises(ConfigError, match="trace_id"):
        promote_from_query(con, "faq", "SELECT 1 AS x")


def test_human_correction_becomes_reference_output(con):
    r1 = promote_from_clusters(con, "support-fb", k_per_cluster=1, budget=10, author="nightly")
    failing = next(e for e in load_examples(con, r1.version.ref)[1] if e.cluster_id == "fm_0002")
    assert failing.reference_output is None
    con.execute("BEGIN TRANSACTION")
    for fid, trace, corr in [("fb1", failing.source_trace_id, {"content": "I cancelled it for you."}),
                             ("fb2", "t_ok_05", "Yes, size M is in stock.")]:
        _insert(con, "feedback", {
            "feedback_id": fid, "trace_id": trace, "key": "correctness", "score": 0.0,
            "correction": orjson.dumps(corr).decode(), "source": "human", "author": "ana",
            "created_at": datetime(2026, 11, 29, tzinfo=UTC), "load_id": "load_fb", "schema_version": 1,
        })
    _insert(con, "feedback", {
        "feedback_id": "fb3", "trace_id": "t_ok_04", "key": "x", "correction": '"llm guess"', "source": "llm",
        "load_id": "load_fb", "schema_version": 1,
    })
    con.execute("COMMIT")
    r2 = promote_from_feedback(con, "support-fb", author="ana")
    d = diff_versions(con, r1.version.ref, r2.version.ref)
    assert failing.example_id in d.changed
    fields = {c.field: c for c in d.changed[failing.example_id]}
    assert fields["reference_output"].old is None
    assert fields["reference_output"].new == {"content": "I cancelled it for you."}
    _v, examples = load_examples(con, r2.version.ref)
    added = {e.source_trace_id: e for e in examples if e.example_id in d.added}
    assert set(added) == {"t_ok_05"}  # the llm-sourced correction is not a human one
    assert added["t_ok_05"].reference_output == "Yes, size M is in stock."


def _second_mining_run(con) -> None:
    """Night 2: the same clusters again plus a new one, in a later completed run."""
    t0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    con.execute("BEGIN TRANSACTION")
    con.execute(
        "INSERT INTO cluster_members (run_id, cluster_id, trace_id, is_representative, distance, schema_version) "
        "SELECT 'mine_test_0002', cluster_id, trace_id, is_representative, distance, 1 FROM cluster_members WHERE run_id = ?",
        [RUN_ID],
    )
    con.execute(
        "INSERT INTO failure_signals (run_id, trace_id, kind, schema_version) "
        "SELECT 'mine_test_0002', trace_id, kind, 1 FROM failure_signals WHERE run_id = ?", [RUN_ID],
    )
    for i, text in enumerate(["The API key was rejected when I tried to log in.", "Login says unauthorized every time."]):
        tid = f"t_auth_{i}"
        add_trace(con, tid, text, ok=False, t0=t0 + timedelta(minutes=i))
        _insert(con, "failure_signals", {"run_id": "mine_test_0002", "trace_id": tid, "kind": "error", "schema_version": 1})
        _insert(con, "cluster_members", {"run_id": "mine_test_0002", "cluster_id": "fm_0004", "trace_id": tid,
                                         "is_representative": True, "distance": 0.1, "schema_version": 1})
    _insert(con, "failure_clusters", {"run_id": "mine_test_0002", "cluster_id": "fm_0004", "name": "auth failure",
                                      "size": 2, "status": "new", "schema_version": 1})
    _insert(con, "mining_runs", {"run_id": "mine_test_0002", "started_at": t0, "finished_at": t0 + timedelta(hours=1),
                                 "status": "completed", "schema_version": 1})
    con.execute("COMMIT")


def test_demo_step_promotes_each_night_and_diffs(settings, tmp_path):
    from rich.console import Console

    from tracemill.demo.context import DemoContext
    from tracemill.demo.step_datasets import run

    con = connect(settings)  # its own warehouse: night 2 adds a later mining run
    try:
        seed(con)
        console = Console(record=True, width=200)
        ctx = DemoContext(console=console, settings=settings, workdir=tmp_path, state={"night": 1})
        run(ctx)
        assert ctx.state["dataset_ref"] == "support-golden@v1"
        _second_mining_run(con)
        ctx.state.update(night=2, mining_run_id="mine_test_0002")
        run(ctx)
        out = console.export_text()
        assert ctx.state["dataset_ref"] == "support-golden@v2" and ctx.state["dataset_prev_ref"] == "support-golden@v1"
        assert "Diff from last night (support-golden@v1 -> support-golden@v2): +" in out
        _v, examples = load_examples(con, "support-golden@candidate")
        assert {e.source_trace_id for e in examples if e.cluster_id == "fm_0004"} == {"t_auth_0", "t_auth_1"}
        assert max(Counter(e.cluster_id for e in examples if e.cluster_id).values()) <= 3
        assert load_examples(con, "support-golden@prod")[0].version == 1
        _no_near_duplicates(examples)
    finally:
        con.close()


def test_promote_dataset_flow(seeded_settings, prefect_server):
    import importlib.util

    from tracemill.settings import PROJECT_ROOT

    spec = importlib.util.spec_from_file_location("promote_dataset_flow", PROJECT_ROOT / "flows" / "promote_dataset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.promote_dataset("flow-set", k_per_cluster=2, budget=5)
    assert out["ref"] == "flow-set@v1" and out["n_examples"] == 5 and out["mining_run_id"] == RUN_ID
    orjson.dumps(out)  # JSON-able


def test_cli_promote_and_show_print_lineage(seeded_settings):
    from typer.testing import CliRunner

    from tracemill.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["datasets", "promote", "support-cli", "--k", "1", "--budget", "3", "--author", "ana"])
    assert r.exit_code == 0, r.output
    assert "support-cli@v1" in r.output and "3 examples" in r.output
    r = runner.invoke(app, ["datasets", "show", "support-cli@v1", "--json"])
    rows = [orjson.loads(line) for line in r.output.splitlines()]
    assert len(rows) == 3 and all(x["mining_run_id"] == RUN_ID and x["source_trace_id"] for x in rows)
    r = runner.invoke(app, ["datasets", "show", "support-cli@v1"])
    assert r.exit_code == 0 and "integrity check passed" in r.output
    for needle in ("trace", "cluster", "mining run", "fm_0001", "ana"):
        assert needle in r.output, needle
    r = runner.invoke(app, ["datasets", "promote", "support-cli", "--policy", "query", "--query", "DROP TABLE traces"])
    assert r.exit_code != 0 and "exactly one SELECT" in str(r.exception)

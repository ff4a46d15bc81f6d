"""Edge cases, signals, rules, LLM naming and the CLI, on traces written straight into the warehouse."""

from __future__ import annotations

import itertools
import json
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tracemill.errors import ConfigError
from tracemill.lineage import SCHEMA_VERSION
from tracemill.mining import MiningParams, markdown, mine
from tracemill.warehouse import transaction

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
_seq = itertools.count()


def put(con, *, input: str | None = "Where is my order?", output: str | None = "It ships tomorrow.",
        status: str = "ok", error: str | None = None, tools: list[tuple] = (), feedback: list[tuple] = (),
        outcome: str | None = None, latency: float = 1200.0, tokens: int = 1500, start: datetime = T0) -> str:
    """Insert one trace (and its tool calls / feedback) directly, the way ingest would roll it up."""
    tid = f"t{next(_seq):06d}"
    con.execute(
        """INSERT INTO traces (trace_id, name, start_time, end_time, latency_ms, status, error_message, input, output,
               span_count, tool_call_count, tool_sequence, models, total_tokens, outcome, source, load_id, schema_version)
           VALUES (?, 'invoke_agent support-agent', ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ['gpt-4o-mini'], ?, ?, 'test', 'l1', ?)""",
        [tid, start, start + timedelta(milliseconds=latency), latency, status, error, input, output, len(tools),
         [t[0] for t in tools], tokens, outcome, SCHEMA_VERSION],
    )
    for i, (name, args, st, err) in enumerate(tools):
        con.execute(
            """INSERT INTO tool_calls (trace_id, call_id, span_id, seq, tool_name, arguments, status, error_message,
                   start_time, source, load_id, schema_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'test', 'l1', ?)""",
            [tid, f"{tid}-c{i}", f"{tid}-s{i}", i, name, json.dumps(args), st, err, start, SCHEMA_VERSION],
        )
    for key, score, label, comment in feedback:
        con.execute(
            """INSERT INTO feedback (feedback_id, trace_id, key, score, label, comment, source, created_at, load_id,
                   schema_version) VALUES (?, ?, ?, ?, ?, ?, 'user', ?, 'l1', ?)""",
            [f"{tid}-f{key}", tid, key, score, label, comment, start, SCHEMA_VERSION],
        )
    return tid


@contextmanager
def batch(con):
    """One DuckLake commit for many puts (each commit costs a catalog write)."""
    with transaction(con, what="test rows"):
        yield


def members(con, run_id: str) -> dict[str, str]:
    return dict(con.execute("SELECT trace_id, cluster_id FROM cluster_members WHERE run_id = ?", [run_id]).fetchall())


def test_zero_failures_then_previous_clusters_are_gone(settings, con):
    with batch(con):
        for _ in range(10):
            put(con, tools=[("lookup_order", {"order_id": "A1"}, "error", "orders-api: 504 Gateway Timeout")])
    first = mine(settings, con=con)
    assert [c.size for c in first.live_clusters] == [10]
    with batch(con):
        con.execute("DELETE FROM tool_calls")
        con.execute("DELETE FROM traces")
        for _ in range(5):
            put(con)
    res = mine(settings, con=con)
    assert res.n_traces_scanned == 5 and res.n_failing_traces == 0
    assert [(c.cluster_id, c.status, c.size) for c in res.clusters] == [(first.live_clusters[0].cluster_id, "gone", 0)]
    assert "0** failing" in markdown(res)
    empty = mine(settings, con=con, since="2030-01-01")
    assert empty.n_traces_scanned == 0 and "No failing traces" in markdown(empty)


def test_single_failure_is_kept_visible_as_unclustered(settings, con):
    with batch(con):
        for _ in range(3):
            put(con)
        tid = put(con, tools=[("refund_order", {"order_id": "A1"}, "error", "payments: card declined")])
    res = mine(settings, con=con)
    assert res.n_failing_traces == 1 and res.live_clusters == ()
    (c,) = res.clusters
    assert c.cluster_id == "unclustered" and c.size == 1 and c.representative_trace_ids == (tid,)
    assert members(con, res.run_id) == {tid: "unclustered"}


def test_all_failures_identical_form_one_cluster(settings, con):
    with batch(con):
        ids = [put(con, output="Sorry, something went wrong.",
                   tools=[("lookup_order", {"order_id": "A1"}, "error", "orders-api: 503 Service Unavailable")])
               for _ in range(40)]
    res = mine(settings, con=con)
    (c,) = res.live_clusters
    assert c.size == 40 and len(c.representative_trace_ids) == 1  # duplicates are not representatives
    assert set(members(con, res.run_id)) == set(ids)
    assert "503" in c.label or "orders" in c.label


def test_different_tool_errors_are_different_modes(settings, con):
    with batch(con):
        orders = [put(con, output="Sorry, the order system is down.",
                      tools=[("lookup_order", {"order_id": f"A{i}"}, "error", f"orders-api: 504 Gateway Timeout ({i})")])
                  for i in range(10)]
        pay = [put(con, output="Your card was declined.",
                   tools=[("charge_card", {"amount": i, "card": "x"}, "error", "payments: card declined by issuer")])
               for i in range(10)]
    res = mine(settings, con=con)
    m = members(con, res.run_id)
    assert len({m[t] for t in orders}) == 1 and len({m[t] for t in pay}) == 1 and m[orders[0]] != m[pay[0]]


def test_traces_with_no_text_still_cluster(settings, con):
    with batch(con):
        for _ in range(8):
            put(con, input=None, output=None, outcome="failure")
    res = mine(settings, con=con)
    assert res.n_failing_traces == 8
    assert sum(c.size for c in res.clusters) == 8
    assert set(res.signals_by_kind) == {"failed_outcome", "empty_output"}


def test_giant_text_is_truncated_with_a_note(settings, con):
    huge = "upstream error " + "x" * 300_000
    with batch(con):
        for _ in range(5):
            put(con, output=huge, error="boom " * 50_000, status="error")
    res = mine(settings, con=con)
    assert res.n_failing_traces == 5
    assert any("truncated" in n for n in res.notes)
    msg, text = con.execute(
        "SELECT r.message, max(length(m.feature_text)) FROM mining_runs r JOIN cluster_members m USING (run_id) "
        "WHERE run_id = ? GROUP BY r.message", [res.run_id]).fetchone()
    assert "truncated" in msg and text <= 300


def test_non_english_failures_separate_by_meaning(settings, con):
    with batch(con):
        zh = [put(con, output="抱歉，系统繁忙", tools=[("lookup_order", {"order_id": f"A{i}"}, "error",
                                                    "订单服务超时 请稍后再试")]) for i in range(12)]
        ru = [put(con, output="Извините, произошла ошибка", status="error",
                  error=f"Ошибка авторизации: неверный ключ API {i}") for i in range(12)]
    res = mine(settings, con=con)
    m = members(con, res.run_id)
    assert len({m[t] for t in zh}) == 1 and len({m[t] for t in ru}) == 1
    assert m[zh[0]] != m[ru[0]] and "unclustered" not in (m[zh[0]], m[ru[0]])


def test_feedback_threshold_per_key_and_loops(settings, con):
    with batch(con):
        low = [put(con, feedback=[("rating", 3.0, None, "meh")]) for _ in range(6)]
        put(con, feedback=[("rating", 5.0, None, "great")])
        loops = [put(con, tools=[("lookup_order", {"order_id": "A1"}, "ok", None)] * 3) for _ in range(6)]
        put(con, tools=[("lookup_order", {"order_id": "A1"}, "ok", None)] * 2)
    res = mine(settings, con=con, params=MiningParams(feedback_thresholds={"rating": 4.0}))
    m = members(con, res.run_id)
    assert set(m) == set(low) | set(loops)
    assert m[low[0]] != m[loops[0]]
    assert mine(settings, con=con).signals_by_kind.get("negative_feedback") is None  # 3 >= default 0.5


def test_llm_names_clusters_and_records_prompt(settings, con):
    with batch(con):
        for _ in range(6):
            put(con, tools=[("lookup_order", {"order_id": "A1"}, "error", "orders-api: upstream request timeout")])
    named = settings.model_copy(update={"llm_model": "openai/gpt-4o-mini"})
    reply = '{"name": "Orders API timeouts", "description": "lookup_order times out upstream."}'
    res = mine(named, con=con, llm_kwargs={"mock_response": reply})
    (c,) = res.live_clusters
    assert c.name == "Orders API timeouts" and c.description.startswith("lookup_order")
    model, prompt = con.execute("SELECT naming_model, naming_prompt FROM failure_clusters WHERE run_id = ?",
                                [res.run_id]).fetchone()
    assert model == "openai/gpt-4o-mini" and "timeout" in prompt
    # A broken LLM answer for a new cluster keeps the term label and says so.
    with batch(con):
        con.execute("DELETE FROM tool_calls")
        for _ in range(6):
            put(con, tools=[("refund_order", {"amount": 5}, "error", "payments: card declined by issuer")])
    bad = mine(named, con=con, since=T0, llm_kwargs={"mock_response": "no json here"})
    assert bad.live_clusters[0].name == bad.live_clusters[0].label and any("LLM" in n for n in bad.notes)


def test_a_broken_rule_fails_the_run_and_writes_nothing_else(settings, con, tmp_path: Path):
    put(con, tools=[("lookup_order", {}, "error", "boom")])
    (tmp_path / "bad.sql").write_text("SELECT trace_id FROM no_such_table")
    with pytest.raises(ConfigError, match="bad.sql"):
        mine(settings, con=con, params=MiningParams(rules_dir=str(tmp_path)))
    assert con.execute("SELECT status FROM mining_runs").fetchall() == [("failed",)]
    assert con.execute("SELECT count(*) FROM failure_signals").fetchone()[0] == 0
    (tmp_path / "bad.sql").write_text("SELECT trace_id, json_object('why', 'always') AS evidence FROM traces")
    res = mine(settings, con=con, params=MiningParams(rules_dir=str(tmp_path)))
    assert res.signals_by_kind["rule:bad"] == 1


def test_bad_window_is_refused(settings, con):
    with pytest.raises(ConfigError):
        mine(settings, con=con, since="2026-01-06", until="2026-01-05")
    with pytest.raises(ConfigError):
        mine(settings, con=con, since="last tuesday")


def test_cli_prints_top_clusters(settings, con):
    from tracemill.cli import app

    with batch(con):
        for _ in range(7):
            put(con, tools=[("cancel_order", {"order_id": "B2"}, "error", "orders-api: 504 Gateway Timeout")])
    con.close()
    result = CliRunner().invoke(app, ["mine", "--since", "2026-01-01", "--min-cluster-size", "3"])
    assert result.exit_code == 0, result.output
    assert "fm_0001" in result.output and "new" in result.output and "7" in result.output

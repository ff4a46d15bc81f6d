"""The nightly flow on a real (temporary) Prefect server: a failed stage fails the run naming the
stage, notifies the webhook, and a resumed run does not redo the stages that finished."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from fakes_http import fake_services
from tracemill.demo.generator import generate_day
from tracemill.errors import ConfigError, ConflictError, DataError, TransientError
from tracemill.warehouse import connect

ROOT = Path(__file__).resolve().parents[1]


def test_only_transient_errors_are_retried():
    from flows.nightly import is_transient

    assert is_transient(TransientError("429"))
    assert is_transient(ConflictError("lost a commit race"))
    assert not is_transient(DataError("bad batch"))
    assert not is_transient(ConfigError("bad spec"))
    assert not is_transient(ValueError("bug"))


def test_failed_stage_is_named_notified_and_resumed(prefect_server, settings, tmp_path, monkeypatch):
    from flows.nightly import StageFailed, nightly

    landing = tmp_path / "landing"
    generate_day(landing, day=date(2026, 1, 5), n_traces=120, traces_per_file=60)
    (landing / "ground_truth-2026-01-05.jsonl").unlink()
    with fake_services() as fakes:
        monkeypatch.setenv("TRACEMILL_NOTIFY_WEBHOOK", fakes.slack_url)
        with pytest.raises(StageFailed) as err:
            nightly(landing=[str(landing)], dataset="golden", candidate_spec=str(tmp_path / "missing.yaml"))
        assert "stage 'eval' failed" in str(err.value)
        con = connect(settings)
        run_id, status, stage, error = con.execute(
            "SELECT run_id, status, failed_stage, error FROM pipeline_runs").fetchall()[0]
        assert (status, stage) == ("failed", "eval") and "missing.yaml" in error
        assert any("FAILED at stage eval" in m.get("text", "") for m in fakes.state.slack_messages)
        con.close()

        out = nightly(landing=[str(landing)], dataset="golden",
                      candidate_spec=str(ROOT / "examples/candidates/support-agent-v1.yaml"), resume_run_id=run_id)
    assert out["run_id"] == run_id and out["eval"]["status"] == "completed"
    con = connect(settings)
    attempts = dict(con.execute(
        "SELECT stage, count(*) FROM pipeline_stages WHERE run_id = ? GROUP BY ALL", [run_id]).fetchall())
    # ingest, mine and promote ran once; eval failed once (a config error is not retried) then completed.
    assert attempts == {"ingest": 1, "mine": 1, "promote": 1, "eval": 2, "compare": 1, "post": 1}
    assert con.execute("SELECT count(*) FROM ingest_loads").fetchall()[0][0] == 1
    assert con.execute("SELECT status, attempts FROM pipeline_runs").fetchall() == [("completed", 2)]

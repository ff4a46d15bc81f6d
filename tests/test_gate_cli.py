"""``tracemill eval compare`` / ``eval gate`` / ``eval post`` over experiments stored in the warehouse."""

from __future__ import annotations

from typer.testing import CliRunner

from fakes_http import fake_services
from test_post import _free_port
from test_gate_compare import sample_data, seed_dataset, seed_experiment
from tracemill.cli import app
from tracemill.report.github import MARKER


def test_compare_and_gate_commands(con, settings, tmp_path, monkeypatch):
    b, c, infos = sample_data(regress=1, critical_regress=False)
    name, version, h = seed_dataset(con, infos)
    seed_experiment(con, "exp_base", b, dataset_name=name, version=version, dataset_hash=h)
    seed_experiment(con, "exp_cand", c, dataset_name=name, version=version, dataset_hash=h)
    runner = CliRunner()

    res = runner.invoke(app, ["eval", "compare", "exp_base", "exp_cand"])
    assert res.exit_code == 0, res.output
    assert "correct" in res.output and "mcnemar-exact" in res.output and "report:" in res.output

    strict = tmp_path / "strict.yaml"
    strict.write_text("name: strict\nevaluators:\n  correct:\n    min_score: 0.9\n")
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text("name: lenient\ndefault:\n  max_regression: 0.5\n")
    with fake_services() as fake:
        monkeypatch.setenv("GITHUB_API_URL", fake.github_url)
        monkeypatch.setenv("GITHUB_TOKEN", "test-token")
        monkeypatch.setenv("SLACK_WEBHOOK_URL", f"http://127.0.0.1:{_free_port()}/slack/down")  # Slack is down
        res = runner.invoke(app, ["eval", "gate", "--baseline", "exp_base", "--candidate", "exp_cand",
                                  "--policy", str(strict), "--post-to", "github:acme/agent#5", "--post-to", "slack"])
        assert res.exit_code == 1, res.output
        assert "GATE FAILED" in res.output and "minimum 0.900" in res.output
        assert "github acme/agent#5: sent" in res.output and "slack default: pending" in res.output
        body = fake.comments("acme/agent", 5)[0]["body"]
        assert MARKER in body and "Release gate FAILED" in body and "Policy `strict`" in body

        # Slack is back: `tracemill eval post` sends what waited in the outbox
        monkeypatch.setenv("SLACK_WEBHOOK_URL", fake.slack_url)
        res = runner.invoke(app, ["eval", "post"])
        assert res.exit_code == 0, res.output
        assert len(fake.state.slack_messages) == 1
        assert "Release gate FAILED" in fake.state.slack_messages[0]["text"]

        res = runner.invoke(app, ["eval", "gate", "--baseline", "exp_base", "--candidate", "exp_cand",
                                  "--policy", str(lenient), "--post-to", "github:acme/agent#5"])
        assert res.exit_code == 0, res.output
        assert "GATE PASSED" in res.output
        comments = fake.comments("acme/agent", 5)
        assert len(comments) == 1 and "Release gate passed" in comments[0]["body"]   # updated in place
    assert con.execute("SELECT count(*) FROM comparisons").fetchone()[0] == 3   # one per compare/gate run
    rows = con.execute("SELECT policy_name, passed FROM gate_results ORDER BY created_at").fetchall()
    assert rows == [("strict", False), ("lenient", True)]

    res = runner.invoke(app, ["eval", "gate", "--baseline", "exp_base", "--candidate", "exp_nope", "--policy", str(lenient)])
    assert res.exit_code != 0 and "no such experiment" in str(res.exception or res.output)

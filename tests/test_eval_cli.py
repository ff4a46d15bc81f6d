"""``tracemill eval run`` over a real dataset version, and the flow module."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from typer.testing import CliRunner

from tracemill.cli import app
from tracemill.datasets import Example, ToolCallRef, add_examples
from tracemill.warehouse import connect

ROOT = Path(__file__).resolve().parents[1]


def test_eval_run_cli_scores_a_dataset_version(settings):
    con = connect(settings)
    add_examples(con, "support", [
        Example(example_id="a", inputs={"messages": [{"role": "user", "content": "Where is my order AB-12345?"}]},
                reference_trajectory=[ToolCallRef(name="lookup_order", arguments={})]),
        Example(example_id="b", inputs={"messages": [{"role": "user", "content": "I want a refund for AB-55555"}]},
                reference_trajectory=[ToolCallRef(name="lookup_order", arguments={}), ToolCallRef(name="refund_order", arguments={})]),
    ], message="two examples", author="test")
    con.close()
    runner = CliRunner()
    result = runner.invoke(app, ["eval", "run", "--dataset", "support@v1",
                                 "--candidate", str(ROOT / "examples" / "candidates" / "support-agent-v1.yaml")])
    assert result.exit_code == 0, result.output
    assert "completed" in result.output and "2 results" in result.output
    con = connect(settings)
    (exp_id, status, version, n, kind), = con.execute(
        "SELECT experiment_id, status, dataset_version, n_results, target_kind FROM experiments").fetchall()
    assert (status, version, n, kind) == ("completed", 1, 2, "python")
    keys = {r[0] for r in con.execute("SELECT DISTINCT key FROM eval_scores WHERE experiment_id = ?", [exp_id]).fetchall()}
    assert keys  # the demo agent's evaluators scored both results
    con.close()
    bad = runner.invoke(app, ["eval", "run", "--dataset", "nope", "--candidate", str(ROOT / "missing.yaml")])
    assert bad.exit_code != 0


def test_flow_module_imports_without_side_effects():
    spec = importlib.util.spec_from_file_location("run_offline_eval", ROOT / "flows" / "run_offline_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.run_offline_eval.name == "offline-eval"

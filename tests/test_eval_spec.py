"""Candidate specs: the example specs load, ${ENV} expands, and bad specs say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracemill.errors import ConfigError
from tracemill.evals import load_spec, parse_spec
from tracemill.evals.runner import build_evaluators

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "candidates"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_specs_load_and_build(path):
    spec = load_spec(path)
    assert spec.name and spec.target.kind in {"llm", "python", "http", "replay"}
    assert len(build_evaluators(spec)) == len(spec.evaluators)


def test_env_expansion_and_hashes(tmp_path, monkeypatch):
    path = tmp_path / "s.yaml"
    path.write_text("name: x\ntarget:\n  kind: llm\n  model: ${M:-openai/a}\n  api_base: ${BASE}\n")
    with pytest.raises(ConfigError, match=r"\$\{BASE\}"):
        load_spec(path)
    monkeypatch.setenv("BASE", "http://one/v1")
    a = load_spec(path)
    assert a.target.model == "openai/a" and a.target.api_base == "http://one/v1"
    monkeypatch.setenv("BASE", "http://two/v1")
    b = load_spec(path)
    # the endpoint does not change what the candidate answers; the model does
    assert a.target_config_hash == b.target_config_hash
    monkeypatch.setenv("M", "openai/b")
    assert load_spec(path).target_config_hash != a.target_config_hash


def test_bad_specs_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match="target"):
        parse_spec({"name": "x", "target": {"kind": "llm"}})
    with pytest.raises(ConfigError, match="concurrency"):
        parse_spec({"name": "x", "target": {"kind": "replay"}, "concurrency": 0})
    with pytest.raises(ConfigError, match="unknown evaluator"):
        build_evaluators(parse_spec({"name": "x", "target": {"kind": "replay"}, "evaluators": [{"name": "nope"}]}))
    with pytest.raises(ConfigError, match="not found"):
        load_spec(tmp_path / "missing.yaml")

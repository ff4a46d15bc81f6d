"""The release-gate flow on a real Prefect server: runs baseline and candidate specs (python targets),
gates, stores, writes the report, posts a PR comment to the fake GitHub, publishes artifacts."""

from __future__ import annotations

import sys
from pathlib import Path

from fakes_http import fake_services
from tracemill.datasets import Example, add_examples
from tracemill.warehouse import connect

ROOT = Path(__file__).resolve().parents[1]


def answer(inputs: dict, *, broken_every: int = 0) -> str:
    """A target: echoes the expected answer, but gets every ``broken_every``-th example wrong."""
    i = int(inputs["question"].split()[-1])
    return "wrong" if broken_every and i % broken_every == 0 else f"answer {i}"


def _spec(path: Path, name: str, broken_every: int) -> str:
    path.write_text(
        f"name: {name}\n"
        "target:\n  kind: python\n  function: test_gate_flow:answer\n"
        f"  params: {{broken_every: {broken_every}}}\n"
        "evaluators:\n  - name: exact\n"
        "concurrency: 4\n"
    )
    return str(path)


def test_release_gate_flow(prefect_server, settings, tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "flows"))
    from release_gate import release_gate

    con = connect(settings)
    add_examples(con, "gateflow", [
        Example(example_id=f"q{i:02d}", inputs={"question": f"what is {i}"}, reference_output=f"answer {i}",
                cluster_id=f"fm_000{i % 3}", metadata={"tags": ["critical"] if i == 4 else []})
        for i in range(30)
    ], message="flow test", author="test")
    con.close()
    base = _spec(tmp_path / "base.yaml", "baseline", 0)
    cand = _spec(tmp_path / "cand.yaml", "candidate", 4)    # breaks q00, q04, ..., q28: 8 of 30
    with fake_services() as fake:
        monkeypatch.setenv("GITHUB_API_URL", fake.github_url)
        monkeypatch.setenv("GITHUB_TOKEN", "test-token")
        out = release_gate(dataset_ref="gateflow", candidate_spec=cand, baseline=base,
                           policy=str(ROOT / "examples" / "policies" / "default.yaml"), post_to=["github:acme/agent#3"])
        assert out["passed"] is False and out["dataset_ref"] == "gateflow@v1"
        assert any("exact_match" in r for r in out["reasons"]) and any("q04" in r for r in out["reasons"])
        assert list(out["posts"].values()) == ["sent"]
        body = fake.comments("acme/agent", 3)[0]["body"]
        assert "Release gate FAILED" in body and "| q04 | exact_match |" in body
        # the baseline is now an experiment id: only the candidate runs again, and the comment is updated
        out2 = release_gate(dataset_ref="gateflow@v1", candidate_spec=cand, baseline=out["baseline_experiment_id"],
                            policy=str(ROOT / "examples" / "policies" / "default.yaml"), post_to=["github:acme/agent#3"])
        assert out2["baseline_experiment_id"] == out["baseline_experiment_id"] and out2["passed"] is False
        assert len(fake.comments("acme/agent", 3)) == 1
    assert Path(out["report"]).is_file()
    con = connect(settings)
    rows = con.execute("SELECT candidate_experiment_id, passed FROM gate_results ORDER BY created_at").fetchall()
    con.close()
    assert [r[1] for r in rows] == [False, False] and rows[0][0] == out["candidate_experiment_id"]

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["release-gate", "release-gate-scores"])))
    kinds = {(a.key, a.type) for a in arts}
    assert {("release-gate", "markdown"), ("release-gate-scores", "table")} <= kinds

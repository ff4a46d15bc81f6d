"""A run killed halfway resumes: the rerun makes no call for examples the killed run finished."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tracemill.datasets import Example, add_examples
from tracemill.evals import run_experiment
from tracemill.testing import FakeOpenAI
from tracemill.warehouse import connect

N = 60


def _spec(path, url):
    path.write_text(
        "name: resume-me\n"
        "target:\n"
        "  kind: llm\n"
        "  model: openai/fake-model\n"
        f"  api_base: {url}\n"
        "  api_key: fake\n"
        "evaluators:\n"
        "  - name: normalized_match\n"
        "concurrency: 4\n"
    )
    return path


def test_killed_run_resumes_without_repeating_finished_examples(settings, tmp_path):
    con = connect(settings)
    add_examples(con, "resume", [Example(example_id=f"e{i:02d}", inputs={"question": f"REPLY: item {i:02d}"},
                                         reference_output=f"item {i:02d}") for i in range(N)],
                 message="resume test", author="test")
    con.close()
    with FakeOpenAI(latency=0.2) as fake:
        spec = _spec(tmp_path / "cand.yaml", fake.url)
        proc = subprocess.Popen(
            [sys.executable, "-c", "from tracemill.cli import main; main()", "eval", "run", "--dataset", "resume",
             "--candidate", str(spec)],
            env={**os.environ, "TRACEMILL_WAREHOUSE": settings.warehouse}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.time() + 240
        while len(fake.chat_requests()) < N // 2 + 6:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.time() < deadline, "the eval run made too few calls"
            time.sleep(0.02)
        proc.kill()  # SIGKILL: no cleanup, no final flush
        proc.wait(30)

        con = connect(settings)
        (exp_id, status), = con.execute("SELECT experiment_id, status FROM experiments").fetchall()
        assert status == "running"  # killed mid-run
        finished = {r[0] for r in con.execute(
            "SELECT example_id FROM experiment_results WHERE experiment_id = ? AND error IS NULL", [exp_id]).fetchall()}
        con.close()
        assert 0 < len(finished) < N

        before = len(fake.chat_requests())
        summary = run_experiment(settings, dataset_ref="resume", spec_path=spec)
        called = {"e" + r.last_user.rsplit(" ", 1)[1] for r in fake.chat_requests()[before:]}

    assert not called & finished, sorted(called & finished)
    assert called | finished == {f"e{i:02d}" for i in range(N)}
    assert summary.experiment_id == exp_id and summary.status == "completed"
    assert summary.n_results == N and summary.n_resumed == len(finished)
    assert summary.scores == {"normalized_match": 1.0}

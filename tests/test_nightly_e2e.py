"""End to end on a real Prefect server: deploy from prefect.yaml, start a worker, trigger two
overlapping nightly runs, and check the warehouse they leave behind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import pytest

from tracemill.demo.generator import generate_day
from tracemill.settings import Settings
from tracemill.warehouse import connect

ROOT = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).parent / "prefect")
POOL = "tracemill-local"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError("prefect server did not become healthy")


@pytest.fixture()
def prefect_stack(tmp_path):
    """A Prefect server on loopback, the work pool, deployments from prefect.yaml and a worker."""
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect_home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}",
        "TRACEMILL_WAREHOUSE": str(tmp_path / "wh"),
        "TRACEMILL_PROJECT_DIR": str(ROOT),
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    procs: list[subprocess.Popen] = []
    logs = tmp_path / "logs"
    logs.mkdir()
    try:
        server = subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                  env=env, stdout=open(logs / "server.log", "w"), stderr=subprocess.STDOUT)
        procs.append(server)
        _wait_healthy(api, server)
        subprocess.run([PREFECT, "work-pool", "create", POOL, "--type", "process"], env=env, check=True,
                       capture_output=True, cwd=ROOT)
        out = subprocess.run([PREFECT, "--no-prompt", "deploy", "--all"], env=env, cwd=ROOT,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        worker = subprocess.Popen([PREFECT, "worker", "start", "--pool", POOL, "--limit", "2"], env=env, cwd=ROOT,
                                  stdout=open(logs / "worker.log", "w"), stderr=subprocess.STDOUT)
        procs.append(worker)
        yield env, logs
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def _run_deployment(env: dict, params: dict) -> str:
    args = [PREFECT, "deployment", "run", "nightly/nightly", "--params", json.dumps(params)]
    out = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        if "UUID" in line:
            return line.split()[-1]
    raise AssertionError(out.stdout)


def _wait_flow_run(env: dict, flow_run_id: str, timeout: float = 900) -> str:
    api = env["PREFECT_API_URL"]
    deadline = time.time() + timeout
    state = None
    while time.time() < deadline:
        state = httpx.get(f"{api}/flow_runs/{flow_run_id}", timeout=10).json()["state"]["type"]
        if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return state
        time.sleep(3)
    raise TimeoutError(f"flow run {flow_run_id} still {state}")


@pytest.mark.slow
def test_nightly_deployments_end_to_end(prefect_stack, tmp_path):
    env, logs = prefect_stack
    landing = tmp_path / "landing"
    truth = generate_day(landing / "otlp", day=date(2026, 1, 5), n_traces=300, traces_per_file=100)
    (landing / "otlp" / "ground_truth-2026-01-05.jsonl").unlink()
    params = {"landing": [str(landing / "otlp")], "dataset": "golden",
              "candidate_spec": str(ROOT / "examples/candidates/support-agent-v1.yaml")}
    first = _run_deployment(env, params)
    time.sleep(2)
    second = _run_deployment(env, params)  # overlaps the first: it must queue, not fail
    states = [_wait_flow_run(env, first), _wait_flow_run(env, second)]
    assert states == ["COMPLETED", "COMPLETED"], (logs / "worker.log").read_text()[-5000:]

    con = connect(Settings(warehouse=env["TRACEMILL_WAREHOUSE"]))
    runs = con.execute(
        "SELECT run_id, flow_run_id, status, outputs FROM pipeline_runs ORDER BY started_at"
    ).fetchall()
    assert {r[1] for r in runs} == {first, second}
    assert [r[2] for r in runs] == ["completed", "completed"]
    # Nothing duplicated: each span and trace once, though both runs ingested the same folder.
    assert con.execute("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans").fetchall()[0] == (
        truth.n_spans, truth.n_spans)
    assert con.execute("SELECT count(*), count(DISTINCT trace_id) FROM traces").fetchall()[0] == (300, 300)
    # Every stage ran once per run, and the outputs link clusters -> dataset version -> experiment.
    stages = con.execute(
        "SELECT run_id, count(*) FILTER (status = 'completed') FROM pipeline_stages GROUP BY ALL"
    ).fetchall()
    assert all(n == 6 for _, n in stages) and len(stages) == 2
    cluster_sets = []
    for run_id, _, _, outputs in runs:
        out = json.loads(outputs)
        mining_run = out["mine"]["run_id"]
        ids = {r[0] for r in con.execute(
            "SELECT cluster_id FROM failure_clusters WHERE run_id = ? AND cluster_id <> 'unclustered'", [mining_run]
        ).fetchall()}
        cluster_sets.append(ids)
        exp = con.execute(
            "SELECT dataset_name, dataset_version, status FROM experiments WHERE experiment_id = ?",
            [out["eval"]["experiment_id"]],
        ).fetchall()[0]
        assert exp[0] == "golden" and f"golden@v{exp[1]}" == out["promote"]["ref"] and exp[2] == "completed"
        linked = con.execute(
            """SELECT count(*) FROM dataset_examples e JOIN cluster_members m
               ON m.trace_id = e.source_trace_id AND m.cluster_id = e.cluster_id
               WHERE e.dataset_name = 'golden'""",
        ).fetchall()[0][0]
        assert linked > 0
    assert cluster_sets[0] and cluster_sets[0] == cluster_sets[1]  # mining the same data keeps the ids
    # The first run has no earlier night; the second compares with the first's config when the first's
    # eval finished before the second reached its compare stage (overlapping runs interleave stages).
    compares = [json.loads(r[3])["compare"] for r in runs]
    assert "skipped" in compares[0]
    assert "comparison_id" in compares[1] or "skipped" in compares[1]

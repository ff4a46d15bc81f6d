"""Two real processes write to the same dataset in the same embedded warehouse.

Either both land as consecutive versions or one fails with ConflictError; a killed writer leaves nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tracemill.datasets import Example, add_examples, list_versions, load_examples
from tracemill.warehouse import connect

# A writer process: waits for the go-file, adds its examples, prints a JSON outcome.
# With PAUSE_IN_TXN it stops inside the write transaction (after inserting rows) until killed.
WRITER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from tracemill.datasets import Example, add_examples
    from tracemill.errors import ConflictError
    from tracemill.settings import Settings
    from tracemill.warehouse import connect
    import tracemill.datasets.store as store

    tag, go, wh = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    con = connect(Settings(warehouse=wh))
    if os.environ.get("PAUSE_IN_TXN"):
        real = store._insert_rows
        def paused(*a, **k):
            real(*a, **k)
            Path(os.environ["PAUSE_IN_TXN"]).write_text("paused")
            time.sleep(600)
        store._insert_rows = paused
    Path(go.with_name(go.name + "." + tag + ".ready")).write_text("ready")
    while not go.exists():
        time.sleep(0.01)
    examples = [Example(example_id=f"{tag}_{i}", inputs={"q": f"{tag} question {i}"}) for i in range(20)]
    try:
        v = add_examples(con, "shared", examples, message=f"from {tag}", author=tag)
        print(json.dumps({"tag": tag, "ok": True, "version": v.version}))
    except ConflictError as exc:
        print(json.dumps({"tag": tag, "ok": False, "error": exc.render()}))
    """
)


def _spawn(tag: str, go: Path, wh: str, env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, tag, str(go), wh], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"writer exited early: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"writer never reached {path.name}")
        time.sleep(0.02)


def _check_all_versions(settings) -> list:
    con = connect(settings)
    try:
        versions = list_versions(con, "shared")
        assert [v.version for v in versions] == list(range(1, len(versions) + 1))  # no gap, no duplicate
        for v in versions:
            _vv, examples = load_examples(con, v.ref)  # hash-checked: never a half-written version
            assert len(examples) == v.n_examples
        return versions
    finally:
        con.close()


def test_two_processes_promote_concurrently(settings, tmp_path):
    con = connect(settings)
    add_examples(con, "shared", [Example(example_id="seed", inputs={"q": "seed"})], message="seed", author="t")
    con.close()
    go = tmp_path / "go"
    procs = [_spawn(tag, go, settings.warehouse) for tag in ("alpha", "beta")]
    for tag, p in zip(("alpha", "beta"), procs, strict=True):
        _wait_for(go.with_name(f"go.{tag}.ready"), p)
    go.write_text("go")  # release both writers at once
    outcomes = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-2000:]
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    oks = [o for o in outcomes if o["ok"]]
    assert oks, outcomes
    for o in outcomes:
        if not o["ok"]:
            assert "'shared'" in o["error"] and "nothing was written" in o["error"]  # a clear ConflictError
    versions = _check_all_versions(settings)
    assert len(versions) == 1 + len(oks)
    assert sorted(o["version"] for o in oks) == list(range(2, 2 + len(oks)))
    con = connect(settings)
    _v, head = load_examples(con, "shared")
    con.close()
    ids = {e.example_id for e in head}
    for o in outcomes:
        written = {f"{o['tag']}_{i}" for i in range(20)}
        assert (written <= ids) if o["ok"] else not (written & ids)


def test_writer_killed_mid_transaction_leaves_no_version(settings, tmp_path):
    con = connect(settings)
    add_examples(con, "shared", [Example(example_id="seed", inputs={"q": "seed"})], message="seed", author="t")
    con.close()
    go_victim, go_other = tmp_path / "go_victim", tmp_path / "go_other"
    go_victim.write_text("go")
    paused = tmp_path / "paused"
    # both start now (imports take a while); `other` waits for its go-file until the victim is paused
    victim = _spawn("victim", go_victim, settings.warehouse, {"PAUSE_IN_TXN": str(paused)})
    other = _spawn("other", go_other, settings.warehouse)
    try:
        _wait_for(paused, victim)
        # the victim holds an open write transaction with rows inserted; a reader sees none of it
        _check_all_versions(settings)
        go_other.write_text("go")
        out, err = other.communicate(timeout=180)
        assert other.returncode == 0, err[-2000:]
        other_result = json.loads(out.strip().splitlines()[-1])
    finally:
        other.kill()
        victim.kill()
        victim.wait(timeout=30)
    versions = _check_all_versions(settings)
    con = connect(settings)
    try:
        assert con.execute("SELECT count(*) FROM dataset_examples WHERE example_id LIKE 'victim_%'").fetchall()[0][0] == 0
        # and the warehouse still takes writes afterwards
        after = add_examples(con, "shared", [Example(example_id="after", inputs={"q": "after"})], message="after", author="t")
    finally:
        con.close()
    assert after.version == len(versions) + 1
    assert other_result["ok"] or "nothing was written" in other_result["error"]

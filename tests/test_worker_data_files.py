"""Parse workers write the span data files and the loader registers them (ducklake_add_data_files).

Every load here runs three ways - workers writing the data files, workers leaving the writing to
the loader, and no workers at all - and the warehouses must hold the same rows. The inputs are the
cases where the workers' view of a chunk is not the warehouse's: late spans of stored traces, a
span sent twice, traces split across chunks, a batch that fails validation, a file that breaks
halfway through.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import orjson
import pytest
from killable_load import KILLABLE

from tracemill.demo.generator import generate_day
from tracemill.errors import DataError
from tracemill.ingest import ingest_paths
from tracemill.settings import Settings
from tracemill.warehouse import connect

LINEAGE = ("load_id", "config_hash", "ingested_at", "updated_at", "first_load_id", "last_load_id", "source_file",
           "created_at")
TABLES = (("spans", "trace_id, span_id"), ("traces", "trace_id"), ("tool_calls", "trace_id, call_id"),
          ("feedback", "feedback_id"))
# (workers, worker_data_files): the three ways a load can write its spans.
MODES = {"data_files": (2, True), "loader_writes": (2, False), "in_process": (1, False)}


def _settings(root: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, int]:
    workers, files = MODES[mode]
    monkeypatch.setenv("TRACEMILL_WORKER_DATA_FILES", "1" if files else "0")
    monkeypatch.setenv("TRACEMILL_INGEST_BATCH_SPANS", "150")   # several chunks per file, traces split across them
    s = Settings(warehouse=str(root / f"wh-{mode}"))
    assert s.worker_data_files is files and s.ingest_batch_spans == 150
    return s, workers


def _dump(s: Settings) -> dict[str, list]:
    con = connect(s)
    got = {}
    for table, key in TABLES:
        cols = [c for (c,) in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                                          [table]).fetchall() if c not in LINEAGE]
        got[table] = con.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {key}").fetchall()
    got["quarantine"] = con.execute("SELECT reason, line_no, raw_bytes FROM quarantine ORDER BY ALL").fetchall()
    con.close()
    return got


def _lake_files(s: Settings) -> tuple[set[str], set[str]]:
    """(data files the catalog lists for `spans`, Parquet files in the spans folder), as file names; also
    fails on a staging folder left behind."""
    con = connect(s)
    listed = {Path(p).name for (p,) in con.execute("SELECT data_file FROM ducklake_list_files('lake', 'spans')").fetchall()}
    con.close()
    folder = Path(s.resolved_data_path) / "main" / "spans"
    assert not [p for p in folder.iterdir() if p.name.startswith(".tracemill-staging-")] if folder.is_dir() else True
    on_disk = {p.name for p in folder.glob("*.parquet")} if folder.is_dir() else set()
    return listed, on_disk


def _line_spans(line: bytes) -> list[dict]:
    return [sp for rs in orjson.loads(line)["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]]


def _request(spans: list[dict]) -> bytes:
    return orjson.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "support-agent"}}]},
        "scopeSpans": [{"scope": {"name": "late"}, "spans": spans}]}]}) + b"\n"


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("day")
    gt = generate_day(d / "otlp", day=date(2026, 1, 9), n_traces=180, traces_per_file=60)
    return sorted(gt.files)


def _late_file(day: list[Path], path: Path) -> Path:
    """A night-2 file: late children of night-1 traces, one night-1 span sent again, and new traces."""
    first = day[0].read_bytes().splitlines(keepends=True)
    old = _line_spans(first[0])
    late = []
    for i, parent in enumerate(old[:6]):
        child = dict(parent, spanId=f"{i:02d}" + parent["spanId"][2:][::-1], parentSpanId=parent["spanId"],
                     name="late retry")
        late.append(child)
    lines = [_request(late), _request(old[:1])] + day[2].read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines))
    return path


def test_data_files_give_the_same_warehouse(day: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Night 1 loads two files; night 2 one file with late spans, a repeat and new traces, and night 1's
    files again (skipped). All three ways give the same rows, and the catalog lists exactly the
    Parquet files on disk."""
    late = _late_file(day, tmp_path / "night2-a.jsonl")
    # A second night-2 file, so that two workers share the load.
    extra = tmp_path / "night2-b.jsonl"
    extra.write_bytes(day[1].read_bytes().splitlines(keepends=True)[0].replace(b'"traceId":"', b'"traceId":"e'))
    dumps, registered = {}, {}
    for mode in MODES:
        s, workers = _settings(tmp_path, mode, monkeypatch)
        stats: dict = {}
        first = ingest_paths([str(p) for p in day[:2]], settings=s, workers=workers, stats=stats)
        second = ingest_paths([str(late), str(extra), *map(str, day[:2])], settings=s, workers=workers)
        assert first.spans_ingested > 0 and second.files_skipped == 2
        assert second.duplicates == 1
        dumps[mode] = _dump(s)
        listed, on_disk = _lake_files(s)
        assert listed == on_disk
        registered[mode] = {n for n in listed if n.startswith("tracemill-")}
        if mode == "data_files":
            assert stats["cpu_s"].get("worker_data_file", 0) > 0
    assert registered["data_files"] and not registered["loader_writes"] and not registered["in_process"]
    for table, rows in dumps["in_process"].items():
        assert table == "quarantine" or rows, table
        assert dumps["data_files"][table] == rows, f"{table}: worker data files differ from the in-process load"
        assert dumps["loader_writes"][table] == rows, f"{table}: loader-written chunks differ from the in-process load"
    # The late children hang under their night-1 parents: no orphans, and their traces were rolled up again.
    con = connect(_settings(tmp_path, "data_files", monkeypatch)[0])
    assert con.execute("SELECT count(*) FROM spans WHERE name = 'late retry' AND NOT is_orphan").fetchall() == [(6,)]
    con.close()


def test_failed_batch_in_a_worker_file(day: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk that fails validation in the middle of a file is quarantined whole; the file's other chunks
    are written (after it, by the loader itself), the same rows as without data files."""
    lines = day[0].read_bytes().splitlines(keepends=True)
    bad_span = dict(_line_spans(lines[1])[0])
    bad_span["attributes"] = [*bad_span["attributes"], {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "-3"}}]
    bad = tmp_path / "with-bad-batch.jsonl"
    bad.write_bytes(b"".join(lines[:len(lines) // 2] + [_request([bad_span])] + lines[len(lines) // 2:]))
    dumps = {}
    for mode in MODES:
        s, workers = _settings(tmp_path, mode, monkeypatch)
        with pytest.raises(DataError, match="input_tokens"):
            ingest_paths([str(bad), str(day[1])], settings=s, workers=workers)
        dumps[mode] = _dump(s)
        listed, on_disk = _lake_files(s)
        assert listed == on_disk
    assert any(r[0] == "validation_failed" for r in dumps["in_process"]["quarantine"])
    for mode in ("data_files", "loader_writes"):
        assert dumps[mode] == dumps["in_process"], mode


def test_file_that_breaks_midway_leaves_no_data_files(day: list[Path], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose parse fails after its worker wrote - and the loader registered - some of its chunks
    (a worker's error arrives in the file's transaction, as here): the transaction rolls back, the
    registered files are deleted, and nothing of the file is visible."""
    import tempfile

    from tracemill.ingest.formats import FormatOptions
    from tracemill.ingest.loader import (
        FileRecord,
        _parse_files,
        _spans_data_dir,
        _unspool,
        _WorkerConfig,
        open_load,
    )

    s, _ = _settings(tmp_path, "data_files", monkeypatch)
    ingest_paths([str(day[1])], settings=s)
    before = _dump(s)
    with open_load(s, source="midway", format="otlp-json") as load:
        load._spans_dir = _spans_data_dir(load.con)
        assert load._spans_dir is not None
        staging = tempfile.mkdtemp(prefix=".tracemill-staging-", dir=load._spans_dir)
        cfg = _WorkerConfig(FormatOptions(native=s.native), None, s.ingest_batch_spans, load.summary.load_id,
                            load.config_hash, str(tmp_path), staging)
        msgs: list[tuple] = []
        _parse_files([(str(day[0]), "otlp-json")], cfg, msgs.append)
        chunks = [_unspool(payload) for kind, _, payload in msgs if kind == "chunk"]
        assert sum(c.data_file is not None for c in chunks) >= 3

        def items():
            yield from chunks
            raise DataError("the parse failed midway", value=str(day[0]))

        with pytest.raises(DataError, match="midway"):
            load.commit_batch(items(), file=FileRecord(str(day[0]), "x" * 64, day[0].stat().st_size, "otlp-json"))
        os.rmdir(staging)   # every chunk's file was registered (then deleted) or deleted
    assert _dump(s) == before
    listed, on_disk = _lake_files(s)
    assert listed == on_disk and listed


def test_next_load_removes_a_killed_loads_staging(day: list[Path], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A loader killed midway leaves its workers' unregistered data files in its staging folder; the
    next load with workers removes that folder (its owner is dead) and completes the load."""
    import subprocess
    import sys
    import time

    s, _ = _settings(tmp_path, "data_files", monkeypatch)
    con = connect(s)   # migrate first
    env = {**os.environ, "TRACEMILL_WAREHOUSE": s.warehouse}
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, os.pathsep.join(map(str, day)), "2"], env=env)
    folder = Path(s.resolved_data_path) / "main" / "spans"
    deadline = time.time() + 120
    while time.time() < deadline and con.execute("SELECT count(*) FROM ingest_files").fetchall()[0][0] < 1:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    time.sleep(2)   # its workers see the closed pipe and exit
    assert con.execute("SELECT count(*) FROM ingest_files").fetchall()[0][0] < len(day), "kill should land midway"
    left = [p for p in folder.iterdir() if p.name.startswith(".tracemill-staging-")]
    assert left and str(proc.pid) in left[0].name
    con.close()
    resumed = ingest_paths([str(p) for p in day], settings=s, workers=2)
    assert resumed.files_skipped >= 1
    assert not [p for p in folder.iterdir() if p.name.startswith(".tracemill-staging-")]
    listed, on_disk = _lake_files(s)
    assert listed <= on_disk
    killed = {n for n in on_disk - listed}   # registered by the killed transaction, never committed
    assert all(n.startswith("tracemill-") for n in killed)
    s2, workers = _settings(tmp_path, "in_process", monkeypatch)
    ingest_paths([str(p) for p in day], settings=s2, workers=workers)
    assert _dump(s) == _dump(s2)

"""The loader end to end on real OTLP files: idempotency, late spans, quarantine, GX failures,
resume after a kill, and a reader in another process while a load writes."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import orjson
import pytest
from killable_load import KILLABLE

from tracemill.demo.generator import generate_day
from tracemill.errors import DataError
from tracemill.ingest import ingest_paths
from tracemill.warehouse import connect

DAY = date(2026, 1, 5)


def _otlp_line(spans: list[dict], service: str = "svc") -> bytes:
    req = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
    }]}
    return orjson.dumps(req) + b"\n"


def _hex(name: str, n: int) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:n]


def _span(trace: str, span: str, parent: str | None = None, *, start: int = 1_000, end: int = 2_000, **attrs) -> dict:
    d = {
        "traceId": _hex(trace, 32), "spanId": _hex(span, 16), "name": f"span {span}",
        "startTimeUnixNano": str(1_767_600_000_000_000_000 + start), "endTimeUnixNano": str(1_767_600_000_000_000_000 + end),
        "attributes": [{"key": k.replace("__", "."), "value": {"stringValue": v} if isinstance(v, str) else {"intValue": str(v)}}
                       for k, v in attrs.items()],
    }
    if parent:
        d["parentSpanId"] = _hex(parent, 16)
    return d


def _counts(con) -> tuple[int, int, int]:
    return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in ("spans", "traces", "tool_calls"))


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, object]:
    d = tmp_path_factory.mktemp("landing")
    truth = generate_day(d / "otlp", day=DAY, n_traces=240, traces_per_file=40)
    (d / "otlp" / f"ground_truth-{DAY}.jsonl").rename(d / "truth.jsonl")
    return d / "otlp", truth


def test_idempotent_reingest(settings, landing):
    folder, truth = landing
    first = ingest_paths([str(folder)], settings=settings)
    assert first.files_seen == len(truth.files) == 6
    assert first.spans_ingested == truth.n_spans
    assert first.traces_touched == 240
    con = connect(settings)
    before = _counts(con)
    assert before[:2] == (truth.n_spans, 240)
    again = ingest_paths([str(folder)], settings=settings)
    assert (again.files_skipped, again.spans_ingested) == (6, 0)
    # The same content under another name is not skipped by hash... it is; a renamed copy with one
    # extra newline is a new file whose spans are all duplicates.
    copy = folder.parent / "copy.jsonl"
    copy.write_bytes(truth.files[0].read_bytes() + b"\n")
    dup = ingest_paths([str(copy)], settings=settings)
    assert dup.spans_ingested == 0 and dup.duplicates > 0
    assert _counts(con) == before
    statuses = con.execute("SELECT status, count(*) FROM ingest_loads GROUP BY ALL").fetchall()
    assert dict(statuses) == {"committed": 3}


def test_files_hashed_at_their_turn_still_skip_loaded_content(settings, landing, tmp_path):
    """A file whose size matches no loaded file is parsed before it is hashed; a compressed copy of a
    loaded file (another size, the same content) must still be skipped by its hash, not loaded again."""
    _, truth = landing
    first = ingest_paths([str(truth.files[0])], settings=settings)
    assert first.spans_ingested > 0
    gz = tmp_path / "copy.jsonl.gz"
    gz.write_bytes(gzip.compress(truth.files[0].read_bytes()))
    con = connect(settings)
    before = _counts(con)
    res = ingest_paths([str(gz), str(truth.files[1])], settings=settings, workers=2)
    assert (res.files_seen, res.files_skipped, res.duplicates) == (2, 1, 0)
    assert res.spans_ingested > 0
    assert _counts(con)[0] == before[0] + res.spans_ingested
    paths = {p for (p,) in con.execute("SELECT path FROM ingest_files").fetchall()}
    assert str(gz) not in paths and str(truth.files[1]) in paths
    shas = con.execute("SELECT content_sha256 FROM ingest_files WHERE path = ?", [str(truth.files[1])]).fetchall()
    assert shas == [(hashlib.sha256(truth.files[1].read_bytes()).hexdigest(),)]


def test_late_spans_update_rollup_and_orphans(settings, tmp_path):
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    # Night 1: root and a child whose parent (mid) has not arrived yet.
    a.write_bytes(_otlp_line([_span("t1", "root", start=0, end=5_000_000), _span("t1", "leaf", "mid", start=1_000, end=2_000)]))
    ingest_paths([str(a)], settings=settings)
    con = connect(settings)
    assert con.execute("SELECT span_count FROM traces WHERE trace_id = ?", [_hex("t1", 32)]).fetchall()[0][0] == 2
    assert con.execute("SELECT is_orphan FROM spans WHERE span_id = ?", [_hex("leaf", 16)]).fetchall()[0][0] is True
    # Later: the missing parent arrives, with an error and a later end.
    late = _span("t1", "mid", "root", start=500, end=9_000_000)
    late["status"] = {"code": 2, "message": "tool timed out"}
    b.write_bytes(_otlp_line([late]))
    ingest_paths([str(b)], settings=settings)
    row = con.execute("SELECT span_count, status, error_message, latency_ms FROM traces").fetchall()[0]
    assert row[0] == 3 and row[1] == "error" and row[2] == "tool timed out"
    assert row[3] == pytest.approx(9.0, abs=0.01)  # end moved from 5 ms to 9 ms after start
    assert con.execute("SELECT count(*) FROM spans WHERE is_orphan").fetchall()[0][0] == 0
    assert con.execute("SELECT count(*) FROM traces").fetchall()[0][0] == 1


def test_quarantine_each_kind_of_bad_input(settings, tmp_path):
    good = _span("t2", "ok1")
    f = tmp_path / "bad.jsonl"
    big = _span("t3", "big", gen_ai__input__messages="x" * 3000)
    lines = [
        _otlp_line([good]),
        b'{"resourceSpans": [ this is not json\n',                                          # malformed
        _otlp_line([{**_span("t4", "wt"), "startTimeUnixNano": {"oops": 1}}]),           # wrong type
        _otlp_line([{k: v for k, v in _span("t5", "noid").items() if k != "spanId"}]),   # missing id
        _otlp_line([big]),                                                                # oversized
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "\xff\xfe"}]}]}]}\n',   # invalid utf-8
    ]
    f.write_bytes(b"".join(lines))
    s = settings.model_copy(update={"max_record_bytes": 2000})
    summary = ingest_paths([str(f)], settings=s)
    con = connect(s)
    reasons = dict(con.execute("SELECT reason, count(*) FROM quarantine GROUP BY ALL").fetchall())
    assert set(reasons) == {"malformed_json", "wrong_type", "missing_id", "oversized", "invalid_utf8"}, reasons
    assert summary.quarantined == sum(reasons.values()) == 5
    assert summary.spans_ingested == 1
    assert con.execute("SELECT line_no FROM quarantine WHERE reason = 'malformed_json'").fetchall()[0][0] == 2
    raw = con.execute("SELECT raw FROM quarantine WHERE reason = 'invalid_utf8'").fetchall()[0][0]
    assert "\\xff" in raw  # the bad bytes are kept, escaped, not dropped


def test_a_span_nested_deeper_than_json_can_be_written_is_quarantined(settings, tmp_path):
    """orjson reads 1,024 levels of nesting but writes 254: such a span (raw, or a tool call's arguments)
    goes to quarantine with its tool calls, and the rest of the load goes on."""
    deep = json.dumps(_span("t6", "deep"))[:-1] + ', "vendor": ' + "[" * 300 + "]" * 300 + "}"
    messages = ('[{"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "f", "arguments": '
                + "[" * 260 + "]" * 260 + "}]}]")
    args = json.dumps(_span("t7", "args", gen_ai__operation__name="chat", gen_ai__output__messages=messages))
    f = tmp_path / "deep.jsonl"
    f.write_bytes(_otlp_line([_span("t6", "ok")]) + _otlp_line([]).replace(b'"spans":[]', f'"spans":[{deep},{args}]'.encode()))
    summary = ingest_paths([str(f)], settings=settings)
    con = connect(settings)
    rows = con.execute("SELECT reason, detail FROM quarantine ORDER BY detail").fetchall()
    assert [r for r, _ in rows] == ["invalid_value", "invalid_value"] and all("Recursion limit" in d for _, d in rows), rows
    assert summary.spans_ingested == 1 and summary.quarantined == 2
    assert con.execute("SELECT count(*) FROM tool_calls").fetchall()[0][0] == 0


def test_failed_validation_quarantines_the_batch_and_fails(settings, tmp_path):
    f = tmp_path / "neg.jsonl"
    f.write_bytes(_otlp_line([
        _span("t6", "a", gen_ai__operation__name="chat", gen_ai__usage__input_tokens=-5),
        _span("t6", "b", "a"),
    ]))
    with pytest.raises(DataError) as err:
        ingest_paths([str(f)], settings=settings)
    assert "expect_column_values_to_be_between(input_tokens)" in str(err.value)
    con = connect(settings)
    assert con.execute("SELECT count(*) FROM spans").fetchall()[0][0] == 0
    rows = con.execute("SELECT reason, validation IS NOT NULL FROM quarantine").fetchall()
    assert rows == [("validation_failed", True)] * 2
    assert con.execute("SELECT status, message FROM ingest_loads").fetchall()[0][0] == "failed"


def test_unknown_format_is_refused_before_writing(settings, tmp_path):
    f = tmp_path / "notes.csv"
    f.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(DataError) as err:
        ingest_paths([str(f)], settings=settings)
    assert "cannot tell the format" in str(err.value) and "a,b,c" in str(err.value)
    con = connect(settings)
    assert con.execute("SELECT count(*) FROM ingest_loads").fetchall()[0][0] == 0


def test_cost_from_litellm_map_and_user_prices(settings, tmp_path):
    prices = tmp_path / "prices.yaml"
    prices.write_text("acme-llm-7b:\n  input_cost_per_token: 0.001\n  output_cost_per_token: 0.002\n")
    f = tmp_path / "cost.jsonl"
    f.write_bytes(_otlp_line([
        _span("t7", "a", gen_ai__operation__name="chat", gen_ai__request__model="gpt-4o-mini",
              gen_ai__usage__input_tokens=1000, gen_ai__usage__output_tokens=100),
        _span("t8", "b", gen_ai__operation__name="chat", gen_ai__request__model="acme-llm-7b",
              gen_ai__usage__input_tokens=10, gen_ai__usage__output_tokens=5),
    ]))
    s = settings.model_copy(update={"prices_file": str(prices)})
    ingest_paths([str(f)], settings=s)
    con = connect(s)
    cost = dict(con.execute("SELECT model, cost_usd FROM spans").fetchall())
    assert cost["gpt-4o-mini"] == pytest.approx(1000 * 0.15e-6 + 100 * 0.6e-6)
    assert cost["acme-llm-7b"] == pytest.approx(0.02)
    by_model = dict(con.execute("SELECT model, sum(cost_usd) FROM cost_rollup GROUP BY ALL").fetchall())
    assert by_model["acme-llm-7b"] == pytest.approx(0.02)


def _env(settings) -> dict:
    return {**os.environ, "TRACEMILL_WAREHOUSE": settings.warehouse}


def test_resume_after_kill_midway(settings, landing, tmp_path):
    folder, truth = landing
    # Migrate first: two processes migrating one SQLite catalog at once can lose on its lock.
    con = connect(settings)
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, str(folder)], env=_env(settings))
    deadline = time.time() + 120
    while time.time() < deadline:
        n = con.execute("SELECT count(*) FROM ingest_files").fetchall()[0][0]
        if n >= 2:
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    done_files = con.execute("SELECT count(*) FROM ingest_files").fetchall()[0][0]
    assert 2 <= done_files < len(truth.files), "kill should land midway"
    # Only whole files are visible: every stored span belongs to a recorded file.
    partial = con.execute(
        "SELECT count(*) FROM spans WHERE source_file NOT IN (SELECT path FROM ingest_files)"
    ).fetchall()[0][0]
    assert partial == 0
    resumed = ingest_paths([str(folder)], settings=settings)
    assert resumed.files_skipped == done_files
    con2 = connect(settings)
    assert _counts(con2)[:2] == (truth.n_spans, 240)
    statuses = dict(con2.execute("SELECT status, count(*) FROM ingest_loads GROUP BY ALL").fetchall())
    assert statuses == {"interrupted": 1, "committed": 1}


_READER = """
import sys, time
from tracemill.settings import Settings
from tracemill.warehouse import connect
con = connect(Settings(warehouse=sys.argv[1]), migrate=False)
seen = []
end = time.time() + float(sys.argv[2])
while time.time() < end:
    seen.append(con.execute("SELECT count(*) FROM spans").fetchall()[0][0])
    time.sleep(0.05)
print(len(seen), min(seen), max(seen), int(seen == sorted(seen)))
"""


def test_reader_in_another_process_while_loading(settings, landing):
    folder, truth = landing
    connect(settings).close()  # create the catalog first
    reader = subprocess.Popen([sys.executable, "-c", _READER, settings.warehouse, "12"],
                              env=_env(settings), stdout=subprocess.PIPE, text=True)
    time.sleep(2)
    ingest_paths([str(folder)], settings=settings)
    out, _ = reader.communicate(timeout=120)
    assert reader.returncode == 0
    n, lo, hi, monotonic = map(int, out.split())
    assert n > 5 and monotonic == 1
    assert hi in (0, truth.n_spans) or lo <= hi <= truth.n_spans


def test_parallel_parse_workers_load_the_same_rows(settings, landing, tmp_path):
    """Parse worker processes (used for big loads) give the same rows, counts and per-file records."""
    folder, truth = landing
    stats: dict = {}
    summary = ingest_paths([str(folder)], settings=settings, workers=2, stats=stats)
    assert stats["workers"] == 2 and stats["cpu_s"]["worker_parse"] > 0
    assert (summary.files_seen, summary.spans_ingested, summary.traces_touched) == (6, truth.n_spans, 240)
    con = connect(settings)
    assert _counts(con)[:2] == (truth.n_spans, 240)
    assert con.execute("SELECT count(*) FROM ingest_files").fetchall()[0][0] == 6
    # A file a worker cannot parse fails the load with the parser's own error; nothing of it is written.
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jsonl").write_bytes(_otlp_line([_span("t9", "root")]))
    (bad / "b.jsonl").write_bytes(b'{"note": "not an ExportTraceServiceRequest"}\n')
    with pytest.raises(DataError) as err:
        ingest_paths([str(bad)], settings=settings, format="otlp-json", workers=2)
    assert "is not OTLP/JSON" in str(err.value)
    assert con.execute("SELECT count(*) FROM ingest_files WHERE path LIKE ?", [f"%{bad.name}/b.jsonl"]).fetchall()[0][0] == 0
    assert con.execute("SELECT status FROM ingest_loads ORDER BY started_at DESC LIMIT 1").fetchall()[0][0] == "failed"


def test_chunk_tables_built_in_parts_match_one_build(landing, tmp_path, monkeypatch):
    """A chunk's span table is built a few thousand spans at a time; the parts must give the same rows,
    and a span repeated in another part is still a duplicate of the first copy."""
    from tracemill.ingest import loader, sources
    from tracemill.ingest.cost import CostModel
    from tracemill.ingest.formats import FormatOptions, get

    folder, _ = landing
    lines = [ln for f in sorted(folder.glob("otlp-*.jsonl")) for ln in f.read_bytes().splitlines(keepends=True)]
    path = tmp_path / "repeats.jsonl"
    path.write_bytes(b"".join(lines[:2] + lines[:1] + lines[2:]))   # ~100 spans again, in later parts of chunk 1

    def chunks() -> list:
        items = get("otlp-json").parse(sources.local_source(str(path)), FormatOptions())
        return list(loader.build_chunks(items, load_id="l", chash="c", source_file=str(path),
                                        costs=CostModel({}), batch_spans=300))

    whole = chunks()
    monkeypatch.setattr(loader, "_TABLE_EVERY", 7)
    parts = chunks()
    assert len(parts) == len(whole) > 2
    assert any(c.spans.column("raw").num_chunks > 1 for c in parts)
    n_dup = 0
    for a, b in zip(whole, parts, strict=True):
        assert b.spans.schema == a.spans.schema
        assert b.spans.combine_chunks().equals(a.spans.combine_chunks())
        assert (b.records, b.duplicate_raw) == (a.records, a.duplicate_raw)
        n_dup += len(a.duplicate_raw)
    assert n_dup > 0

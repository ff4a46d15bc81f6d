"""Ingest benchmark: our whole OTLP ingest vs DuckDB's own read-unnest-write of the same files.

    .venv/bin/python benchmarks/ingest.py [--spans 1000000]

Prints spans/s for both, the ratio (ours / DuckDB, target <= 2.0) and our peak RSS (target < 2 GB).
Both are measured in the same run, on the same files, each in a fresh subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DUCKDB_SQL = """
COPY (
    SELECT sp.*
    FROM (
        SELECT unnest(ss.spans) AS sp
        FROM (
            SELECT unnest(rs.scopeSpans) AS ss
            FROM (SELECT unnest(resourceSpans) AS rs
                  FROM read_json(?, format = 'newline_delimited', maximum_object_size = 1073741824))
        )
    )
) TO '{out}' (FORMAT parquet)
"""


def _child(mode: str, files_glob: str, workdir: str) -> None:
    t0 = time.perf_counter()
    if mode == "duckdb":
        import duckdb

        con = duckdb.connect(config={"threads": 2})
        out = Path(workdir) / "duckdb_spans.parquet"
        con.execute(DUCKDB_SQL.format(out=out.as_posix()), [files_glob])
        n = con.execute("SELECT count(*) FROM read_parquet(?)", [str(out)]).fetchone()[0]
    else:
        os.environ["TRACEMILL_WAREHOUSE"] = str(Path(workdir) / "wh")
        from tracemill.ingest import ingest_paths

        summary = ingest_paths([files_glob])
        n = summary.spans_ingested
    elapsed = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "spans": n, "seconds": elapsed, "peak_rss_mb": rss_mb}))


def _run(mode: str, files_glob: str, workdir: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, files_glob, workdir],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=1_000_000)
    ap.add_argument("--child", nargs=3)
    args = ap.parse_args()
    if args.child:
        _child(*args.child)
        return
    sys.path.insert(0, str(ROOT / "src"))
    from tracemill.demo.generator import generate_day

    with tempfile.TemporaryDirectory(prefix="tm-bench-") as tmp:
        landing = Path(tmp) / "landing"
        t0 = time.perf_counter()
        n_traces = args.spans // 5 + 1
        truth = generate_day(landing, day=date(2026, 1, 5), n_traces=n_traces, traces_per_file=20_000)
        size = sum(f.stat().st_size for f in truth.files)
        print(f"generated {truth.n_spans:,} spans in {len(truth.files)} OTLP JSON-lines files "
              f"({size / 1e6:,.0f} MB) in {time.perf_counter() - t0:.1f}s")
        files_glob = str(landing / "otlp-*.jsonl")
        duck = _run("duckdb", files_glob, tmp)
        ours = _run("tracemill", files_glob, tmp)
    d_rate = duck["spans"] / duck["seconds"]
    o_rate = ours["spans"] / ours["seconds"]
    print(f"duckdb read+unnest+parquet: {duck['spans']:,} spans in {duck['seconds']:.1f}s = {d_rate:,.0f} spans/s "
          f"(peak RSS {duck['peak_rss_mb']:,.0f} MB)")
    print(f"tracemill ingest          : {ours['spans']:,} spans in {ours['seconds']:.1f}s = {o_rate:,.0f} spans/s "
          f"(peak RSS {ours['peak_rss_mb']:,.0f} MB)")
    ratio = ours["seconds"] / duck["seconds"]
    print(f"ratio tracemill/duckdb time: {ratio:.2f} (target <= 2.0)  {'OK' if ratio <= 2.0 else 'OVER'}")
    print(f"tracemill peak RSS: {ours['peak_rss_mb']:,.0f} MB (target < 2048 MB)  {'OK' if ours['peak_rss_mb'] < 2048 else 'OVER'}")


if __name__ == "__main__":
    main()

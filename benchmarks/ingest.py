"""Ingest benchmark: our whole OTLP ingest vs DuckDB's own read-unnest-write of the same files.

    .venv/bin/python benchmarks/ingest.py [--spans 1000000] [--workers N] [--rounds 1]

Prints, for both (each run as a fresh subprocess on the same files, in the same run):
- spans/s, wall seconds (process start to exit: imports, connect and migrations included) and CPU
  seconds (the process, its threads and its worker processes, from the parent's RUSAGE_CHILDREN);
- the ratio tracemill/DuckDB of wall time (target <= 2.0) and of CPU time. The machine may be shared:
  the CPU ratio is the one that does not move with other people's load; wall is what a user waits;
- peak RSS: the largest sum over the process tree (loader + parse workers), polled from /proc every
  0.1 s, and the largest single process (target < 2 GB);
- where tracemill's time went (per stage, main process wall and CPU; workers' CPU), and the OTLP
  parser's CPU cost per span (formats/otlp_json.py + semconv, measured inside the workers).
With --rounds N the two are run N times alternately and the medians are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
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


def _child(mode: str, files_glob: str, workdir: str, workers: str) -> None:
    t0 = time.perf_counter()
    extra: dict = {}
    if mode == "duckdb":
        import duckdb

        con = duckdb.connect(config={"threads": 2})
        out = Path(workdir) / "duckdb_spans.parquet"
        con.execute(DUCKDB_SQL.format(out=out.as_posix()), [files_glob])
        n = con.execute("SELECT count(*) FROM read_parquet(?)", [str(out)]).fetchone()[0]
        out.unlink()
    else:
        os.environ["TRACEMILL_WAREHOUSE"] = str(Path(workdir) / f"wh-{os.getpid()}")
        from tracemill.ingest import ingest_paths

        stats: dict = {}
        summary = ingest_paths([files_glob], workers=None if workers == "auto" else int(workers), stats=stats)
        n = summary.spans_ingested
        extra = {"stats": stats, "traces": summary.traces_touched, "quarantined": summary.quarantined}
    elapsed = time.perf_counter() - t0
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({
        "mode": mode, "spans": n, "inner_seconds": elapsed,
        "self_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_rss_mb": kids.ru_maxrss / 1024, **extra,
    }))


def _tree_rss_mb(root: int) -> float:
    """Sum of RSS over ``root`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/statm") as fh:
                rss[int(d)] = int(fh.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total / 1e6


def _run(mode: str, files_glob: str, workdir: str, workers: str) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, files_glob, workdir, workers],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    peak = [0.0]
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.1):
            peak[0] = max(peak[0], _tree_rss_mb(proc.pid))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    poller.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.stderr.write(err)
        raise SystemExit(f"{mode} run failed with exit code {proc.returncode}")
    res = json.loads(out.strip().splitlines()[-1])
    res["seconds"] = wall
    res["cpu_seconds"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    res["tree_peak_rss_mb"] = peak[0]
    return res


def _breakdown(res: dict) -> None:
    stats = res["stats"]
    n = max(res["spans"], 1)
    wall, cpu = stats.get("wall_s", {}), stats.get("cpu_s", {})
    print(f"tracemill stages ({stats.get('workers')} parse worker(s); main-process wall / CPU; "
          f"CPU includes DuckDB's threads; µs per span ingested):")
    for stage in sorted(set(wall) | set(cpu), key=lambda k: -cpu.get(k, 0.0)):
        w = wall.get(stage)
        c = cpu.get(stage, 0.0)
        ws = f"{w:8.1f}s" if w is not None else "        -"
        print(f"  {stage:24s} wall {ws}  cpu {c:8.1f}s  {c / n * 1e6:7.1f} µs/span")
    parse = cpu.get("worker_parse", cpu.get("parse_build_inprocess"))
    if parse:
        print(f"OTLP parser (otlp_json + semconv.map_span) CPU: {parse / n * 1e6:.1f} µs/span"
              + ("" if "worker_parse" in cpu else " (in-process: includes building the tables)"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=1_000_000)
    ap.add_argument("--workers", default="auto", help="parse worker processes for tracemill (auto: one per CPU)")
    ap.add_argument("--rounds", type=int, default=1, help="run both this many times, alternately; print medians")
    ap.add_argument("--child", nargs=4)
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
              f"({size / 1e6:,.0f} MB) in {time.perf_counter() - t0:.1f}s; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        files_glob = str(landing / "otlp-*.jsonl")
        ducks, ours = [], []
        for r in range(args.rounds):
            ducks.append(_run("duckdb", files_glob, tmp, args.workers))
            ours.append(_run("tracemill", files_glob, tmp, args.workers))
            if args.rounds > 1:
                print(f"round {r + 1}: duckdb {ducks[-1]['seconds']:.1f}s wall / {ducks[-1]['cpu_seconds']:.1f}s CPU, "
                      f"tracemill {ours[-1]['seconds']:.1f}s wall / {ours[-1]['cpu_seconds']:.1f}s CPU, "
                      f"load average {os.getloadavg()[0]:.1f}")
        print(f"load average after: {os.getloadavg()[0]:.1f}")

    def med(runs: list[dict], key: str) -> float:
        return statistics.median(x[key] for x in runs)

    duck, mine = ducks[0], ours[len(ours) // 2]
    d_s, o_s = med(ducks, "seconds"), med(ours, "seconds")
    d_c, o_c = med(ducks, "cpu_seconds"), med(ours, "cpu_seconds")
    d_rss, o_rss = max(x["tree_peak_rss_mb"] for x in ducks), max(x["tree_peak_rss_mb"] for x in ours)
    o_single = max(max(x["self_peak_rss_mb"], x["worker_peak_rss_mb"]) for x in ours)
    print(f"duckdb read+unnest+parquet: {duck['spans']:,} spans in {d_s:.1f}s = {duck['spans'] / d_s:,.0f} spans/s; "
          f"CPU {d_c:.1f}s = {d_c / duck['spans'] * 1e6:.0f} µs/span; peak RSS {d_rss:,.0f} MB")
    print(f"tracemill ingest          : {mine['spans']:,} spans in {o_s:.1f}s = {mine['spans'] / o_s:,.0f} spans/s; "
          f"CPU {o_c:.1f}s = {o_c / mine['spans'] * 1e6:.0f} µs/span; peak RSS {o_rss:,.0f} MB "
          f"(largest process {o_single:,.0f} MB); {mine['traces']:,} traces, {mine['quarantined']} quarantined")
    ratio = o_s / d_s
    print(f"ratio tracemill/duckdb wall time: {ratio:.2f} (target <= 2.0)  {'OK' if ratio <= 2.0 else 'OVER'}")
    print(f"ratio tracemill/duckdb CPU time : {o_c / d_c:.2f}")
    print(f"tracemill peak RSS (all processes): {o_rss:,.0f} MB (target < 2048 MB)  {'OK' if o_rss < 2048 else 'OVER'}")
    _breakdown(mine)


if __name__ == "__main__":
    main()

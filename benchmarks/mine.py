"""Benchmark failure mining end to end at 10k, 30k and 100k failing traces.

Each size runs in its own process on a fresh embedded warehouse: the failing traces (plus half as many
successful ones, the baseline for the latency/cost outlier statistics) are written straight into the
traces / tool_calls / feedback tables, then ``mine()`` runs once and is timed: signals, features,
clustering, labels, representatives, matching and the one write transaction.

    python benchmarks/mine.py            # 10k, 30k, 100k
    python benchmarks/mine.py 5000 20000 # other sizes

Prints traces/s per size, the adjusted Rand index against the planted modes (quality at scale: most
points are assigned to clusters found on a sample), the ratio to the smallest size (close to 1.0 = linear growth) and the peak RSS
of the process (target: 100k in < 60 s with peak RSS < 3 GB on 2 cores).
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from tracemill.demo.generator import AUTH_ERRORS, ITEMS, LOOP_FINAL, POLICY_FINAL, TOOL_ERROR_FINAL, TOOL_ERRORS, USER, WRONG_TOOL_COMMENTS, WRONG_TOOL_FINAL
from tracemill.lineage import SCHEMA_VERSION

MODES = ["tool_error", "loop", "policy_violation", "wrong_tool", "slow", "costly", "auth_failure"]
DAY = datetime(2026, 1, 5, tzinfo=UTC)


# Free-text noise so almost every feature text is unique (the hard case for dedupe and clustering).
_VOCAB = ["".join(random.Random(i).choices("abcdefghijklmnopqrstuvwxyz", k=7)) for i in range(5000)]


def _slots(rng: random.Random) -> dict:
    return {"oid": f"{rng.choice('ABCDEFGHJK')}{rng.randint(10000, 99999)}", "n": rng.randint(2, 14),
            "item": rng.choice(ITEMS), "when": "yesterday", "ms": rng.choice([10000, 30000]), "s": 15,
            "amt": f"{rng.uniform(520, 2000):.2f}", "name": "Ana", "hex4": f"{rng.getrandbits(16):04x}",
            "addr": "1 High Street", "city": "Leeds"}


def synthesize(n_failing: int, seed: int = 7, truth: dict[str, str] | None = None) -> dict[str, pa.Table]:
    """Rows for traces, tool_calls and feedback: ``n_failing`` failing traces + ``n_failing // 2`` ok ones."""
    rng = random.Random(seed)
    tr: dict[str, list] = {k: [] for k in ("trace_id", "start_time", "latency_ms", "status", "error_message",
                                           "input", "output", "total_tokens", "tool_sequence")}
    tc: dict[str, list] = {k: [] for k in ("trace_id", "call_id", "seq", "tool_name", "arguments", "status",
                                           "error_message")}
    fb: dict[str, list] = {k: [] for k in ("feedback_id", "trace_id", "key", "score", "label", "comment")}
    total = n_failing + n_failing // 2
    for i in range(total):
        mode = MODES[i % len(MODES)] if i < n_failing else "ok"
        s = _slots(rng)
        tid = f"{rng.getrandbits(128):032x}"
        intent = rng.choice(["order_status", "refund", "cancel"])
        user = rng.choice(USER[intent]).format(**s) + " " + " ".join(rng.choices(_VOCAB, k=3))
        latency, tokens, status, err, out = rng.lognormvariate(7.8, 0.3), int(rng.lognormvariate(7.6, 0.3)), "ok", None, \
            f"Your order {s['oid']} is shipped."
        calls: list[tuple] = [("lookup_order", {"order_id": s["oid"]}, "ok", None)]
        if mode == "tool_error":
            e = rng.choice(TOOL_ERRORS).format(**s)
            calls = [("lookup_order", {"order_id": s["oid"]}, "error", e)]
            out = rng.choice(TOOL_ERROR_FINAL).format(**s)
        elif mode == "loop":
            calls = calls * rng.randint(3, 5)
            out = rng.choice(LOOP_FINAL).format(**s)
        elif mode == "policy_violation":
            calls = calls + [("refund_order", {"order_id": s["oid"], "amount": float(s["amt"])}, "ok", None)]
            out = rng.choice(POLICY_FINAL).format(**s)
        elif mode == "wrong_tool":
            calls = [("search_kb", {"query": "shipping times"}, "ok", None)]
            out = rng.choice(WRONG_TOOL_FINAL).format(**s)
            fb["feedback_id"].append(f"{tid}-f")
            fb["trace_id"].append(tid)
            fb["key"].append("user_feedback")
            fb["score"].append(0.0)
            fb["label"].append("thumbs_down")
            fb["comment"].append(rng.choice(WRONG_TOOL_COMMENTS) or None)
        elif mode == "slow":
            latency *= rng.uniform(20, 50)
        elif mode == "costly":
            tokens *= rng.randint(20, 40)
        elif mode == "auth_failure":
            calls, status, out = [], "error", None
            err = rng.choice(AUTH_ERRORS).format(**s)
        if truth is not None:
            truth[tid] = mode
        tr["trace_id"].append(tid)
        tr["start_time"].append(DAY + timedelta(seconds=rng.uniform(0, 86_000)))
        tr["latency_ms"].append(latency)
        tr["status"].append(status)
        tr["error_message"].append(err)
        tr["input"].append(user)
        tr["output"].append(out)
        tr["total_tokens"].append(tokens)
        tr["tool_sequence"].append([c[0] for c in calls])
        for j, (name, args, st, e) in enumerate(calls):
            tc["trace_id"].append(tid)
            tc["call_id"].append(f"{tid}-{j}")
            tc["seq"].append(j)
            tc["tool_name"].append(name)
            tc["arguments"].append(json.dumps(args))
            tc["status"].append(st)
            tc["error_message"].append(e)
    return {"traces": pa.table(tr), "tool_calls": pa.table(tc), "feedback": pa.table(fb)}


def load(con, tables: dict[str, pa.Table]) -> None:
    from tracemill.warehouse import transaction

    for name, t in tables.items():
        con.register(f"bench_{name}", t)
    with transaction(con, what="benchmark rows"):
        con.execute(f"""INSERT INTO traces (trace_id, name, start_time, end_time, latency_ms, status, error_message,
                input, output, total_tokens, models, tool_sequence, tool_call_count, source, load_id, schema_version)
            SELECT trace_id, 'invoke_agent support-agent', start_time, start_time, latency_ms, status, error_message,
                input, output, total_tokens, ['gpt-4o-mini'], tool_sequence, len(tool_sequence), 'bench', 'bench',
                {SCHEMA_VERSION} FROM bench_traces""")
        con.execute(f"""INSERT INTO tool_calls (trace_id, call_id, seq, tool_name, arguments, status, error_message,
                source, load_id, schema_version)
            SELECT trace_id, call_id, seq, tool_name, arguments::JSON, status, error_message, 'bench', 'bench',
                {SCHEMA_VERSION} FROM bench_tool_calls""")
        con.execute(f"""INSERT INTO feedback (feedback_id, trace_id, key, score, label, comment, source, load_id,
                schema_version)
            SELECT feedback_id, trace_id, key, score, label, comment, 'user', 'bench', {SCHEMA_VERSION}
            FROM bench_feedback""")


def one(n: int) -> None:
    """Run one size in this process and print a JSON line with the numbers."""
    from tracemill.mining import mine
    from tracemill.settings import Settings
    from tracemill.warehouse import connect

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(warehouse=str(Path(tmp) / "wh"))
        con = connect(settings)
        t0 = time.perf_counter()
        truth: dict[str, str] = {}
        load(con, synthesize(n, truth=truth))
        setup = time.perf_counter() - t0
        stages: dict[str, float] = {}
        last = [time.perf_counter(), "start"]

        def progress(stage: str, frac: float) -> None:
            now = time.perf_counter()
            stages[last[1]] = stages.get(last[1], 0.0) + now - last[0]
            last[:] = [now, stage]

        t0 = time.perf_counter()
        result = mine(settings, con=con, progress=progress)
        elapsed = time.perf_counter() - t0
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        from sklearn.metrics import adjusted_rand_score

        rows = con.execute("SELECT trace_id, cluster_id FROM cluster_members WHERE run_id = ?", [result.run_id]).fetchall()
        ari = adjusted_rand_score([truth[t] for t, _ in rows], [c for _, c in rows])
        print(json.dumps({"n": n, "failing": result.n_failing_traces, "scanned": result.n_traces_scanned,
                          "clusters": len(result.live_clusters), "seconds": elapsed, "setup_seconds": setup,
                          "rss_mb": rss_mb, "ari": ari, "stages": {k: round(v, 2) for k, v in stages.items()}}))


def main(sizes: list[int]) -> None:
    print(f"failure mining benchmark, {os.cpu_count()} cores")
    print(f"{'failing':>8} {'seconds':>8} {'traces/s':>9} {'vs first':>8} {'peak RSS':>9}  clusters    ARI  stages (s)")
    base = None
    for n in sizes:
        proc = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stderr[-3000:])
            raise SystemExit(proc.returncode)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rate = r["failing"] / r["seconds"]
        base = base or rate
        print(f"{r['failing']:>8} {r['seconds']:>8.1f} {rate:>9.0f} {rate / base:>8.2f} {r['rss_mb']:>7.0f}MB  "
              f"{r['clusters']:>8}  {r['ari']:.3f}  {r['stages']}")
    print("target: 100k failing traces in < 60 s, peak RSS < 3 GB; 'vs first' near 1.0 means linear growth")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--one"]:
        one(int(args[1]))
    else:
        main([int(a) for a in args] or [10_000, 30_000, 100_000])

"""Throughput of the eval runner against the loopback fake (the whole call path through litellm).

Runs N examples at a fixed server latency and concurrency and prints the ratio of the measured
time to the ideal ``N × latency / concurrency``; then again with a share of 429 responses (with
Retry-After) and checks that no example is lost. The fake server runs in its own process.

    .venv/bin/python benchmarks/eval_runner.py            # 2,000 × 200 ms at concurrency 50
    .venv/bin/python benchmarks/eval_runner.py --n 500 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")

import httpx  # noqa: E402

from tracemill.datasets.example import Example  # noqa: E402
from tracemill.evals import parse_spec, run_spec  # noqa: E402
from tracemill.settings import Settings  # noqa: E402
from tracemill.warehouse import connect  # noqa: E402


@dataclass(frozen=True)
class Version:
    name: str
    version: int = 1
    content_hash: str = "0" * 64
    snapshot_id: int = 0


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def start_fake(latency_ms: float, rate_429: float = 0.0, retry_after: float = 0.2) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "tracemill.testing.fake_openai", "--port", str(port), "--latency-ms", str(latency_ms),
           "--rate-429", str(rate_429), "--retry-after", str(retry_after)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(base + "/v1/models", timeout=1)
            return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("fake server did not start")


def run_once(con, base: str, n: int, concurrency: int, tag: str, profile: bool = False, processes: int = 1):
    spec = parse_spec({
        "name": f"bench-{tag}",
        "target": {"kind": "llm", "model": "openai/fake-model", "api_base": base + "/v1", "api_key": "fake"},
        "evaluators": [{"name": "normalized_match"}],
        "concurrency": concurrency, "max_retries": 8, "timeout_s": 30, "processes": processes,
    })
    examples = [Example(example_id=f"b{i:05d}", inputs={"question": f"REPLY: answer {tag} {i}"},
                        reference_output=f"answer {tag} {i}") for i in range(n)]
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    summary = run_spec(con, spec, version=Version(name=f"bench-{tag}"), examples=examples, dataset_ref=f"bench-{tag}")
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("cumtime").print_stats(40)
    return summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--latency-ms", type=float, default=200)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--rate-429", type=float, default=0.05)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--processes", type=int, default=2, help="worker processes for the calls (1 = in-process)")
    args = ap.parse_args()
    ideal = args.n * args.latency_ms / 1000 / args.concurrency
    con = connect(Settings(warehouse=tempfile.mkdtemp(prefix="tm_bench_")))

    proc, base = start_fake(args.latency_ms)
    try:
        run_once(con, base, 100, args.concurrency, "warmup", processes=args.processes)  # imports litellm, opens the pool, warms DuckLake
        cpu0, kids0 = time.process_time(), _children_cpu()
        s = run_once(con, base, args.n, args.concurrency, "plain", args.profile, args.processes)
        cpu, kids = time.process_time() - cpu0, _children_cpu() - kids0
    finally:
        proc.terminate()
        proc.wait()
    assert s.n_results == args.n and s.n_errors == 0, s
    print(f"{args.n} examples × {args.latency_ms:g} ms at concurrency {args.concurrency}, {args.processes} process(es): "
          f"ideal {ideal:.2f}s")
    print(f"  calls phase {s.run_s:.2f}s  -> ratio {s.run_s / ideal:.3f}   (end to end incl. setup/final writes "
          f"{s.elapsed_s:.2f}s, ratio {s.elapsed_s / ideal:.3f})")
    per = (cpu + kids) * 1000 / args.n
    print(f"  client CPU per example: parent {cpu * 1000 / args.n:.2f} ms + workers {kids * 1000 / args.n:.2f} ms = {per:.2f} ms;"
          f" on {os.cpu_count()} idle cores that alone needs >= {per * args.n / 1000 / (os.cpu_count() or 1):.2f}s "
          f"(ratio {per * args.n / 1000 / (os.cpu_count() or 1) / ideal:.3f});"
          f" load average during the run {os.getloadavg()[0]:.1f} (other processes share these cores)")

    proc, base = start_fake(args.latency_ms, rate_429=args.rate_429)
    try:
        run_once(con, base, 50, args.concurrency, "warmup429", processes=args.processes)
        s = run_once(con, base, args.n, args.concurrency, "with429", processes=args.processes)
    finally:
        proc.terminate()
    lost = args.n - (s.n_results - s.n_errors)
    print(f"  with {args.rate_429:.0%} 429s (Retry-After 0.2 s): calls phase {s.run_s:.2f}s -> ratio {s.run_s / ideal:.3f}; "
          f"calls made {s.n_calls} for {args.n} examples; examples lost {lost}")
    assert lost == 0


if __name__ == "__main__":
    main()

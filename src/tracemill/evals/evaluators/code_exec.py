"""Code execution pass@k for HumanEval-style problems, in a sandboxed subprocess.

Each program runs in a fresh ``python -I -S`` process in an empty temp folder with a scrubbed
environment, CPU-time, address-space, file-size and core-dump limits (``resource.setrlimit``), its
own session (the whole group is killed on timeout) and no stdin. This stops runaway or
memory-hungry code; it is not a security boundary against hostile code (use a container for that).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from math import comb
from typing import Any

from tracemill.evals.evaluators.result import EvalResult


@dataclass(frozen=True)
class ExecOutcome:
    """What happened to one program: passed, failed (exception/assert), timeout or killed."""

    passed: bool
    status: str
    detail: str = ""


def _limits(cpu_s: int, memory_mb: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        mem = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024 * 1024, 16 * 1024 * 1024))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def run_program(program: str, *, timeout_s: float = 10.0, memory_mb: int = 1024) -> ExecOutcome:
    """Run ``program`` in a sandboxed subprocess; passed means exit status 0 within the limits."""
    with tempfile.TemporaryDirectory(prefix="tracemill_exec_") as tmp:
        path = os.path.join(tmp, "program.py")
        with open(path, "w") as fh:
            fh.write(program)
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", path],
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "HOME": tmp},
            preexec_fn=_limits(max(1, int(timeout_s) + 1), memory_mb),
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return ExecOutcome(False, "timeout", f"no result within {timeout_s:g}s")
        if proc.returncode == 0:
            return ExecOutcome(True, "passed")
        tail = err.decode(errors="replace").strip().splitlines()[-1:] if err else []
        status = "killed" if proc.returncode < 0 else "failed"
        return ExecOutcome(False, status, (tail[0] if tail else f"exit {proc.returncode}")[:300])


def humaneval_program(problem: dict[str, Any], completion: str) -> str:
    """prompt + completion + tests + ``check(entry_point)`` (a completion holding the whole def is used as is)."""
    entry = problem["entry_point"]
    body = completion if f"def {entry}" in completion else problem["prompt"] + completion
    return f"{body}\n\n{problem['test']}\n\ncheck({entry})\n"


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def _completions(outputs: Any) -> list[str]:
    if isinstance(outputs, str):
        return [outputs]
    if isinstance(outputs, dict):
        for key in ("completions", "completion", "code", "output"):
            if key in outputs:
                return _completions(outputs[key])
    if isinstance(outputs, list):
        return [str(o) for o in outputs]
    raise ValueError(f"code outputs must be a string or a list of strings, got {type(outputs).__name__}")


def create_pass_at_k(
    *, k: int = 1, timeout_s: float = 10.0, memory_mb: int = 1024, workers: int = 2, key: str | None = None
) -> Callable[..., EvalResult]:
    """pass@k over the sampled completions in ``outputs`` for the problem in ``inputs``
    (HumanEval fields ``prompt``, ``test``, ``entry_point``)."""
    name = key or f"pass@{k}"

    def evaluator(*, inputs: Any, outputs: Any, reference_outputs: Any = None, **kw: Any) -> EvalResult:
        samples = _completions(outputs)
        programs = [humaneval_program(inputs, s) for s in samples]
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(programs)))) as pool:
            outcomes = list(pool.map(lambda p: run_program(p, timeout_s=timeout_s, memory_mb=memory_mb), programs))
        c = sum(o.passed for o in outcomes)
        score = pass_at_k(len(samples), c, min(k, len(samples)))
        failures = [o.detail for o in outcomes if not o.passed]
        return EvalResult(
            key=name,
            score=score,
            comment=None if not failures else failures[0],
            metadata={"n": len(samples), "c": c, "statuses": [o.status for o in outcomes]},
        )

    return evaluator

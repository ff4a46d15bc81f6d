"""Run a candidate over a dataset version: async calls with limits, retries, cache, budget and resume.

``run_experiment`` is the entry point (CLI and flow). ``run_calls`` is the engine: it takes
in-memory examples, a target and evaluators, and hands every finished call to a sink as soon
as it completes.
"""

from __future__ import annotations

import asyncio
import gc
import random
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from tracemill.datasets.example import Example
from tracemill.errors import BudgetExceeded, ConfigError, TransientError
from tracemill.evals import store
from tracemill.evals.cache import ResponseCache
from tracemill.evals.evaluators import EvalResult, as_results, build_evaluator
from tracemill.evals.ratelimit import RateLimiter
from tracemill.evals.spec import CandidateSpec, load_spec
from tracemill.evals.targets import Target, TargetOutput, build_target, needs_traces
from tracemill.evals.targets.replay import WarehouseTraces
from tracemill.evals.workers import ProcessPoolTarget, RemoteError
from tracemill.lineage import SCHEMA_VERSION, config_hash, content_hash, new_id, utcnow
from tracemill.settings import Settings
from tracemill.warehouse import query

# Evaluators that may block (subprocesses, network) run in a worker thread.
_BLOCKING = {"llm_judge", "pass_at_k"}

ProgressFn = Callable[[int, int, dict[str, Any]], None]  # (done, total, info)


@dataclass(frozen=True)
class NamedEvaluator:
    name: str
    fn: Callable[..., Any]
    config_hash: str
    blocking: bool


@dataclass(frozen=True)
class RunLimits:
    concurrency: int = 8
    rpm: float | None = None
    tpm: float | None = None
    timeout_s: float = 60.0
    max_retries: int = 4
    budget_usd: float | None = None
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0

    @classmethod
    def from_spec(cls, spec: CandidateSpec) -> RunLimits:
        return cls(concurrency=spec.concurrency, rpm=spec.rpm, tpm=spec.tpm, timeout_s=spec.timeout_s,
                   max_retries=spec.max_retries, budget_usd=spec.budget_usd)


@dataclass
class CallResult:
    """One finished (example, repetition): the answer or the error, and its scores."""

    example: Example
    repetition: int
    input_hash: str
    output: TargetOutput | None
    error: str | None
    attempts: int
    cached: bool
    started_at: datetime
    finished_at: datetime
    latency_ms: float | None
    scores: list[tuple[NamedEvaluator, EvalResult]] = field(default_factory=list)


@dataclass
class RunOutcome:
    status: str                 # completed | budget_exceeded
    n_done: int = 0
    n_errors: int = 0
    n_cached: int = 0
    spent_usd: float = 0.0
    n_calls: int = 0            # target calls made (attempts included)
    wall_s: float = 0.0         # time spent answering and scoring (excludes setup and final writes)


def build_evaluators(spec: CandidateSpec) -> list[NamedEvaluator]:
    """The spec's evaluators, built once per run."""
    out = []
    for e in spec.evaluators:
        fn = build_evaluator(e.name, e.params)
        out.append(NamedEvaluator(
            name=e.name, fn=fn, config_hash=config_hash({"name": e.name, "params": e.params}),
            blocking=e.name in _BLOCKING or ":" in e.name,
        ))
    return out


def input_hash_of(example: Example, target: Target) -> str:
    """What the answer depends on: the inputs (and the source trace when tool results come from it)."""
    if target.uses_traces:
        return content_hash({"inputs": example.inputs, "source_trace_id": example.source_trace_id})
    return content_hash(example.inputs)


def _estimate_tokens(example: Example) -> int:
    return max(1, len(str(example.inputs)) // 4)


def score_call(evaluators: list[NamedEvaluator], example: Example, out: TargetOutput, latency_ms: float | None,
               cache: ResponseCache | None) -> list[tuple[NamedEvaluator, EvalResult]]:
    """Run every evaluator on one answer; an evaluator that raises gives a NULL score with the error."""
    ref_traj = None if example.reference_trajectory is None else [t.model_dump() for t in example.reference_trajectory]
    kwargs = dict(
        inputs=example.inputs, outputs=out.output, reference_outputs=example.reference_output,
        trajectory=out.trajectory, reference_trajectory=ref_traj, latency_ms=latency_ms, cost_usd=out.cost_usd,
        input_tokens=out.input_tokens, output_tokens=out.output_tokens, metadata=example.metadata,
        example_id=example.example_id, cache=cache,
    )
    scored: list[tuple[NamedEvaluator, EvalResult]] = []
    for ev in evaluators:
        try:
            for r in as_results(ev.fn(**kwargs)):
                scored.append((ev, r))
        except Exception as exc:  # one broken evaluator must not sink the run
            scored.append((ev, EvalResult(key=ev.name, score=None, comment=f"evaluator error: {type(exc).__name__}: {exc}"[:500])))
    return scored


async def _call_with_retries(target: Target, example: Example, limits: RunLimits, limiter: RateLimiter,
                             counter: list[int]) -> tuple[TargetOutput | None, str | None, int, float]:
    """(output, error, attempts, latency_ms of the successful attempt)."""
    attempt = 0
    while True:
        attempt += 1
        await limiter.acquire(_estimate_tokens(example))
        counter[0] += 1
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(limits.timeout_s):
                out = await target(example)
            return out, None, attempt, (time.perf_counter() - t0) * 1000
        except TimeoutError:
            exc: BaseException = TransientError(f"no answer within {limits.timeout_s:g}s")
        except TransientError as e:
            exc = e
        except (ConfigError, BudgetExceeded):
            raise
        except Exception as e:  # not retried: bad request, broken response, bug in a python target
            text = str(e) if isinstance(e, RemoteError) else f"{type(e).__name__}: {e}"
            return None, text[:2000], attempt, (time.perf_counter() - t0) * 1000
        if attempt > limits.max_retries:
            return None, f"gave up after {attempt} attempts: {exc}"[:2000], attempt, (time.perf_counter() - t0) * 1000
        retry_after = getattr(exc, "retry_after", None)
        delay = retry_after if retry_after is not None else min(
            limits.backoff_max_s, limits.backoff_base_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
        await asyncio.sleep(delay)


async def run_calls(
    target: Target,
    items: list[tuple[Example, int]],
    evaluators: list[NamedEvaluator],
    *,
    limits: RunLimits,
    sink: Callable[[CallResult], None | Awaitable[None]],
    cache: ResponseCache | None = None,
    target_config_hash: str = "",
    progress: ProgressFn | None = None,
    total: int | None = None,
    already_done: int = 0,
    already_spent_usd: float = 0.0,
) -> RunOutcome:
    """Answer and score every (example, repetition) in ``items``; each result goes to ``sink`` when done.

    ``already_spent_usd`` (a resumed experiment's earlier spend) counts against the budget.
    """
    limiter = RateLimiter(rpm=limits.rpm, tpm=limits.tpm)
    outcome = RunOutcome(status="completed", n_done=0, spent_usd=already_spent_usd)
    queue = iter(items)
    counter = [0]
    total = total if total is not None else len(items) + already_done
    any_blocking = any(e.blocking for e in evaluators)
    use_cache = cache is not None and target.cacheable

    async def one(example: Example, rep: int) -> None:
        ihash = input_hash_of(example, target)
        started = utcnow()
        hit = cache.get(target_config_hash, ihash, rep) if use_cache else None
        if hit is not None:
            out = TargetOutput(output=hit.get("output"), trajectory=hit.get("trajectory"),
                               input_tokens=hit.get("_input_tokens"), output_tokens=hit.get("_output_tokens"),
                               cost_usd=hit.get("_cost_usd"), latency_ms=hit.get("latency_ms"))
            error, attempts, latency = None, 0, hit.get("latency_ms")
        else:
            out, error, attempts, latency = await _call_with_retries(target, example, limits, limiter, counter)
            if out is not None and out.latency_ms is not None:  # replay reports the recorded latency
                latency = out.latency_ms
            if out is not None and out.cost_usd:
                outcome.spent_usd += out.cost_usd
            if use_cache and out is not None:
                cache.put(target_config_hash, ihash, {**out.to_cache(), "latency_ms": latency}, repetition=rep,
                          input_tokens=out.input_tokens, output_tokens=out.output_tokens, cost_usd=out.cost_usd)
        scores: list[tuple[NamedEvaluator, EvalResult]] = []
        if out is not None and evaluators:
            if any_blocking:
                scores = await asyncio.to_thread(score_call, evaluators, example, out, latency, cache)
            else:
                scores = score_call(evaluators, example, out, latency, cache)
        result = CallResult(example=example, repetition=rep, input_hash=ihash, output=out, error=error,
                            attempts=attempts, cached=hit is not None, started_at=started, finished_at=utcnow(),
                            latency_ms=latency, scores=scores)
        outcome.n_done += 1
        outcome.n_errors += error is not None
        outcome.n_cached += hit is not None
        maybe = sink(result)
        if maybe is not None:
            await maybe
        if progress is not None:
            progress(already_done + outcome.n_done, total,
                     {"errors": outcome.n_errors, "cached": outcome.n_cached, "cost_usd": outcome.spent_usd})

    async def worker() -> None:
        for example, rep in queue:
            if limits.budget_usd is not None and outcome.spent_usd >= limits.budget_usd:
                outcome.status = "budget_exceeded"
                return
            await one(example, rep)

    n_workers = max(1, min(limits.concurrency, len(items)))
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(n_workers)))
    outcome.wall_s = time.perf_counter() - t0
    outcome.n_calls = counter[0]
    return outcome


# --------------------------------------------------------------------------------------------
# Experiments in the warehouse


@dataclass
class ExperimentSummary:
    """What a run did, for the CLI, the flow and the gate."""

    experiment_id: str
    status: str
    n_examples: int
    n_results: int
    n_errors: int
    total_cost_usd: float
    scores: dict[str, float | None]
    n_cached: int = 0
    n_resumed: int = 0          # results already stored by an interrupted run
    n_calls: int = 0            # target calls made by this run (retries included)
    dataset_ref: str = ""
    dataset_version: int | None = None
    elapsed_s: float = 0.0
    run_s: float = 0.0          # the calls-and-scoring phase of elapsed_s
    message: str | None = None

    def to_markdown(self) -> str:
        lines = [
            f"## Offline eval `{self.experiment_id}`",
            "",
            f"- dataset: `{self.dataset_ref}` (v{self.dataset_version})",
            f"- status: **{self.status}**" + (f" ({self.message})" if self.message else ""),
            f"- results: {self.n_results} of {self.n_examples} examples × repetitions; errors {self.n_errors}; "
            f"cached {self.n_cached}; resumed {self.n_resumed}",
            f"- cost: ${self.total_cost_usd:.4f}; calls made: {self.n_calls}; time: {self.elapsed_s:.1f}s",
            "",
            "| evaluator key | mean score |",
            "|---|---|",
        ]
        lines += [f"| {k} | {'n/a' if v is None else f'{v:.3f}'} |" for k, v in self.scores.items()]
        return "\n".join(lines) + "\n"

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _git_sha(where: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _result_row(experiment_id: str, target_hash: str, r: CallResult) -> dict[str, Any]:
    out = r.output
    return {
        "experiment_id": experiment_id, "example_id": r.example.example_id, "repetition": r.repetition,
        "input_hash": r.input_hash, "output": store.dumps(out.output) if out else None,
        "trajectory": store.dumps(out.trajectory) if out and out.trajectory is not None else None,
        "latency_ms": r.latency_ms, "input_tokens": out.input_tokens if out else None,
        "output_tokens": out.output_tokens if out else None, "cost_usd": out.cost_usd if out else None,
        "error": r.error, "attempts": r.attempts, "cached": r.cached, "started_at": r.started_at,
        "finished_at": r.finished_at, "config_hash": target_hash, "schema_version": SCHEMA_VERSION,
    }


def _score_rows(experiment_id: str, r: CallResult) -> list[dict[str, Any]]:
    now = r.finished_at
    return [
        {"experiment_id": experiment_id, "example_id": r.example.example_id, "repetition": r.repetition,
         "key": s.key, "score": s.numeric, "label": s.label, "comment": s.comment, "metadata": store.dumps(s.metadata),
         "evaluator": ev.name, "evaluator_config_hash": ev.config_hash, "created_at": now,
         "schema_version": SCHEMA_VERSION}
        for ev, s in r.scores
    ]


def run_spec(
    con: duckdb.DuckDBPyConnection,
    spec: CandidateSpec,
    *,
    version: Any,
    examples: list[Example],
    dataset_ref: str,
    name: str | None = None,
    spec_path: str | None = None,
    progress: ProgressFn | None = None,
    batch_size: int = 500,
    flush_interval_s: float = 0.5,
) -> ExperimentSummary:
    """Run ``spec`` over ``examples`` of dataset ``version`` (a DatasetVersion), storing everything in the warehouse.

    A previous unfinished experiment with the same spec and dataset version is resumed: finished
    results are kept and not called again.
    """
    t0 = time.perf_counter()
    evaluators = build_evaluators(spec)
    target_hash = spec.target_config_hash
    exp_hash = config_hash({"spec": spec.config_hash, "dataset": version.name, "version": version.version,
                            "dataset_hash": version.content_hash})
    resumed = store.find_resumable(con, exp_hash)
    spent_before = 0.0
    if resumed is not None:
        experiment_id = resumed["experiment_id"]
        done = store.prepare_resume(con, experiment_id)
        spent_before = float(con.execute(query("evals/experiment_totals"), [experiment_id]).fetchone()[3] or 0.0)
    else:
        experiment_id = new_id("exp")
        done = set()
        store.create_experiment(con, {
            "experiment_id": experiment_id, "name": name or spec.name, "dataset_name": version.name,
            "dataset_version": version.version, "dataset_hash": version.content_hash, "dataset_ref": dataset_ref,
            "dataset_snapshot_id": getattr(version, "snapshot_id", None), "spec": store.dumps(spec.model_dump(mode="json")),
            "spec_path": spec_path, "target_kind": spec.target.kind, "target_config_hash": target_hash,
            "git_sha": _git_sha(Path(spec_path).resolve().parent if spec_path else Path.cwd()),
            "repetitions": spec.repetitions, "budget_usd": spec.budget_usd, "status": "running",
            "started_at": utcnow(), "n_examples": len(examples), "config_hash": exp_hash,
        })
    items = [(ex, rep) for rep in range(spec.repetitions) for ex in examples if (ex.example_id, rep) not in done]
    traces = WarehouseTraces(con, [e.source_trace_id for e in examples if e.source_trace_id]) if needs_traces(spec) else None
    if spec.processes > 1 and spec.target.kind != "replay" and items:
        target: Target = ProcessPoolTarget(spec.model_dump(mode="json"), kind=spec.target.kind, cacheable=True,
                                           uses_traces=needs_traces(spec), traces=traces, n=spec.processes)
    else:
        target = build_target(spec, traces=traces)
    cache_hashes = [target_hash] + [h for ev in evaluators if (h := getattr(ev.fn, "cache_config_hash", None))]
    cache = ResponseCache.load(con, cache_hashes) if spec.cache else None

    async def main() -> RunOutcome:
        # Results are committed every flush_interval_s (or batch_size rows; spaced out further when a commit is
        # slow, see ResultWriter): a kill loses at most that much work, which the resumed run redoes.
        writer = store.ResultWriter(con, experiment_id, cache=cache, batch_size=batch_size, interval_s=flush_interval_s)
        await writer.start()
        try:
            return await run_calls(
                target, items, evaluators, limits=RunLimits.from_spec(spec),
                sink=lambda r: writer.add(_result_row(experiment_id, target_hash, r), _score_rows(experiment_id, r)),
                cache=cache, target_config_hash=target_hash, progress=progress,
                total=len(examples) * spec.repetitions, already_done=len(done), already_spent_usd=spent_before,
            )
        finally:
            await writer.close()
            await target.aclose()

    status, message = "failed", None
    outcome: RunOutcome | None = None
    # Everything allocated so far (litellm, DuckDB, the examples) outlives the calls: keep the cyclic GC
    # from rescanning it; a full collection of this heap stalled the event loop for ~0.5 s.
    froze = gc.get_freeze_count() == 0
    if froze:
        gc.freeze()
    try:
        outcome = asyncio.run(main())
        status = outcome.status
        if status == "budget_exceeded":
            message = f"stopped at ${outcome.spent_usd:.4f} of a ${spec.budget_usd:g} budget"
    except KeyboardInterrupt:
        status, message = "interrupted", "interrupted by the user; run again to resume"
        raise
    except BaseException as exc:
        status, message = "failed", f"{type(exc).__name__}: {exc}"[:500]
        raise
    finally:
        if froze:
            gc.unfreeze()  # back to the oldest generation, collectable again
        totals = store.finalize(con, experiment_id, status, message, len(examples))
    return ExperimentSummary(
        experiment_id=experiment_id, status=status, n_examples=len(examples), n_results=int(totals["n_results"]),
        n_errors=int(totals["n_errors"]), total_cost_usd=float(totals["total_cost_usd"] or 0.0),
        scores=store.mean_scores(con, experiment_id), n_cached=int(totals["n_cached"]), n_resumed=len(done),
        n_calls=outcome.n_calls if outcome else 0, dataset_ref=dataset_ref, dataset_version=version.version,
        elapsed_s=time.perf_counter() - t0, run_s=outcome.wall_s if outcome else 0.0, message=message,
    )


def run_experiment(
    settings: Settings,
    *,
    dataset_ref: str,
    spec_path: str | Path,
    name: str | None = None,
    progress: ProgressFn | None = None,
) -> ExperimentSummary:
    """Load the spec and the dataset version, run (or resume) the experiment, return its summary."""
    from tracemill.datasets import load_examples
    from tracemill.warehouse import connect

    spec = load_spec(spec_path)
    con = connect(settings)
    try:
        version, examples = load_examples(con, dataset_ref)
        return run_spec(con, spec, version=version, examples=examples, dataset_ref=dataset_ref, name=name,
                        spec_path=str(spec_path), progress=progress)
    finally:
        con.close()

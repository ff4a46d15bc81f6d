"""Spread target calls over worker processes (``processes: N`` in the spec).

A litellm call costs a few milliseconds of CPU in the client; at high concurrency one Python
process saturates a core before the provider does. Workers are forked after litellm is imported,
each runs its own event loop and answers the examples the parent sends; the parent keeps
scheduling, limits, retries, the cache, scoring and all warehouse writes. To the runner the pool
is just another Target.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import pickle
import threading
from multiprocessing.connection import Connection
from typing import Any

from tracemill.datasets.example import Example
from tracemill.errors import TransientError
from tracemill.evals.targets.base import TargetOutput, TraceLookup


class RemoteError(Exception):
    """A non-transient error raised by the target inside a worker; ``str()`` is ``Type: message``."""


def _worker_main(conn: Connection, spec_data: dict[str, Any], traces: TraceLookup | None) -> None:
    from tracemill.evals.spec import parse_spec
    from tracemill.evals.targets import build_target

    code = 0
    try:
        target = build_target(parse_spec(spec_data), traces=traces)
        # Everything imported so far lives for the whole run: keep the cyclic GC from rescanning it
        # (measured ~15% of a worker's CPU per call) and from touching the parent's shared pages.
        gc.freeze()
        asyncio.run(_serve(conn, target))
    except BaseException:  # noqa: BLE001 - the parent sees the pipe close and fails over
        code = 1
    finally:
        # Skip atexit/finalizers inherited from the parent (warehouse connection, servers).
        os._exit(code)


async def _serve(conn: Connection, target: Any) -> None:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[bytes | None] = asyncio.Queue()

    def read() -> None:  # a thread, so the parent's writes never block on us
        while True:
            try:
                data: bytes | None = conn.recv_bytes()
            except (EOFError, OSError):
                data = None
            if not data:  # EOF, or the parent's empty stop message
                data = None
            loop.call_soon_threadsafe(inbox.put_nowait, data)
            if data is None:
                return

    threading.Thread(target=read, name="tm-worker-reader", daemon=True).start()

    async def handle(call_id: int, example: Example) -> None:
        try:
            out = await target(example)
            msg: tuple = (call_id, "ok", out)
        except TransientError as exc:
            msg = (call_id, "transient", (str(exc), exc.retry_after))
        except Exception as exc:  # reported to the parent as the call's error
            msg = (call_id, "error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send_bytes(pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL))
        except (OSError, pickle.PicklingError) as exc:
            conn.send_bytes(pickle.dumps((call_id, "error", f"could not return the answer: {exc}")))

    tasks: set[asyncio.Task] = set()
    while (data := await inbox.get()) is not None:
        call_id, example = pickle.loads(data)
        task = asyncio.create_task(handle(call_id, example))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    for task in list(tasks):
        task.cancel()
    await target.aclose()


class _Worker:
    def __init__(self, proc: multiprocessing.process.BaseProcess, conn: Connection) -> None:
        self.proc = proc
        self.conn = conn
        self.pending: set[int] = set()
        self.alive = True


class ProcessPoolTarget:
    """A Target whose calls run in ``n`` forked worker processes."""

    def __init__(self, spec_data: dict[str, Any], *, kind: str, cacheable: bool, uses_traces: bool,
                 traces: TraceLookup | None, n: int) -> None:
        self.kind, self.cacheable, self.uses_traces = kind, cacheable, uses_traces
        from tracemill.evals.targets.litellm_fast import prewarm

        prewarm()  # import litellm (and what it loads lazily) once here so forked workers inherit it
        ctx = multiprocessing.get_context("fork")
        self._workers: list[_Worker] = []
        for _ in range(n):
            parent_conn, child_conn = ctx.Pipe(duplex=True)
            proc = ctx.Process(target=_worker_main, args=(child_conn, spec_data, traces), daemon=True)
            proc.start()
            child_conn.close()
            self._workers.append(_Worker(proc, parent_conn))
        self._futures: dict[int, asyncio.Future] = {}
        self._next_id = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def _attach(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        self._loop = loop
        for w in self._workers:
            loop.add_reader(w.conn.fileno(), self._on_readable, w)

    def _on_readable(self, w: _Worker) -> None:
        # One answer per call: the reader stays registered, so the loop calls again while more are
        # waiting (Connection.poll() would build a selector per check; it was ~10% of this process).
        try:
            call_id, kind, payload = pickle.loads(w.conn.recv_bytes())
        except (EOFError, OSError):
            self._lost(w)
            return
        w.pending.discard(call_id)
        fut = self._futures.pop(call_id, None)
        if fut is not None and not fut.done():
            fut.set_result((kind, payload))

    def _lost(self, w: _Worker) -> None:
        w.alive = False
        if self._loop is not None:
            self._loop.remove_reader(w.conn.fileno())
        for call_id in list(w.pending):
            fut = self._futures.pop(call_id, None)
            if fut is not None and not fut.done():
                fut.set_result(("transient", ("worker process exited", None)))
        w.pending.clear()

    async def __call__(self, example: Example) -> TargetOutput:
        self._attach()
        live = [w for w in self._workers if w.alive]
        if not live:
            raise RuntimeError("all eval worker processes exited")
        worker = min(live, key=lambda w: len(w.pending))
        call_id = self._next_id
        self._next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self._futures[call_id] = fut
        worker.pending.add(call_id)
        try:
            worker.conn.send_bytes(pickle.dumps((call_id, example), protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            self._lost(worker)
        try:
            kind, payload = await fut
        finally:
            self._futures.pop(call_id, None)
            worker.pending.discard(call_id)
        if kind == "ok":
            return payload
        if kind == "transient":
            message, retry_after = payload
            raise TransientError(message, retry_after=retry_after)
        raise RemoteError(payload)

    async def aclose(self) -> None:
        for w in self._workers:
            if self._loop is not None and w.alive:
                self._loop.remove_reader(w.conn.fileno())
            try:
                # An explicit stop: forked siblings hold copies of this pipe, so EOF may never come.
                w.conn.send_bytes(b"")
                w.conn.close()
            except OSError:
                pass
        for w in self._workers:
            await asyncio.to_thread(w.proc.join, 5)
            if w.proc.is_alive():
                w.proc.kill()

"""A loopback OpenAI-compatible fake server for offline tests and benchmarks.

It serves ``POST /v1/chat/completions`` (plain and streaming, with tool calls), answers after a
fixed latency, injects errors on demand (429 with Retry-After, 500, timeouts, malformed JSON) and
keeps a log of every request so tests can assert exactly which calls were made.

Use it in-process (it runs its own event loop in a thread)::

    with FakeOpenAI(latency=0.2) as fake:
        litellm.completion(model="openai/fake-model", api_base=fake.url, api_key="fake", ...)
        assert len(fake.chat_requests()) == 1

or as a process: ``python -m tracemill.testing.fake_openai --port 8123 --latency-ms 200``
(``GET /_fake/log`` returns the request log as JSON, ``POST /_fake/reset`` clears it).

The default responder is scriptable from the prompt: a user message line ``CALL name {json}``
makes the model call tool ``name`` with those arguments (when tools were offered and no tool
result has come back yet); ``REPLY: text`` makes it answer ``text``; otherwise it answers
``echo: <last user message>`` (or ``done: <tool results>`` after tool calls).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from aiohttp import web

ERROR_KINDS = ("429", "500", "timeout", "malformed")
Responder = Callable[[dict[str, Any]], dict[str, Any]]

_CALL = re.compile(r"^\s*CALL\s+([A-Za-z0-9_.\-]+)\s*(\{.*\})?\s*$", re.M)


@dataclass
class LoggedRequest:
    """One request the fake received, and what it did with it."""

    seq: int
    path: str
    outcome: str                 # ok | 429 | 500 | timeout | malformed
    status: int
    received_at: float
    last_user: str = ""
    body: dict[str, Any] | None = field(default=None, repr=False)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def last_user_text(body: dict[str, Any]) -> str:
    """Text of the last user message of a chat request."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def default_responder(body: dict[str, Any]) -> dict[str, Any]:
    """Scripted assistant message: ``CALL name {json}`` lines, ``REPLY: text``, else an echo."""
    messages = body.get("messages") or []
    user = last_user_text(body)
    last_user_idx = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    tool_results = [_text(m.get("content")) for m in messages[last_user_idx + 1 :] if m.get("role") == "tool"]
    if body.get("tools") and not tool_results:
        calls = []
        for name, args in _CALL.findall(user):
            calls.append(
                {
                    "id": f"call_{uuid.uuid4().hex[:12]}",
                    "type": "function",
                    "function": {"name": name, "arguments": args or "{}"},
                }
            )
        if calls:
            return {"role": "assistant", "content": None, "tool_calls": calls}
    if tool_results:
        return {"role": "assistant", "content": "done: " + " | ".join(tool_results)}
    if "REPLY:" in user:
        return {"role": "assistant", "content": user.split("REPLY:", 1)[1].strip()}
    return {"role": "assistant", "content": f"echo: {user}"}


class FakeOpenAI:
    """An OpenAI-compatible chat server on 127.0.0.1 with latency, error injection and a request log."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        responder: Responder | None = None,
        error_rates: dict[str, float] | None = None,
        retry_after: float = 0.05,
        hang_seconds: float = 30.0,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        keep_bodies: bool = True,
    ) -> None:
        for kind in error_rates or {}:
            if kind not in ERROR_KINDS:
                raise ValueError(f"unknown error kind {kind!r}; use one of {ERROR_KINDS}")
        self.latency = latency
        self.responder = responder or default_responder
        self.error_rates = dict(error_rates or {})
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self.host = host
        self.port = port
        self.keep_bodies = keep_bodies
        self.requests: list[LoggedRequest] = []
        self._rng = random.Random(seed)
        self._queue: deque[str] = deque()
        self._scripts: list[tuple[str, deque[str]]] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None

    # -- configuration ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL to pass as litellm ``api_base`` (ends in ``/v1``)."""
        return f"http://{self.host}:{self.port}/v1"

    def inject(self, kind: str, count: int = 1) -> None:
        """Make the next ``count`` chat requests fail with ``kind`` (429, 500, timeout, malformed)."""
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {kind!r}; use one of {ERROR_KINDS}")
        with self._lock:
            self._queue.extend([kind] * count)

    def script(self, match: str, *kinds: str) -> None:
        """Requests whose last user message contains ``match`` fail with ``kinds``, in order, then succeed."""
        with self._lock:
            self._scripts.append((match, deque(kinds)))

    def chat_requests(self) -> list[LoggedRequest]:
        """Logged requests to the chat completions endpoint."""
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._queue.clear()
            self._scripts.clear()

    # -- HTTP handlers ---------------------------------------------------------------------
    def _pick_error(self, user: str) -> str | None:
        with self._lock:
            for match, kinds in self._scripts:
                if kinds and match in user:
                    return kinds.popleft()
            if self._queue:
                return self._queue.popleft()
            for kind, rate in self.error_rates.items():
                if rate > 0 and self._rng.random() < rate:
                    return kind
        return None

    def _log(self, request: web.Request, outcome: str, status: int, body: dict | None, user: str) -> None:
        with self._lock:
            self.requests.append(
                LoggedRequest(
                    seq=len(self.requests),
                    path=request.path,
                    outcome=outcome,
                    status=status,
                    received_at=time.time(),
                    last_user=user,
                    body=body if self.keep_bodies else None,
                )
            )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self._log(request, "bad_request", 400, None, "")
            return web.json_response({"error": {"message": "invalid JSON body", "type": "invalid_request_error"}}, status=400)
        user = last_user_text(body)
        error = self._pick_error(user)
        if self.latency:
            await asyncio.sleep(self.latency)
        if error == "429":
            self._log(request, "429", 429, body, user)
            return web.json_response(
                {"error": {"message": "Rate limit reached (fake)", "type": "rate_limit_error", "code": "rate_limit_exceeded"}},
                status=429,
                headers={"Retry-After": f"{self.retry_after:g}", "retry-after-ms": str(int(self.retry_after * 1000))},
            )
        if error == "500":
            self._log(request, "500", 500, body, user)
            return web.json_response({"error": {"message": "internal error (fake)", "type": "server_error"}}, status=500)
        if error == "timeout":
            self._log(request, "timeout", 0, body, user)
            await asyncio.sleep(self.hang_seconds)
            return web.json_response({"error": {"message": "too late"}}, status=504)
        if error == "malformed":
            self._log(request, "malformed", 200, body, user)
            return web.Response(body=b'{"id": "chatcmpl-broken", "choices": [ {"message": ', content_type="application/json")

        message = self.responder(body)
        self._log(request, "ok", 200, body, user)
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        prompt_tokens = max(1, len(raw) // 4)
        completion_tokens = max(1, len(_text(message.get("content")) or orjson.dumps(message.get("tool_calls"))) // 4)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
        cid = f"chatcmpl-{uuid.uuid4().hex[:16]}"
        created = int(time.time())
        model = body.get("model", "fake-model")
        if body.get("stream"):
            return await self._stream(request, cid, created, model, message, finish, usage, body)
        payload = {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": usage,
        }
        return web.Response(body=orjson.dumps(payload), content_type="application/json")

    async def _stream(
        self, request: web.Request, cid: str, created: int, model: str, message: dict, finish: str, usage: dict, body: dict
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)

        def chunk(delta: dict, finish_reason: str | None = None, with_usage: dict | None = None, choices: bool = True) -> bytes:
            data: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}
            data["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish_reason}] if choices else []
            if with_usage is not None:
                data["usage"] = with_usage
            return b"data: " + orjson.dumps(data) + b"\n\n"

        await resp.write(chunk({"role": "assistant", "content": ""}))
        content = message.get("content") or ""
        for i in range(0, len(content), 8):
            await resp.write(chunk({"content": content[i : i + 8]}))
        for idx, call in enumerate(message.get("tool_calls") or []):
            await resp.write(
                chunk({"tool_calls": [{"index": idx, "id": call["id"], "type": "function",
                                        "function": {"name": call["function"]["name"], "arguments": ""}}]})
            )
            await resp.write(chunk({"tool_calls": [{"index": idx, "function": {"arguments": call["function"]["arguments"]}}]}))
        # The stream always ends with a chunk carrying finish_reason, then (optionally) usage, then [DONE].
        await resp.write(chunk({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            await resp.write(chunk({}, with_usage=usage, choices=False))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "tracemill"}]})

    async def _get_log(self, request: web.Request) -> web.Response:
        with self._lock:
            rows = [{k: v for k, v in asdict(r).items() if k != "body"} for r in self.requests]
        return web.Response(body=orjson.dumps(rows), content_type="application/json")

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/_fake/log", self._get_log)
        app.router.add_post("/_fake/reset", self._reset)
        return app

    # -- lifecycle -------------------------------------------------------------------------
    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024, reuse_address=True)
        await site.start()
        server = site._server  # the bound socket tells us the port when 0 was asked for
        if server is not None and server.sockets:  # type: ignore[union-attr]
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        await self._stop.wait()
        await self._runner.cleanup()

    def start(self) -> FakeOpenAI:
        """Serve in a background thread; returns once the port is bound."""
        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._serve())
            # Cancel handlers still hanging (injected timeouts) so the loop closes cleanly.
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()

            async def drain() -> None:
                await asyncio.gather(*pending, return_exceptions=True)

            self._loop.run_until_complete(drain())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake OpenAI server did not start")
        return self

    def stop(self) -> None:
        if self._loop and self._stop and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Loopback OpenAI-compatible fake server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    for kind in ERROR_KINDS:
        parser.add_argument(f"--rate-{kind}", type=float, default=0.0, help=f"fraction of requests answered with {kind}")
    parser.add_argument("--retry-after", type=float, default=0.05, help="Retry-After seconds sent with 429s")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rates = {k: getattr(args, f"rate_{k}") for k in ERROR_KINDS if getattr(args, f"rate_{k}") > 0}
    fake = FakeOpenAI(
        latency=args.latency_ms / 1000, error_rates=rates, retry_after=args.retry_after,
        seed=args.seed, host=args.host, port=args.port, keep_bodies=False,
    )
    print(f"fake OpenAI server on http://{args.host}:{args.port}/v1", flush=True)
    try:
        asyncio.run(fake._serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

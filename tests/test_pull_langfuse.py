"""Incremental pull from a loopback Langfuse that answers in the public API's documented shape.

GET /api/public/traces (page, limit, fromTimestamp inclusive, toTimestamp exclusive, orderBy,
meta {page, limit, totalItems, totalPages}; observations/scores as id lists), GET
/api/public/observations?traceId= and GET /api/public/v2/scores?traceId= (paginated the same way),
HTTP basic auth with the project's public key and secret key.
"""

from __future__ import annotations

import asyncio
import base64
import math
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from tracemill.errors import ConfigError, TransientError
from tracemill.ingest.pull import LangfuseAPI, pull_langfuse

PK, SK = "pk-lf-test", "sk-lf-test"
T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_trace(n: int, ts: datetime) -> dict:
    """A trace with a GENERATION and a TOOL observation (the tool fails on every third trace) and,
    on even n, one score."""
    tid = f"tr-{n:03d}"
    obs = [
        {"id": f"{tid}-gen", "traceId": tid, "type": "GENERATION", "name": "plan", "startTime": _iso(ts + timedelta(milliseconds=10)),
         "endTime": _iso(ts + timedelta(milliseconds=500)), "model": "gpt-4o-mini",
         "input": [{"role": "user", "content": f"question {n}"}], "output": {"role": "assistant", "content": f"answer {n}"},
         "usageDetails": {"input": 10 + n, "output": 5, "total": 15 + n}, "costDetails": {"total": 0.0001},
         "level": "DEFAULT", "statusMessage": None, "parentObservationId": None, "environment": "production"},
        {"id": f"{tid}-tool", "traceId": tid, "type": "TOOL", "name": "lookup", "startTime": _iso(ts + timedelta(milliseconds=600)),
         "endTime": _iso(ts + timedelta(milliseconds=700)), "input": {"q": n}, "output": {"ok": n % 3 != 0},
         "level": "ERROR" if n % 3 == 0 else "DEFAULT", "statusMessage": "lookup timed out" if n % 3 == 0 else None,
         "parentObservationId": None, "usageDetails": {}, "costDetails": {}, "environment": "production"},
    ]
    scores = [{"id": f"{tid}-score", "traceId": tid, "name": "user-feedback", "source": "API", "dataType": "NUMERIC",
               "value": 1.0, "timestamp": _iso(ts + timedelta(seconds=5)), "environment": "production"}] if n % 2 == 0 else []
    trace = {"id": tid, "timestamp": _iso(ts), "name": "support-agent", "input": f"question {n}", "output": f"answer {n}",
             "userId": f"u-{n % 2}", "sessionId": None, "release": "v1", "version": None, "metadata": {}, "tags": ["prod"],
             "public": False, "environment": "production", "htmlPath": f"/project/p/traces/{tid}", "latency": 0.7,
             "totalCost": 0.0001}
    return {"trace": trace, "observations": obs, "scores": scores}


class FakeLangfuse:
    """In-memory Langfuse public API. ``fail`` injects statuses; ``broken_page`` fails one traces page."""

    def __init__(self) -> None:
        self.data: list[dict] = []
        self.fail: dict[str, list[int]] = {}
        self.broken_page: int | None = None
        self.requests: list[tuple[str, dict[str, str]]] = []

    def add(self, n: int, ts: datetime) -> None:
        self.data.append(make_trace(n, ts))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/public/traces", self.traces)
        app.router.add_get("/api/public/observations", self.observations)
        app.router.add_get("/api/public/v2/scores", self.scores)
        return app

    def _gate(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.path, dict(request.query)))
        expected = "Basic " + base64.b64encode(f"{PK}:{SK}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"message": "Invalid credentials"}, status=401)
        pending = self.fail.get(request.path)
        if pending:
            status = pending.pop(0)
            return web.json_response({"message": "try again"}, status=status, headers={"Retry-After": "0"} if status == 429 else None)
        return None

    @staticmethod
    def _page(items: list[dict], request: web.Request) -> web.Response:
        page, limit = int(request.query.get("page", 1)), int(request.query.get("limit", 50))
        chunk = items[(page - 1) * limit: page * limit]
        meta = {"page": page, "limit": limit, "totalItems": len(items), "totalPages": math.ceil(len(items) / limit)}
        return web.json_response({"data": chunk, "meta": meta})

    async def traces(self, request: web.Request) -> web.Response:
        if (r := self._gate(request)) is not None:
            return r
        if self.broken_page is not None and int(request.query.get("page", 1)) == self.broken_page:
            return web.json_response({"message": "internal error"}, status=500)
        assert request.query.get("orderBy") == "timestamp.asc"
        lo, hi = request.query.get("fromTimestamp"), request.query.get("toTimestamp")
        rows = []
        for d in self.data:
            t = d["trace"]
            if lo and t["timestamp"] < lo or hi and t["timestamp"] >= hi:
                continue
            rows.append({**t, "observations": [o["id"] for o in d["observations"]], "scores": [s["id"] for s in d["scores"]]})
        rows.sort(key=lambda t: (t["timestamp"], t["id"]))
        return self._page(rows, request)

    async def observations(self, request: web.Request) -> web.Response:
        if (r := self._gate(request)) is not None:
            return r
        tid = request.query["traceId"]
        return self._page([o for d in self.data if d["trace"]["id"] == tid for o in d["observations"]], request)

    async def scores(self, request: web.Request) -> web.Response:
        if (r := self._gate(request)) is not None:
            return r
        tid = request.query["traceId"]
        return self._page([s for d in self.data if d["trace"]["id"] == tid for s in d["scores"]], request)

    def fetched_traces(self) -> Counter:
        """How often each trace's observations were fetched."""
        return Counter(q["traceId"] for p, q in self.requests if p == "/api/public/observations")


@contextmanager
def serve(fake: FakeLangfuse) -> Iterator[str]:
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(fake.app())
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextmanager
def reading(settings) -> Iterator:
    """A short-lived read connection (an idle connection that has read blocks the next writer)."""
    from tracemill.warehouse import connect

    con = connect(settings)
    try:
        yield con
    finally:
        con.close()


def _counts(con) -> tuple[int, int, int, int]:
    return tuple(con.execute(  # type: ignore[return-value]
        "SELECT (SELECT count(*) FROM traces), (SELECT count(*) FROM spans), (SELECT count(*) FROM tool_calls),"
        " (SELECT count(*) FROM feedback)").fetchone())


def test_incremental_pull_with_retries_and_cursor(settings) -> None:
    from tracemill.ingest.loader import last_cursor

    fake = FakeLangfuse()
    # Traces 0..4, one minute apart, except 3 and 4 share a timestamp.
    for n in range(5):
        fake.add(n, T0 + timedelta(minutes=min(n, 3)))
    fake.fail = {"/api/public/traces": [429], "/api/public/observations": [500]}
    sleeps: list[float] = []
    with serve(fake) as url:
        api = LangfuseAPI(host=url, public_key=PK, secret_key=SK, backoff_s=0.01)
        # sub_limit=1: each trace's two observations come on two pages of /api/public/observations.
        s1 = pull_langfuse(settings, api=api, page_limit=10, sub_limit=1, sleep=sleeps.append)
        # Both transient failures were retried: Retry-After 0 for the 429, first backoff for the 500.
        assert sleeps == [0.0, 0.01]
        fetched = fake.fetched_traces()   # 2 observation pages per trace, +1 for the retried 500 (any trace)
        assert sorted(fetched) == [f"tr-{n:03d}" for n in range(5)] and sum(fetched.values()) == 11
        assert min(fetched.values()) == 2
        # 5 traces x (root + GENERATION + TOOL) = 15 spans; 5 tool calls; scores on traces 0, 2, 4.
        assert (s1.spans_ingested, s1.tool_calls, s1.feedback, s1.status) == (15, 5, 3, "committed")
        with reading(settings) as con:
            assert _counts(con) == (5, 15, 5, 3)
            assert last_cursor(con, api.source) == {"timestamp": _iso(T0 + timedelta(minutes=3)), "ids": ["tr-003", "tr-004"]}
            errors = con.execute("SELECT trace_id FROM traces WHERE status = 'error' ORDER BY 1").fetchall()
            assert errors == [("tr-000",), ("tr-003",)]   # the TOOL observation is level ERROR on n % 3 == 0

        # New traces: 5 at the cursor's timestamp (fromTimestamp is inclusive), 6 later.
        fake.add(5, T0 + timedelta(minutes=3))
        fake.add(6, T0 + timedelta(minutes=4))
        fake.requests.clear()
        s2 = pull_langfuse(settings, api=api, page_limit=10, sleep=sleeps.append)
        # Only the new traces' observations were fetched; 3 and 4 were skipped by id at the cursor time.
        assert fake.fetched_traces() == {"tr-005": 1, "tr-006": 1}
        assert (s2.spans_ingested, s2.duplicates) == (6, 0)

        # Nothing new: one traces request, nothing fetched or written.
        fake.requests.clear()
        s3 = pull_langfuse(settings, api=api, page_limit=10, sleep=sleeps.append)
        assert s3.spans_ingested == 0 and fake.fetched_traces() == {}

        # Wrong secret key: a user error naming the problem, nothing written.
        with pytest.raises(ConfigError, match="rejected the API keys"):
            pull_langfuse(settings, api=LangfuseAPI(host=url, public_key=PK, secret_key="wrong"), sleep=sleeps.append)
    with reading(settings) as con:
        assert _counts(con) == (7, 21, 7, 4)


def test_pull_resumes_after_a_failed_page(settings) -> None:
    fake = FakeLangfuse()
    for n in range(5):
        fake.add(n, T0 + timedelta(minutes=n))
    fake.broken_page = 2
    with serve(fake) as url:
        api = LangfuseAPI(host=url, public_key=PK, secret_key=SK, max_retries=2, backoff_s=0.01)
        with pytest.raises(TransientError):
            pull_langfuse(settings, api=api, page_limit=3, sleep=lambda s: None)
        # Page 1 (traces 0-2) was committed with its cursor; the load is recorded as failed.
        with reading(settings) as con:
            assert _counts(con)[:2] == (3, 9)
            assert con.execute("SELECT status FROM ingest_loads WHERE source = ?", [api.source]).fetchall() == [("failed",)]
        fake.broken_page = None
        s = pull_langfuse(settings, api=api, page_limit=3, sleep=lambda s: None)
        # Resumed from the cursor (trace 2's timestamp): trace 2 skipped by id, 3 and 4 loaded.
        assert s.spans_ingested == 6 and s.duplicates == 0
        with reading(settings) as con:
            assert _counts(con) == (5, 15, 5, 3)
        # Every trace's observations were fetched exactly once across the two pulls.
        assert fake.fetched_traces() == {f"tr-{n:03d}": 1 for n in range(5)}


def test_keys_from_env(monkeypatch) -> None:
    monkeypatch.delenv("LANGFUSE_PUBLIC_KEY", raising=False)
    monkeypatch.delenv("LANGFUSE_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="keys are not set"):
        LangfuseAPI.from_env("http://127.0.0.1:1")
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", PK)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SK)
    api = LangfuseAPI.from_env("http://127.0.0.1:1/")
    assert api.source == f"langfuse-api:http://127.0.0.1:1#{PK}"

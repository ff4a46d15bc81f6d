"""Incremental pull of traces (with their observations and scores) from the Langfuse public API.

Pages of ``GET /api/public/traces`` (``orderBy=timestamp.asc``, ``fromTimestamp`` = the saved
cursor, ``toTimestamp`` = the pull's start, so the page sequence cannot shift under us). For each
trace, ``GET /api/public/observations?traceId=`` and ``GET /api/public/v2/scores?traceId=`` (both
paginated with ``page``/``limit`` and ``meta.totalPages``). Each page of traces is written by the
loader's ``commit_batch`` together with the new cursor in ONE transaction, so a killed pull
resumes after the last committed page and never skips or doubles a trace.

The cursor is ``{"timestamp": <last trace timestamp>, "ids": [trace ids at that timestamp]}``:
``fromTimestamp`` is inclusive, so traces at exactly the cursor time that were already loaded are
skipped by id. Langfuse can make traces visible minutes late; ``lookback_s`` re-reads that window
on every pull (the loader de-duplicates what is already stored, and late observations of a loaded
trace update its rollup).

Auth is HTTP basic with the project's public key (user) and secret key (password).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tracemill.errors import ConfigError, DataError, TransientError
from tracemill.ingest.formats._common import parse_time_ns
from tracemill.ingest.formats.langfuse import trace_items
from tracemill.ingest.records import Item, Rejected
from tracemill.settings import Settings, get_settings

FORMAT = "langfuse-api"
ProgressFn = Callable[[int, int, int], None]   # (page, total_pages, traces_so_far)


@dataclass(frozen=True)
class LangfuseAPI:
    """Where and how to reach one Langfuse project."""

    host: str
    public_key: str
    secret_key: str
    timeout_s: float = 30.0
    max_retries: int = 5
    backoff_s: float = 0.5          # first retry delay; doubles each time (capped at 30 s)

    @classmethod
    def from_env(cls, host: str | None = None, **kw: Any) -> LangfuseAPI:
        """Keys from ``LANGFUSE_PUBLIC_KEY`` / ``LANGFUSE_SECRET_KEY``, host from ``LANGFUSE_HOST``."""
        host = host or os.environ.get("LANGFUSE_HOST") or os.environ.get("LANGFUSE_BASE_URL")
        pk, sk = os.environ.get("LANGFUSE_PUBLIC_KEY"), os.environ.get("LANGFUSE_SECRET_KEY")
        if not host:
            raise ConfigError("no Langfuse host given", fix="pass --host https://cloud.langfuse.com (or set LANGFUSE_HOST)")
        if not pk or not sk:
            raise ConfigError("Langfuse API keys are not set",
                              fix="set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (project settings -> API keys)")
        return cls(host=host, public_key=pk, secret_key=sk, **kw)

    @property
    def source(self) -> str:
        """The load source the cursor is saved under: one per host and project key."""
        return f"langfuse-api:{self.host.rstrip('/')}#{self.public_key}"


class _Client:
    def __init__(self, api: LangfuseAPI, sleep: Callable[[float], None] = time.sleep) -> None:
        self.api = api
        self.sleep = sleep
        self.http = httpx.Client(
            base_url=api.host.rstrip("/"), auth=(api.public_key, api.secret_key), timeout=api.timeout_s,
            headers={"Accept": "application/json"},
        )

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """GET with retries on transient failures (429, 5xx, network), honouring Retry-After."""
        attempt = 0
        while True:
            try:
                return self._get_once(path, params)
            except TransientError as exc:
                attempt += 1
                if attempt > self.api.max_retries:
                    raise
                delay = exc.retry_after if exc.retry_after is not None else min(30.0, self.api.backoff_s * 2 ** (attempt - 1))
                self.sleep(delay)

    def _get_once(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = self.http.get(path, params={k: v for k, v in params.items() if v is not None})
        except httpx.TransportError as exc:
            raise TransientError(f"Langfuse request failed: {exc}") from exc
        if resp.status_code == 429 or resp.status_code >= 500:
            raise TransientError(f"Langfuse answered {resp.status_code} for {path}", retry_after=_retry_after(resp))
        if resp.status_code in (401, 403):
            raise ConfigError("Langfuse rejected the API keys", value=f"HTTP {resp.status_code} for {path}",
                              fix="check the public/secret key pair and that it belongs to this host's project")
        if resp.status_code >= 400:
            raise DataError(f"Langfuse refused the request {path}", value=f"HTTP {resp.status_code}: {resp.text[:300]}",
                            fix="check the host URL and the Langfuse version (needs the public API v1 list endpoints)")
        try:
            body = resp.json()
        except ValueError as exc:
            raise DataError(f"Langfuse returned non-JSON for {path}", value=resp.text[:300]) from exc
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise DataError(f"unexpected Langfuse response shape for {path}", value=str(body)[:300],
                            fix="expected {data: [...], meta: {page, limit, totalItems, totalPages}}")
        return body

    def all_pages(self, path: str, params: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self.get(path, {**params, "page": page, "limit": limit})
            out.extend(x for x in body["data"] if isinstance(x, dict))
            total = int((body.get("meta") or {}).get("totalPages") or 0)
            if page >= total or not body["data"]:
                return out
            page += 1


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _iso(ns: int) -> str:
    """ISO-8601 UTC with milliseconds (Langfuse's precision), or microseconds when the value has them."""
    dt = datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).replace(microsecond=(ns % 1_000_000_000) // 1000)
    spec = "milliseconds" if ns % 1_000_000 == 0 else "microseconds"
    return dt.isoformat(timespec=spec).replace("+00:00", "Z")


def _advance(cursor: dict[str, Any] | None, traces: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The cursor after a page: newest timestamp seen and the ids at exactly that timestamp."""
    best_ns = parse_time_ns(cursor["timestamp"]) if cursor else None
    ids = set(cursor.get("ids") or []) if cursor else set()
    for t in traces:
        ns = parse_time_ns(t.get("timestamp"))
        if ns is None:
            continue
        if best_ns is None or ns > best_ns:
            best_ns, ids = ns, {t["id"]}
        elif ns == best_ns:
            ids.add(t["id"])
    if best_ns is None:
        return cursor
    return {"timestamp": _iso(best_ns), "ids": sorted(ids)}


def _page_items(client: _Client, traces: list[dict[str, Any]], *, sub_limit: int, workers: int) -> Iterator[Item]:
    def full(trace: dict[str, Any]) -> dict[str, Any]:
        tid = trace["id"]
        obs = client.all_pages("/api/public/observations", {"traceId": tid}, sub_limit)
        scores = client.all_pages("/api/public/v2/scores", {"traceId": tid}, sub_limit)
        return {**trace, "observations": obs, "scores": scores}

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for detailed in pool.map(full, traces):
            yield from trace_items(detailed)


def pull_langfuse(
    settings: Settings | None = None,
    *,
    api: LangfuseAPI,
    since: datetime | None = None,
    lookback_s: float = 0.0,
    page_limit: int = 50,
    sub_limit: int = 100,
    workers: int = 4,
    max_pages: int | None = None,
    progress: ProgressFn | None = None,
    sleep: Callable[[float], None] = time.sleep,
):
    """Pull new Langfuse traces into the warehouse; returns the loader's ``LoadSummary``.

    Starts from the cursor the last pull of this host/project committed (or ``since``, or the
    beginning). Each page of traces is committed with the advanced cursor in one transaction.
    Transient API errors are retried; if they persist, ``TransientError`` propagates and the pages
    already committed stay committed, so the next pull resumes after them.
    """
    from tracemill.ingest.loader import last_cursor, open_load
    from tracemill.warehouse import connect

    s = settings or get_settings()
    if page_limit < 1 or sub_limit < 1:
        raise ConfigError("page limits must be positive", value={"page_limit": page_limit, "sub_limit": sub_limit})
    con = connect(s)
    client = _Client(api, sleep=sleep)
    try:
        cursor = last_cursor(con, api.source)
        start_ns = parse_time_ns(cursor["timestamp"]) if cursor else None
        if start_ns is None and since is not None:
            start_ns = parse_time_ns(since.astimezone(UTC).isoformat())
        if start_ns is not None and lookback_s > 0:
            start_ns -= int(lookback_s * 1e9)
        skip_ids = set(cursor.get("ids") or []) if cursor and lookback_s <= 0 else set()
        skip_ns = parse_time_ns(cursor["timestamp"]) if cursor else None
        upper = datetime.now(UTC) + timedelta(seconds=1)
        params = {
            "orderBy": "timestamp.asc",
            "fromTimestamp": _iso(start_ns) if start_ns is not None else None,
            "toTimestamp": upper.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        config = {"api": "langfuse", "host": api.host, "page_limit": page_limit, "lookback_s": lookback_s}
        with open_load(s, source=api.source, format=FORMAT, config=config, con=con) as load:
            page, done = 1, 0
            while True:
                body = client.get("/api/public/traces", {**params, "page": page, "limit": page_limit})
                total_pages = int((body.get("meta") or {}).get("totalPages") or 0)
                good: list[dict[str, Any]] = []
                bad: list[Item] = []
                for t in body["data"]:
                    if not isinstance(t, dict) or not isinstance(t.get("id"), str) or not t["id"]:
                        bad.append(Rejected("missing_id", "Langfuse trace without an id in /api/public/traces", raw=str(t)))
                    elif t["id"] in skip_ids and parse_time_ns(t.get("timestamp")) == skip_ns:
                        continue   # loaded by the previous pull (same timestamp as its cursor)
                    else:
                        good.append(t)
                cursor = _advance(cursor, good)
                items = [*bad, *_page_items(client, good, sub_limit=sub_limit, workers=workers)]
                load.commit_batch(items, cursor=cursor, source_file=f"{api.host.rstrip('/')}/api/public/traces?page={page}")
                done += len(good)
                if progress:
                    progress(page, total_pages, done)
                if page >= total_pages or not body["data"] or (max_pages is not None and page >= max_pages):
                    break
                page += 1
        return load.summary
    finally:
        client.close()
        con.close()


__all__ = ["FORMAT", "LangfuseAPI", "pull_langfuse"]

"""The response cache: stored target and judge responses keyed by (config hash, input hash, repetition).

Rows for the configs a run uses are loaded once at the start; new entries are kept pending and
written by the result writer in the same transaction as the results that paid for them.
"""

from __future__ import annotations

import threading
from typing import Any

import duckdb
import orjson

from tracemill.warehouse import query


class ResponseCache:
    """In-memory view of ``response_cache`` for some config hashes, plus pending new entries."""

    def __init__(self, rows: dict[tuple[str, str, int], dict[str, Any]] | None = None) -> None:
        self._rows: dict[tuple[str, str, int], dict[str, Any]] = dict(rows or {})
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.hits = 0

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection, config_hashes: list[str]) -> ResponseCache:
        rows: dict[tuple[str, str, int], dict[str, Any]] = {}
        if config_hashes:
            for ch, ih, rep, response, tin, tout, cost in con.execute(query("evals/cache_rows"), [config_hashes]).fetchall():
                rows[(ch, ih, rep)] = {**orjson.loads(response), "_input_tokens": tin, "_output_tokens": tout, "_cost_usd": cost}
        return cls(rows)

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, config_hash: str, input_hash: str, repetition: int = 0) -> dict[str, Any] | None:
        with self._lock:
            hit = self._rows.get((config_hash, input_hash, repetition))
            if hit is not None:
                self.hits += 1
            return hit

    def put(
        self, config_hash: str, input_hash: str, response: dict[str, Any], *, repetition: int = 0, kind: str = "target",
        input_tokens: int | None = None, output_tokens: int | None = None, cost_usd: float | None = None,
    ) -> None:
        key = (config_hash, input_hash, repetition)
        with self._lock:
            if key in self._rows:
                return
            self._rows[key] = {**response, "_input_tokens": input_tokens, "_output_tokens": output_tokens, "_cost_usd": cost_usd}
            self._pending.append({
                "config_hash": config_hash, "input_hash": input_hash, "repetition": repetition, "kind": kind,
                "response": orjson.dumps(response, default=str).decode(), "input_tokens": input_tokens,
                "output_tokens": output_tokens, "cost_usd": cost_usd,
            })

    def drain(self) -> list[dict[str, Any]]:
        """New entries not yet written (the writer takes them)."""
        with self._lock:
            pending, self._pending = self._pending, []
            return pending

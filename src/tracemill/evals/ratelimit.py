"""Requests-per-minute and tokens-per-minute limits for async calls (token buckets)."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """Refills ``per_minute / 60`` units a second up to ``burst_seconds`` worth; waiters queue in order.

    A take larger than the bucket waits for a full bucket and drives the level negative, so big
    requests still go through while the average rate holds.
    """

    def __init__(self, per_minute: float, *, burst_seconds: float = 1.0) -> None:
        if per_minute <= 0:
            raise ValueError("rate must be positive")
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.level = self.capacity
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self._stamp) * self.rate)
        self._stamp = now

    async def take(self, amount: float = 1.0) -> None:
        async with self._lock:
            while True:
                self._refill()
                need = min(amount, self.capacity)
                if self.level >= need:
                    self.level -= amount
                    return
                await asyncio.sleep((need - self.level) / self.rate)


class RateLimiter:
    """Both limits at once; either may be None (unlimited)."""

    def __init__(self, *, rpm: float | None = None, tpm: float | None = None) -> None:
        self.requests = TokenBucket(rpm) if rpm else None
        self.tokens = TokenBucket(tpm) if tpm else None

    async def acquire(self, tokens: float = 0.0) -> None:
        """Wait until one more request (of about ``tokens`` tokens) is allowed."""
        if self.requests is not None:
            await self.requests.take(1.0)
        if self.tokens is not None and tokens > 0:
            await self.tokens.take(tokens)

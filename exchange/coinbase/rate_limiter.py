"""Client-side token buckets that keep REST traffic under Coinbase's documented limits.

`TokenBucket` is pure (time is passed in); `RateLimiter` is the thin async shell that sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from core.clock import Clock, SystemClock


class TokenBucket:
    """`rate` tokens per second, at most `capacity` banked. `reserve` may go into debt: the caller waits."""

    def __init__(self, rate_per_s: float, capacity: float | None = None) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate must be positive, got {rate_per_s}")
        self.rate = rate_per_s
        self.capacity = capacity if capacity is not None else max(1.0, rate_per_s)
        self._tokens = self.capacity
        self._updated: float | None = None

    def reserve(self, now: float) -> float:
        """Take one token; return how many seconds the caller must wait before using it."""
        if self._updated is None:
            self._updated = now
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._updated = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    @property
    def tokens(self) -> float:
        return self._tokens


class RateLimiter:
    """Separate budgets for private (per user) and public (per IP) endpoints."""

    def __init__(self, private_per_s: float, public_per_s: float, *, clock: Clock | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._buckets = {False: TokenBucket(private_per_s), True: TokenBucket(public_per_s)}

    async def acquire(self, public: bool = False) -> float:
        """Wait for a token; return the time waited (for logs/tests)."""
        wait = self._buckets[public].reserve(self._clock.monotonic())
        if wait > 0:
            await self._sleep(wait)
        return wait

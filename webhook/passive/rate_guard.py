"""Per-product order-rate guard: at most N orders in any 60 s window (no order loops)."""

from __future__ import annotations

from collections import deque

WINDOW_S = 60.0


class OrderRateGuard:
    """Sliding window over monotonic send times; the caller passes the clock's reading."""

    def __init__(self, per_minute: int) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self._limit = per_minute
        self._sent: dict[str, deque[float]] = {}

    def _window(self, product: str, now: float) -> deque[float]:
        sent = self._sent.setdefault(product, deque())
        while sent and now - sent[0] >= WINDOW_S:
            sent.popleft()
        return sent

    def allows(self, product: str, now: float) -> bool:
        return len(self._window(product, now)) < self._limit

    def record(self, product: str, now: float) -> None:
        self._window(product, now).append(now)

    def sent_in_window(self, product: str, now: float) -> int:
        return len(self._window(product, now))

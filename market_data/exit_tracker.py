"""Bookkeeping of exits per position: at most one live exit, an attempt limit, backoff between tries.

Plain state over values; times are monotonic seconds passed in by the caller.
- While a submission is in flight, or an exit order is live, no second exit is started, except a
  hard stop may replace a live softer exit (the executor cancels conflicting sells first), and a
  live exit may be replaced once it has been live `live_recheck_s` without the position going away.
- Every submission counts as an attempt; after `max_attempts` the position is left alone (and the
  caller alerts) until the exit is reported finished or the position disappears.
- A failed submission waits a jittered, doubling backoff before the next try.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from core.enums import ExitReason

RETRY_BASE_S = 1.0
RETRY_MAX_S = 30.0
LIVE_RECHECK_S = 60.0


class Gate(StrEnum):
    OK = "ok"
    IN_FLIGHT = "in_flight"
    ATTEMPTS = "attempts"
    BACKOFF = "backoff"


@dataclass(slots=True)
class ExitAttempts:
    attempts: int = 0
    in_flight: bool = False
    live_order_id: str | None = None
    live_reason: ExitReason | None = None
    live_since: float = 0.0
    next_try: float = 0.0
    gave_up: bool = False


class ExitTracker:
    def __init__(self, max_attempts: int, *, retry_base_s: float = RETRY_BASE_S, retry_max_s: float = RETRY_MAX_S,
                 live_recheck_s: float = LIVE_RECHECK_S, rng: random.Random | None = None) -> None:
        self.max_attempts = max_attempts
        self._retry_base_s = retry_base_s
        self._retry_max_s = retry_max_s
        self._live_recheck_s = live_recheck_s
        self._rng = rng or random.Random()
        self._by_symbol: dict[str, ExitAttempts] = {}

    def get(self, symbol: str) -> ExitAttempts | None:
        return self._by_symbol.get(symbol)

    def gate(self, symbol: str, reason: ExitReason, now: float) -> Gate:
        entry = self._by_symbol.get(symbol)
        if entry is None:
            return Gate.OK
        if entry.in_flight:
            return Gate.IN_FLIGHT
        if entry.live_order_id is not None:
            escalation = reason is ExitReason.HARD_STOP and entry.live_reason is not ExitReason.HARD_STOP
            if not escalation and now - entry.live_since < self._live_recheck_s:
                return Gate.IN_FLIGHT
        if entry.attempts >= self.max_attempts:
            return Gate.ATTEMPTS
        if now < entry.next_try:
            return Gate.BACKOFF
        return Gate.OK

    def started(self, symbol: str, reason: ExitReason) -> int:
        """A submission begins; returns the attempt number (1-based)."""
        entry = self._by_symbol.setdefault(symbol, ExitAttempts())
        entry.attempts += 1
        entry.in_flight = True
        entry.live_reason = reason
        return entry.attempts

    def succeeded(self, symbol: str, order_id: str | None, now: float) -> None:
        entry = self._by_symbol.get(symbol)
        if entry is None:  # the position went away while the submission was in flight
            return
        entry.in_flight = False
        entry.live_order_id = order_id or "unknown"
        entry.live_since = now

    def failed(self, symbol: str, now: float) -> bool:
        """Record a failed submission; True when no attempts are left."""
        entry = self._by_symbol.get(symbol)
        if entry is None:
            return False
        entry.in_flight = False
        entry.live_order_id = None
        delay = min(self._retry_max_s, self._retry_base_s * 2 ** max(0, entry.attempts - 1))
        entry.next_try = now + delay * self._rng.uniform(0.5, 1.0)
        return entry.attempts >= self.max_attempts

    def give_up_once(self, symbol: str) -> bool:
        """True the first time the attempt limit is hit for this position (alert once)."""
        entry = self._by_symbol.get(symbol)
        if entry is None or entry.gave_up:
            return False
        entry.gave_up = True
        return True

    def finished(self, symbol: str, *, filled: bool) -> None:
        """The live exit order reached a terminal state (reported by the execution core)."""
        entry = self._by_symbol.get(symbol)
        if entry is None:
            return
        if filled:
            del self._by_symbol[symbol]
            return
        entry.live_order_id = None
        entry.live_reason = None

    def forget(self, symbol: str) -> None:
        self._by_symbol.pop(symbol, None)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._by_symbol

    def symbols(self) -> list[str]:
        return list(self._by_symbol)

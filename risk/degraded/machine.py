"""The degraded-mode state machine. Pure: callers pass monotonic seconds and wall times in.

Enter: `error_threshold` errors or timeouts of one call family (orders, market, account) within
`window_s`. Leave: `recovery_successes` consecutive successful exchange calls (any family) — a
failure while degraded restarts the run.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Family = Literal["orders", "market", "account"]


@dataclass(frozen=True, slots=True)
class DegradedParams:
    error_threshold: int
    window_s: float
    recovery_successes: int


@dataclass(frozen=True, slots=True)
class Transition:
    event: Literal["enter", "leave"]
    family: str | None
    cause: str
    at: datetime


@dataclass(frozen=True, slots=True)
class DegradedState:
    active: bool = False
    family: str | None = None
    cause: str | None = None
    since: datetime | None = None


@dataclass
class DegradedMachine:
    params: DegradedParams
    state: DegradedState = field(default_factory=DegradedState)
    _errors: dict[str, deque[float]] = field(default_factory=dict)
    _successes: int = 0

    def restore(self, state: DegradedState) -> None:
        """Start from the persisted state (a daemon restarted while degraded stays degraded until recovery)."""
        self.state = state
        self._successes = 0

    def failure(self, family: str, error: str, mono: float, at: datetime) -> Transition | None:
        window = self._errors.setdefault(family, deque())
        window.append(mono)
        while window and mono - window[0] > self.params.window_s:
            window.popleft()
        self._successes = 0
        if self.state.active or len(window) < self.params.error_threshold:
            return None
        cause = (f"{len(window)} {family} errors/timeouts within {self.params.window_s:g}s; last: {error}")[:500]
        self.state = DegradedState(True, family, cause, at)
        return Transition("enter", family, cause, at)

    def success(self, family: str, at: datetime) -> Transition | None:
        if not self.state.active:
            return None
        self._successes += 1
        if self._successes < self.params.recovery_successes:
            return None
        cause = f"{self._successes} consecutive successful exchange calls (last: {family})"
        previous = self.state.family
        self.state = DegradedState()
        self._successes = 0
        self._errors.clear()
        return Transition("leave", previous, cause, at)

    @property
    def recovery_progress(self) -> int:
        return self._successes

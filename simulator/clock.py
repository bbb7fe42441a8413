"""The simulator's clock: wall time scaled by a speed factor, plus manual jumps.

Order times, fills, candles and GTD expiry use this clock. JWT checks use the real wall clock
(the SDK signs with time.time()), so a fast simulated clock never breaks authentication.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class SimClock:
    def __init__(self, speed: float = 1.0, start: datetime | None = None,
                 real_monotonic: Callable[[], float] = time.monotonic) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self.speed = speed
        self._start = start or datetime.now(UTC)
        self._real = real_monotonic
        self._mono0 = real_monotonic()
        self._offset = 0.0  # simulated seconds added by advance()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.monotonic())

    def monotonic(self) -> float:
        """Simulated seconds since the clock started (never goes backwards)."""
        return (self._real() - self._mono0) * self.speed + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the simulated clock never goes backwards")
        self._offset += seconds

    def real_seconds(self, sim_seconds: float) -> float:
        """Real time that corresponds to sim_seconds of simulated time."""
        return sim_seconds / self.speed

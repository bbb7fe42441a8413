"""The replay's clock: virtual time that only the data moves (implements core.clock.Clock)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta


class VirtualClock:
    """`now()` is the simulated instant; `monotonic()` counts simulated seconds since the start.

    Only the replay driver calls `set`; every component reads it through the Clock port, so a
    replay of a year takes as long as the work it contains, not a year.
    """

    def __init__(self, start: datetime) -> None:
        self._origin = start.astimezone(UTC)
        self._now = self._origin
        self._mono = 0.0
        self._reading: tuple[int, tuple[datetime, float]] = (-1, (start, 0.0))  # the last reading_at, reused

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def set(self, when: datetime) -> None:
        if when < self._now:
            raise ValueError(f"the replay clock never goes backwards ({when} < {self._now})")
        self._now = when
        self._mono = (when - self._origin).total_seconds()

    def reading_at(self, seconds: int) -> tuple[datetime, float]:
        """What `now()` and `monotonic()` return while the clock stands at unix `seconds`."""
        if self._reading[0] == seconds:  # the points of one instant (every product's) ask in a row
            return self._reading[1]
        when = datetime.fromtimestamp(seconds, UTC)
        reading = when, (when - self._origin).total_seconds()
        self._reading = (seconds, reading)
        return reading

    def set_unix(self, seconds: int) -> None:
        self.set(datetime.fromtimestamp(seconds, UTC))

    def advance(self, seconds: float) -> None:
        self.set(self._now + timedelta(seconds=seconds))

    async def sleep(self, seconds: float) -> None:
        """A wait inside the daemon's code (a placement backoff, a cancel poll: webhook/working_orders/waits.py)
        takes no virtual time: only the data moves time, and nothing can move the market in between."""
        await asyncio.sleep(0)

"""What /health/trailing_stop adds to the counters: the last hour's events by kind, and every
trailing stop whose symbol has not had a price update for longer than the staleness limit."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.money import fmt
from market_data.market_cache import MarketCache
from market_data.trailing_stop import TrailingStop
from shared_data.event_store import event_counts_since

WINDOW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class StopFreshness:
    symbol: str
    state: str
    current_stop: str | None
    stop_order_id: str | None
    last_price_age_s: float | None  # None: no price received since start

    def as_dict(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "state": self.state, "current_stop": self.current_stop,
                "stop_order_id": self.stop_order_id, "last_price_age_s": self.last_price_age_s}


def stop_freshness(stops: Iterable[TrailingStop], cache: MarketCache, now_mono: float) -> list[StopFreshness]:
    out = []
    for stop in sorted(stops, key=lambda s: s.symbol):
        quote = cache.get(stop.symbol)
        age = None if quote is None else round(now_mono - quote.received_mono, 3)
        out.append(StopFreshness(stop.symbol, stop.state.value, None if stop.current_stop is None else
                                 fmt(stop.current_stop), stop.stop_order_id, age))
    return out


def stale_stops(freshness: Iterable[StopFreshness], max_age_s: float) -> list[StopFreshness]:
    return [f for f in freshness if f.last_price_age_s is None or f.last_price_age_s > max_age_s]


class TrailingHistoryHealth:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], cache: MarketCache,
                 stops: Callable[[], Iterable[TrailingStop]], clock: Clock, max_age_s: float) -> None:
        self._sessions = sessions
        self._cache = cache
        self._stops = stops
        self._clock = clock
        self._max_age_s = max_age_s

    async def report(self) -> dict[str, Any]:
        async with self._sessions() as session:
            counts = await event_counts_since(session, self._clock.now() - WINDOW)
        fresh = stop_freshness(self._stops(), self._cache, self._clock.monotonic())
        return {
            "events_last_hour": counts,
            "staleness_limit_s": self._max_age_s,
            "stale": [f.as_dict() for f in stale_stops(fresh, self._max_age_s)],
            "stops": [f.as_dict() for f in fresh],
        }

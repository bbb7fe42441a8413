"""What `diagnose` saw while it watched: samples of /health/trailing_stop and /metrics folded into
per-symbol figures. Pure: times are seconds since the start, passed in by the caller."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SymbolFeed:
    ticks_first: float | None = None
    ticks_last: float | None = None
    last_change_s: float = 0.0  # when the tick counter last moved (0: the start)
    largest_gap_s: float = 0.0
    stale_worst_age_s: float | None = None  # the oldest price seen on a stale stop (None: never stale)

    @property
    def updates(self) -> int:
        if self.ticks_first is None or self.ticks_last is None:
            return 0
        return int(self.ticks_last - self.ticks_first)


@dataclass
class Watch:
    samples: int = 0
    failed_samples: int = 0
    last_error: str | None = None
    elapsed_s: float = 0.0
    staleness_limit_s: float | None = None
    feeds: dict[str, SymbolFeed] = field(default_factory=dict)

    def failed(self, at_s: float, error: str) -> None:
        self.failed_samples += 1
        self.last_error = error
        self.elapsed_s = at_s

    def add(self, at_s: float, ticks: Mapping[str, float], trailing: Mapping[str, Any]) -> None:
        """One sample: tick counters by symbol (from /metrics) and the /health/trailing_stop body."""
        self.samples += 1
        self.elapsed_s = at_s
        self.staleness_limit_s = trailing.get("staleness_limit_s", self.staleness_limit_s)
        stops: Sequence[Mapping[str, Any]] = trailing.get("stops") or []
        for symbol in set(ticks) | {str(s["symbol"]) for s in stops}:
            feed = self.feeds.setdefault(symbol, SymbolFeed())
            count = ticks.get(symbol)
            if count is not None:
                if feed.ticks_first is None:
                    feed.ticks_first = count
                if feed.ticks_last is not None and count != feed.ticks_last:
                    feed.last_change_s = at_s
                feed.ticks_last = count
            feed.largest_gap_s = max(feed.largest_gap_s, at_s - feed.last_change_s)
        for stop in stops:
            age = stop.get("last_price_age_s")
            if age is not None:
                feed = self.feeds[str(stop["symbol"])]
                feed.largest_gap_s = max(feed.largest_gap_s, float(age))
        for stale in trailing.get("stale") or []:
            feed = self.feeds.setdefault(str(stale["symbol"]), SymbolFeed())
            age = stale.get("last_price_age_s")
            worst = float("inf") if age is None else float(age)
            feed.stale_worst_age_s = max(feed.stale_worst_age_s or 0.0, worst)

    def finish(self, at_s: float) -> None:
        """The gap still open at the end counts too."""
        self.elapsed_s = at_s
        for feed in self.feeds.values():
            feed.largest_gap_s = max(feed.largest_gap_s, at_s - feed.last_change_s)

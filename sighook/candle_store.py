"""Candles per (product, granularity), in memory, bounded; and the pure incremental fetch plan.

Only *closed* buckets are kept: the bucket that contains `now` is still moving, and a signal
computed on it would flicker and break the one-alert-per-candle dedup. Buckets the exchange omits
(no trades) are simply absent: gaps are tolerated, never refetched.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from exchange.models import Candle, granularity_seconds

# Coinbase refuses more than 350 buckets in one request; stay a little below its edge.
MAX_BUCKETS_PER_REQUEST = 300

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bucket_floor(t: datetime, seconds: int) -> datetime:
    """Start of the bucket that contains `t`."""
    epoch_s = int((t - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=epoch_s - epoch_s % seconds)


@dataclass(frozen=True, slots=True)
class FetchWindow:
    """Request candles with start in [start, end): at most MAX_BUCKETS_PER_REQUEST buckets."""

    start: datetime
    end: datetime

    def buckets(self, seconds: int) -> int:
        return int((self.end - self.start).total_seconds()) // seconds


def plan_fetch(last_start: datetime | None, now: datetime, granularity: str, history: int,
               max_buckets: int = MAX_BUCKETS_PER_REQUEST) -> list[FetchWindow]:
    """Windows (oldest first) that bring a series up to the last closed bucket before `now`.

    `last_start`: start of the newest candle we hold (None: cold start → backfill `history` buckets).
    Never asks again for buckets we have, and never for more than `history` buckets.
    """
    if not 1 <= max_buckets <= 350:
        raise ValueError("max_buckets must be within 1..350")
    if history < 1:
        raise ValueError("history must be positive")
    step = granularity_seconds(granularity)
    end = bucket_floor(now, step)  # exclusive: the bucket in progress is not closed yet
    earliest = end - timedelta(seconds=step * history)
    start = earliest if last_start is None else max(earliest, last_start + timedelta(seconds=step))
    windows: list[FetchWindow] = []
    while start < end:
        stop = min(end, start + timedelta(seconds=step * max_buckets))
        windows.append(FetchWindow(start, stop))
        start = stop
    return windows


@dataclass(frozen=True, slots=True)
class SeriesKey:
    product_id: str
    granularity: str


class CandleSeries:
    """Closed candles of one product, sorted by start, at most `capacity`, with float arrays cached.

    Indicators run on float arrays (fine for indicators); the Decimal candles stay the source for
    prices published to the matrix.
    """

    __slots__ = ("_arrays", "_candles", "_starts", "capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._candles: list[Candle] = []
        self._starts: list[datetime] = []
        self._arrays: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self._candles)

    @property
    def candles(self) -> list[Candle]:
        return list(self._candles)

    @property
    def last(self) -> Candle | None:
        return self._candles[-1] if self._candles else None

    def merge(self, candles: Iterable[Candle], before: datetime | None = None) -> int:
        """Add candles (any order, duplicates replace); drop those starting at/after `before`.

        Returns how many new buckets were added.
        """
        added = 0
        appended_only = True
        for candle in sorted(candles, key=lambda c: c.start):
            if before is not None and candle.start >= before:
                continue
            if self._starts and candle.start > self._starts[-1]:
                self._candles.append(candle)
                self._starts.append(candle.start)
                added += 1
                continue
            i = bisect_left(self._starts, candle.start)
            appended_only = False
            if i < len(self._starts) and self._starts[i] == candle.start:
                self._candles[i] = candle
            else:
                self._candles.insert(i, candle)
                self._starts.insert(i, candle.start)
                added += 1
        excess = len(self._candles) - self.capacity
        if excess > 0:
            del self._candles[:excess]
            del self._starts[:excess]
        if added or not appended_only:
            self._refresh_arrays(added if appended_only else None)
        return added

    def arrays(self) -> np.ndarray:
        """float64 array of shape (n, 5): open, high, low, close, volume."""
        if self._arrays is None:
            self._refresh_arrays(None)
        assert self._arrays is not None
        return self._arrays

    def _refresh_arrays(self, appended: int | None) -> None:
        n = len(self._candles)
        old = self._arrays
        if appended is not None and old is not None and appended <= n and len(old) + appended >= n:
            # Common case: a few new buckets at the end → convert only those.
            fresh = _to_array(self._candles[n - appended:]) if appended else np.empty((0, 5))
            keep = n - appended
            self._arrays = np.concatenate([old[len(old) - keep:] if keep else old[:0], fresh])
        else:
            self._arrays = _to_array(self._candles)


def _to_array(candles: list[Candle]) -> np.ndarray:
    out = np.empty((len(candles), 5), dtype=np.float64)
    for i, c in enumerate(candles):
        out[i] = (float(c.open), float(c.high), float(c.low), float(c.close), float(c.volume))
    return out


class CandleStore:
    """All series, keyed by (product, granularity), each bounded to `history` candles."""

    def __init__(self, history: int) -> None:
        self.history = history
        self._series: dict[SeriesKey, CandleSeries] = {}

    def series(self, product_id: str, granularity: str) -> CandleSeries:
        key = SeriesKey(product_id, granularity)
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = CandleSeries(self.history)
        return found

    def get(self, product_id: str, granularity: str) -> CandleSeries | None:
        return self._series.get(SeriesKey(product_id, granularity))

    def last_start(self, product_id: str, granularity: str) -> datetime | None:
        found = self.get(product_id, granularity)
        last = found.last if found is not None else None
        return last.start if last is not None else None

    def plan(self, product_id: str, granularity: str, now: datetime) -> list[FetchWindow]:
        return plan_fetch(self.last_start(product_id, granularity), now, granularity, self.history)

    def merge(self, product_id: str, granularity: str, candles: Iterable[Candle], now: datetime) -> int:
        """Merge fetched candles, keeping only buckets closed at `now`."""
        closed_before = bucket_floor(now, granularity_seconds(granularity))
        return self.series(product_id, granularity).merge(candles, before=closed_before)

    def forget(self, keep: Iterable[str]) -> int:
        """Drop series of products no longer in the universe; returns how many were dropped."""
        wanted = set(keep)
        gone = [k for k in self._series if k.product_id not in wanted]
        for key in gone:
            del self._series[key]
        return len(gone)

    def __len__(self) -> int:
        return len(self._series)

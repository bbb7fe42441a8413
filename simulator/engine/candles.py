"""One-minute OHLCV buckets built from the price path, aggregated to any granularity on request.

A seeded history (walked backwards from the start price) lets a cold start fetch hundreds of
candles at once.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.money import quantize_to
from exchange.models import GRANULARITY_SECONDS
from simulator.engine.price_process import exp_small, normal_draw

MINUTE = 60
GRANULARITIES = GRANULARITY_SECONDS  # the protocol's enum, one definition


@dataclass(slots=True)
class Bucket:
    start: int  # unix seconds
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def merge(self, other: Bucket) -> None:
        """Fold a later bucket into this one."""
        self.high = max(self.high, other.high)
        self.low = min(self.low, other.low)
        self.close = other.close
        self.volume += other.volume


class CandleSeries:
    def __init__(self) -> None:
        self._starts: list[int] = []
        self._buckets: dict[int, Bucket] = {}
        self._low: Decimal | None = None
        self._high: Decimal | None = None

    def _extend(self, low: Decimal, high: Decimal) -> None:
        self._low = low if self._low is None else min(self._low, low)
        self._high = high if self._high is None else max(self._high, high)

    def add(self, when: datetime, price: Decimal, volume: Decimal) -> None:
        ts = int(when.timestamp())
        start = ts - ts % MINUTE
        self._extend(price, price)
        bucket = self._buckets.get(start)
        if bucket is None:
            self._buckets[start] = Bucket(start, price, price, price, price, volume)
            bisect.insort(self._starts, start)
        else:
            bucket.merge(Bucket(start, price, price, price, price, volume))

    def add_bucket(self, bucket: Bucket) -> None:
        self._extend(bucket.low, bucket.high)
        if bucket.start in self._buckets:
            self._buckets[bucket.start].merge(bucket)
        else:
            self._buckets[bucket.start] = bucket
            bisect.insort(self._starts, bucket.start)

    def query(self, granularity_s: int, start: int, end: int) -> list[Bucket]:
        """Buckets of `granularity_s` whose start lies in [start, end], newest first; empty ones omitted."""
        first = start - start % granularity_s
        lo = bisect.bisect_left(self._starts, first)
        hi = bisect.bisect_right(self._starts, end)
        out: dict[int, Bucket] = {}
        for minute in self._starts[lo:hi]:
            src = self._buckets[minute]
            key = minute - minute % granularity_s
            if key > end:
                continue
            agg = out.get(key)
            if agg is None:
                out[key] = Bucket(key, src.open, src.high, src.low, src.close, src.volume)
            else:
                agg.merge(src)
        return [out[k] for k in sorted(out, reverse=True)]

    def window(self, start: int, end: int) -> list[Bucket]:
        lo = bisect.bisect_left(self._starts, start)
        hi = bisect.bisect_right(self._starts, end)
        return [self._buckets[s] for s in self._starts[lo:hi]]

    def bucket(self, start: int) -> Bucket | None:
        return self._buckets.get(start)

    def extremes(self) -> tuple[Decimal, Decimal] | None:
        """Lowest low and highest high ever seen (the simulator's "52-week" range)."""
        if self._low is None or self._high is None:
            return None
        return self._low, self._high

    def __len__(self) -> int:
        return len(self._starts)


def seed_history(series: CandleSeries, *, end: datetime, end_price: Decimal, minutes: int, seed: int,
                 minute_volatility: Decimal, mean_minute_volume: Decimal, tick: Decimal) -> None:
    """Fill `minutes` one-minute candles before `end`, walking backwards so the last close is end_price."""
    if minutes <= 0:
        return
    rng = random.Random(seed)
    end_ts = int(end.timestamp())
    last_start = end_ts - end_ts % MINUTE - MINUTE
    closes = [end_price]
    for _ in range(minutes):
        closes.append(max(quantize_to(closes[-1] / exp_small(minute_volatility * normal_draw(rng)), tick), tick))
    # closes[k] is the close k minutes back; the open of a minute is the previous minute's close.
    for k in range(minutes, 0, -1):
        close, open_ = closes[k - 1], closes[k]
        wick = abs(minute_volatility * normal_draw(rng)) / 2
        high = quantize_to(max(open_, close) * (1 + wick), tick)
        low = max(quantize_to(min(open_, close) * (1 - wick), tick), tick)
        volume = (mean_minute_volume * 2 * Decimal(rng.getrandbits(32)) / Decimal(2**32)).quantize(Decimal("1e-8"))
        series.add_bucket(Bucket(last_start - (k - 1) * MINUTE, open_, high, low, close, volume))

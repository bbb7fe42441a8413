"""The intrabar assumption: which prices a candle went through, in which order, and when.

A candle only says where the price opened, closed and how far it reached. Like the simulator's CSV
replay (simulator/engine/price_process.py, `CsvReplay`), each candle becomes four trades:

    open at t, then the extreme it most likely reached first, then the other, then close at t+g−1 s
    — a green candle (close ≥ open) goes open → low → high → close, a red one open → high → low → close;
    the extremes come at t+g/3 and t+2g/3.

So a stop and a target inside one candle are decided by that guess; with 1-minute candles as
detail (`--detail`), a coarse candle's path is instead its minutes' paths (four points each), which
shrinks the guess to one minute. Every candle's close is known to sighook at t+g (the next open),
when the replay runs a sighook cycle for it. "Cycle" events sort before price points at one instant,
but the driver runs the collected cycles only once every point of that instant has traded: entries
are placed after the next candle's open has printed, as live, where sighook sees a candle closed only
once the new one has begun.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from replay.data import ProductSeries

CYCLE, POINT = 0, 1

ASSUMPTION = (
    "Each candle is replayed as four trades: the open at its start, then the extreme it most likely reached "
    "first (the low of a green candle, close >= open; the high of a red one) at 1/3 of the candle, the other "
    "extreme at 2/3, and the close 1 s before its end. Stops and targets are evaluated at each of these prices, "
    "so a candle that spans both a stop and a target is decided by its colour, and exits fill at these prices, "
    "not at the thresholds. sighook's cycle for a candle runs at its end (the next open)."
)
DETAIL_NOTE = "Coarse candles with all their 1-minute detail candles use those minutes' paths instead."


@dataclass(frozen=True, slots=True)
class Timeline:
    """Every event of the replay in time order: `kind` CYCLE (ref = candle index) or POINT (ref = point)."""

    time: np.ndarray  # int64 unix seconds
    kind: np.ndarray  # int8
    product: np.ndarray  # int32 index into `products`
    ref: np.ndarray  # int64
    products: tuple[str, ...]
    prices: tuple[tuple[Decimal, ...], ...]  # per product: the price of each point
    closes: np.ndarray  # bool per event: a POINT that is the last of its candle
    detailed_candles: int  # coarse candles whose path came from 1-minute detail

    def __len__(self) -> int:
        return len(self.time)


def candle_path(o: Decimal, h: Decimal, lo: Decimal, c: Decimal) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    return (o, lo, h, c) if c >= o else (o, h, lo, c)


def point_offsets(granularity_s: int) -> tuple[int, int, int, int]:
    return (0, granularity_s // 3, 2 * granularity_s // 3, granularity_s - 1)


def _product_points(s: ProductSeries, detail: ProductSeries | None
                    ) -> tuple[np.ndarray, list[Decimal], int, np.ndarray]:
    """Point times, point prices, candles detailed, and which points close a candle."""
    g = s.granularity_s
    if detail is None or g == 60:
        offsets = np.asarray(point_offsets(g), dtype=np.int64)
        times = (s.starts[:, None] + offsets[None, :]).reshape(-1)
        flat = [p for bar in s.prices for p in candle_path(bar[0], bar[1], bar[2], bar[3])]
        closes = np.zeros(len(times), dtype=bool)
        closes[3::4] = True
        return times, flat, 0, closes
    if detail.granularity_s != 60:
        raise ValueError(f"{detail.source}: detail candles must be 1-minute, got {detail.granularity_s} s")
    minute_offsets = np.asarray(point_offsets(60), dtype=np.int64)
    coarse_offsets = np.asarray(point_offsets(g), dtype=np.int64)
    pos = np.searchsorted(detail.starts, s.starts)
    end = np.searchsorted(detail.starts, s.starts + g)
    times_out: list[np.ndarray] = []
    closes_out: list[np.ndarray] = []
    prices: list[Decimal] = []
    detailed = 0
    for i, bar in enumerate(s.prices):
        lo_i, hi_i = int(pos[i]), int(end[i])
        if hi_i - lo_i == g // 60:  # complete minutes only; a partial detail would invent a path
            detailed += 1
            times_out.append((detail.starts[lo_i:hi_i, None] + minute_offsets[None, :]).reshape(-1))
            closes_out.append(np.arange(4 * (hi_i - lo_i)) == 4 * (hi_i - lo_i) - 1)
            for m in detail.prices[lo_i:hi_i]:
                prices.extend(candle_path(m[0], m[1], m[2], m[3]))
        else:
            times_out.append(s.starts[i] + coarse_offsets)
            closes_out.append(np.array([False, False, False, True]))
            prices.extend(candle_path(bar[0], bar[1], bar[2], bar[3]))
    return np.concatenate(times_out), prices, detailed, np.concatenate(closes_out)


def build_timeline(series: tuple[ProductSeries, ...], detail: dict[str, ProductSeries] | None = None) -> Timeline:
    times, kinds, owners, refs, closes = [], [], [], [], []
    all_prices: list[tuple[Decimal, ...]] = []
    detailed = 0
    for k, s in enumerate(series):
        point_times, prices, used, point_closes = _product_points(s, (detail or {}).get(s.product_id))
        detailed += used
        all_prices.append(tuple(prices))
        n_points, n_candles = len(point_times), len(s)
        times += [point_times, s.starts + s.granularity_s]
        kinds += [np.full(n_points, POINT, dtype=np.int8), np.full(n_candles, CYCLE, dtype=np.int8)]
        owners += [np.full(n_points, k, dtype=np.int32), np.full(n_candles, k, dtype=np.int32)]
        refs += [np.arange(n_points, dtype=np.int64), np.arange(n_candles, dtype=np.int64)]
        closes += [point_closes, np.zeros(n_candles, dtype=bool)]
    time = np.concatenate(times)
    kind = np.concatenate(kinds)
    product = np.concatenate(owners)
    ref = np.concatenate(refs)
    # Order: time, then cycles before points, then product, then the point's own order.
    order = np.lexsort((ref, product, kind, time))
    return Timeline(time=time[order], kind=kind[order], product=product[order], ref=ref[order],
                    products=tuple(s.product_id for s in series), prices=tuple(all_prices),
                    closes=np.concatenate(closes)[order],
                    detailed_candles=detailed)

"""Compute time of one sighook cycle: 300 products × 300 one-minute candles (target ≤ 1.0 s). Prints JSON.

    .venv/bin/python bench/sighook_cycle.py [--products 300] [--candles 300] [--rounds 7] [--no-pin]

Data is in memory (a CandleStore of Decimal candles, as the daemon holds it); no exchange, no
database. Timed after `indicators.warm_up()`, per round:
- `compute_ms`: store → float arrays → indicators (pandas-ta, one batched pass) → rules → matrix rows;
- `payload_ms`: the matrix's schema-versioned JSON form (`to_payload`) plus `json.dumps`;
- `cycle_ms` = compute + payload; `next_minute_ms`: the same after one new candle per product
  (incremental array update included).
The process is pinned to one CPU (unless --no-pin), so the figure is a one-core figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exchange.models import Candle
from sighook import indicators
from sighook.candle_store import CandleStore
from sighook.matrix import BuySellMatrix, ProductCandles, build_matrix, to_payload

TARGET_MS = 1000.0
GRANULARITY = "ONE_MINUTE"
START = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
PLACES = Decimal("0.00000001")


def candle(rng: random.Random, start: datetime, prev: float, scale: float) -> tuple[Candle, float]:
    close = prev * math.exp(rng.gauss(0, 0.002))
    wick = abs(rng.gauss(0, 0.001))
    hi, lo = max(prev, close) * (1 + wick), min(prev, close) * (1 - wick)

    def d(x: float) -> Decimal:
        return Decimal(repr(x)).quantize(PLACES) if x >= 1e-4 else Decimal(repr(x))

    vol = Decimal(repr(rng.uniform(0.1, 100.0) / math.sqrt(scale))).quantize(PLACES)
    return Candle(start, d(prev), d(hi), d(lo), d(close), vol), close


def build_store(products: int, candles: int, seed: int) -> tuple[CandleStore, list[str], dict[str, float]]:
    rng = random.Random(seed)
    store = CandleStore(history=candles)
    ids = [f"P{i:03d}-USD" for i in range(products)]
    last: dict[str, float] = {}
    for pid in ids:
        scale = 10 ** rng.uniform(-4, 5)  # from sub-cent tokens to BTC-like prices
        price, batch = scale, []
        for k in range(candles):
            c, price = candle(rng, START + timedelta(minutes=k), price, scale)
            batch.append(c)
        store.merge(pid, GRANULARITY, batch, START + timedelta(minutes=candles))
        last[pid] = price
    return store, ids, last


def compute(store: CandleStore, ids: list[str], computed_at: datetime) -> BuySellMatrix:
    inputs = []
    for pid in ids:
        series = store.get(pid, GRANULARITY)
        assert series is not None
        inputs.append(ProductCandles(pid, False, series.arrays(), series.last))
    return build_matrix(inputs, computed_at=computed_at, granularity=GRANULARITY,
                        buy_threshold=Decimal("0.6"), sell_threshold=Decimal("-0.6"))


def timed_round(store: CandleStore, ids: list[str], computed_at: datetime) -> tuple[float, float, BuySellMatrix]:
    t0 = time.perf_counter()
    matrix = compute(store, ids, computed_at)
    t1 = time.perf_counter()
    json.dumps(to_payload(matrix))
    t2 = time.perf_counter()
    return (t1 - t0) * 1000, (t2 - t1) * 1000, matrix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--candles", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    args = parser.parse_args(argv)

    pinned = None
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        pinned = cpu

    t = time.perf_counter()
    store, ids, last = build_store(args.products, args.candles, args.seed)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    indicators.warm_up()
    warm_s = time.perf_counter() - t

    computed_at = START + timedelta(minutes=args.candles, seconds=5)
    compute_ms, payload_ms = [], []
    matrix = None
    for _ in range(args.rounds):
        c, p, matrix = timed_round(store, ids, computed_at)
        compute_ms.append(c)
        payload_ms.append(p)
    assert matrix is not None

    # One more closed minute per product: the incremental path the daemon runs every cycle.
    rng = random.Random(args.seed + 1)
    next_ms = []
    for step in range(args.rounds):
        minute = START + timedelta(minutes=args.candles + step)
        t0 = time.perf_counter()
        for pid in ids:
            new, last[pid] = candle(rng, minute, last[pid], 1.0)
            store.merge(pid, GRANULARITY, [new], minute + timedelta(minutes=1))
        _, _, _ = timed_round(store, ids, computed_at + timedelta(minutes=step + 1))
        next_ms.append((time.perf_counter() - t0) * 1000)

    cycle_ms = [c + p for c, p in zip(compute_ms, payload_ms, strict=True)]
    decisions = {d.value: n for d, n in matrix.decisions().items()}
    result = {
        "benchmark": "sighook_cycle_compute",
        "products": args.products,
        "candles_per_product": args.candles,
        "rounds": args.rounds,
        "pinned_cpu": pinned,
        "store_build_s": round(build_s, 3),
        "warm_up_s": round(warm_s, 3),
        "compute_ms": {"min": round(min(compute_ms), 1), "median": round(statistics.median(compute_ms), 1),
                       "max": round(max(compute_ms), 1)},
        "payload_ms": {"min": round(min(payload_ms), 1), "median": round(statistics.median(payload_ms), 1)},
        "cycle_ms": {"min": round(min(cycle_ms), 1), "median": round(statistics.median(cycle_ms), 1),
                     "max": round(max(cycle_ms), 1)},
        "next_minute_ms": {"min": round(min(next_ms), 1), "median": round(statistics.median(next_ms), 1)},
        "rows": len(matrix.rows),
        "skipped": len(matrix.skipped),
        "decisions": decisions,
        "target_ms": TARGET_MS,
        "meets_target": statistics.median(cycle_ms) <= TARGET_MS,
        "method": "pandas-ta called once per indicator over all products laid end to end (NaN gaps between "
                  "products, prices normalised per product); see sighook/indicators.py",
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

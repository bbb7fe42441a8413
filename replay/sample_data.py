"""Bundled sample data, generated (not shipped): a seeded, documented process, one CSV per product.

    python -m replay.sample_data --out var/replay/sample            # 3 products × 20,160 1-minute candles

The path of each product is a geometric random walk on one-minute steps whose regime changes every
few hours (calm, trending up, trending down, choppy), with rare crash minutes (a wick 6–9 % below the
open) — enough variety that a replay with the default thresholds exits by every sentinel reason
(hard stop, soft stop, take profit, signal, trailing stop). Within a minute, the high and low extend
the open/close by a half-normal wick. Prices are rounded to the product's tick; volumes are
log-normal. numpy's PCG64 generator with a fixed seed makes the files byte-identical on every
machine; the sha256 of each file goes into every replay report's data fingerprint.
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from pathlib import Path

import numpy as np

from replay.data import write_csv

DEFAULT_PRODUCTS = (("BTC-USD", 60000.0, 2), ("ETH-USD", 3000.0, 2), ("SOL-USD", 150.0, 3))
DEFAULT_CANDLES = 20_160  # two weeks of minutes
DEFAULT_START = 1_767_225_600  # 2026-01-01T00:00:00Z
DEFAULT_SEED = 20_260_101

# (drift per minute, volatility per minute); regimes last 2–8 hours.
REGIMES = ((0.0, 0.0012), (0.0004, 0.0015), (-0.0004, 0.0015), (0.0, 0.0030))
CRASH_PROBABILITY = 1 / 900


def product_rows(seed: int, start_price: float, places: int, candles: int,
                 start: int = DEFAULT_START) -> list[tuple[int, str, str, str, str, str]]:
    rng = np.random.Generator(np.random.PCG64(seed))
    drift = np.empty(candles)
    vol = np.empty(candles)
    i = 0
    while i < candles:
        length = int(rng.integers(120, 480))
        d, v = REGIMES[int(rng.integers(0, len(REGIMES)))]
        drift[i:i + length], vol[i:i + length] = d, v
        i += length
    steps = drift + vol * rng.standard_normal(candles)
    closes = start_price * np.exp(np.cumsum(steps))
    opens = np.concatenate(([start_price], closes[:-1]))
    wick_up = np.abs(rng.standard_normal(candles)) * vol * 0.6
    wick_down = np.abs(rng.standard_normal(candles)) * vol * 0.6
    highs = np.maximum(opens, closes) * (1 + wick_up)
    lows = np.minimum(opens, closes) * (1 - wick_down)
    crash = rng.random(candles) < CRASH_PROBABILITY
    depth = rng.uniform(0.06, 0.09, candles)
    lows = np.where(crash, np.minimum(lows, opens * (1 - depth)), lows)
    volumes = rng.lognormal(mean=2.0, sigma=0.7, size=candles)
    fmt = f"{{:.{places}f}}"
    rows = []
    for k in range(candles):
        o, h, lo, c = (Decimal(fmt.format(x)) for x in (opens[k], highs[k], lows[k], closes[k]))
        h, lo = max(h, o, c), min(lo, o, c)  # rounding must not break the bar
        rows.append((start + 60 * k, str(o), str(h), str(lo), str(c), f"{volumes[k]:.6f}"))
    return rows


def generate(out: Path, *, seed: int = DEFAULT_SEED, candles: int = DEFAULT_CANDLES,
             products: tuple[tuple[str, float, int], ...] = DEFAULT_PRODUCTS) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (product_id, price, places) in enumerate(products):
        path = out / f"{product_id}.csv"
        write_csv(path, product_id, product_rows(seed * 100 + k, price, places, candles))
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("var/replay/sample"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--candles", type=int, default=DEFAULT_CANDLES)
    args = parser.parse_args(argv)
    for path in generate(args.out, seed=args.seed, candles=args.candles):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

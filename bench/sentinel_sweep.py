"""Cost of one exit-sentinel sweep over 1,000 open positions (target ≤ 5 ms). Prints JSON.

    .venv/bin/python bench/sentinel_sweep.py [--positions 1000] [--rounds 300]

Three figures:
- `full_sweep_ms`: every position got a new quote since its last evaluation (worst case: the whole
  exit policy and trailing-stop step run for all of them);
- `steady_sweep_ms`: no input changed since the last evaluation (the usual case in a running
  daemon, where ticks already evaluated each position) — only the staleness check runs;
- `tick_eval_us`: one position's evaluation on a ticker update (the hot path).
Wall-clock and thread-CPU figures are both printed, with the load average: on a shared machine the
wall-clock figures include time the process spent waiting for a CPU.
Quotes stay within ±2 % of entry, so no exit fires and nothing is submitted; trailing-stop changes
are queued to the background writer (in memory here; never awaited by the sweep).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.logging import configure_logging
from core.settings import load_settings
from market_data.exit_policy import ExitDecision
from market_data.market_cache import MarketCache
from market_data.ports import ExitSubmission, OpenPosition, SignalView
from market_data.position_monitor import PositionMonitor
from market_data.trailing_stop import TrailingStop
from market_data.trailing_store import TrailingWriter

TARGET_MS = 5.0


@dataclass(frozen=True)
class Pos:
    symbol: str
    size: Decimal
    avg_entry_price: Decimal
    opened_at: datetime | None = None


class Book:
    def __init__(self, positions: list[Pos]) -> None:
        self.items = positions

    def open_positions(self) -> Sequence[Pos]:
        return self.items


class Matrix:
    def __init__(self, symbols: list[str]) -> None:
        now = datetime.now(UTC)
        self.views = {s: SignalView(sell=False, atr=Decimal("1.2"), as_of=now) for s in symbols}

    def signal(self, symbol: str) -> SignalView | None:
        return self.views.get(symbol)


class NoExits:
    async def submit_exit(self, position: OpenPosition, decision: ExitDecision) -> ExitSubmission:
        raise AssertionError(f"no exit expected in this benchmark: {position.symbol} {decision.reason}")


class Quiet:
    async def notify(self, topic: str, message: str) -> None:
        return None


class DiscardRows:
    async def write(self, saves: Sequence[TrailingStop], deletes: Sequence[str]) -> None:
        return None


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def summary(values_s: list[float], scale: float) -> dict[str, float]:
    return {"p50": round(percentile(values_s, 50) * scale, 4), "p99": round(percentile(values_s, 99) * scale, 4),
            "mean": round(statistics.fmean(values_s) * scale, 4), "max": round(max(values_s) * scale, 4)}


async def main(n_positions: int, rounds: int) -> dict[str, object]:
    configure_logging("WARNING", "json")
    rng = random.Random(7)
    settings = load_settings()
    symbols = [f"B{i:04d}-USD" for i in range(n_positions)]
    positions = [Pos(s, Decimal("3"), Decimal("100")) for s in symbols]
    cache = MarketCache()
    monitor = PositionMonitor(settings, cache, Book(positions), Matrix(symbols), NoExits(), Quiet(),
                              writer=TrailingWriter(DiscardRows()))
    prices = [Decimal(98) + Decimal(rng.randrange(0, 400)) / 100 for _ in range(997)]  # 98.00 … 101.99

    def requote() -> None:
        now_mono, now = time.monotonic(), datetime.now(UTC)
        for symbol in symbols:
            cache.update(symbol, prices[rng.randrange(len(prices))], received_mono=now_mono, received_at=now)

    requote()
    monitor.sweep()  # warm-up: creates every trailing stop
    full: list[float] = []
    full_cpu: list[float] = []
    for _ in range(rounds):
        requote()  # not attached: the cache does not evaluate, the sweep must
        started, started_cpu = time.perf_counter(), time.thread_time()
        evaluated = monitor.sweep()
        full.append(time.perf_counter() - started)
        full_cpu.append(time.thread_time() - started_cpu)
        assert evaluated == n_positions, evaluated
    steady: list[float] = []
    steady_cpu: list[float] = []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.thread_time()
        evaluated = monitor.sweep()
        steady.append(time.perf_counter() - started)
        steady_cpu.append(time.thread_time() - started_cpu)
        assert evaluated == 0, evaluated
    monitor.attach()
    ticks: list[float] = []
    now = datetime.now(UTC)
    for i in range(rounds * 10):
        symbol, price = symbols[i % n_positions], prices[rng.randrange(len(prices))]
        started = time.perf_counter()
        cache.update(symbol, price, received_mono=time.monotonic(), received_at=now)
        ticks.append(time.perf_counter() - started)
    full_ms, steady_ms = summary(full, 1e3), summary(steady, 1e3)
    return {
        "bench": "sentinel_sweep", "positions": n_positions, "rounds": rounds, "target_ms": TARGET_MS,
        "full_sweep_ms": full_ms, "steady_sweep_ms": steady_ms, "tick_eval_us": summary(ticks, 1e6),
        # CPU time of the sweeping thread: what the sweep costs, without time lost to other processes.
        "full_sweep_cpu_ms": summary(full_cpu, 1e3), "steady_sweep_cpu_ms": summary(steady_cpu, 1e3),
        "load_average_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
        "full_sweep_meets_target_p50": full_ms["p50"] <= TARGET_MS,
        "steady_sweep_meets_target_p99": steady_ms["p99"] <= TARGET_MS,
        "python": sys.version.split()[0],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.positions, args.rounds)), indent=2))

"""REST round-trip latency (p50/p99) through CoinbaseRestAdapter → coinbase-advanced-py → simulator (HTTPS).

Each call includes the worker-thread hop, JWT signing (ES256), TLS and JSON mapping. The simulator
runs in the same process (loopback). The client-side rate limiter is raised out of the way so it
does not dominate the figure. Prints JSON.

    .venv/bin/python bench/rest_roundtrip.py [--calls 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.enums import Side
from core.logging import configure_logging
from core.settings import TradingMode
from exchange.coinbase.config import CoinbaseConfig
from exchange.coinbase.rest import CoinbaseRestAdapter
from exchange.models import OrderKind, OrderRequest
from simulator.app import SimulatorConfig, start_simulator


def percentile(sorted_ms: list[float], pct: float) -> float:
    index = min(len(sorted_ms) - 1, max(0, round(pct / 100 * len(sorted_ms)) - 1))
    return sorted_ms[index]


async def timed(calls: int, fn: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    await fn()  # warm-up: thread-local client, TLS session
    samples = []
    for _ in range(calls):
        t0 = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {"calls": calls, "p50_ms": round(percentile(samples, 50), 2), "p90_ms": round(percentile(samples, 90), 2),
            "p99_ms": round(percentile(samples, 99), 2), "mean_ms": round(statistics.fmean(samples), 2),
            "max_ms": round(samples[-1], 2)}


async def _order_round_trip(persist: bool, calls: int) -> dict[str, float]:
    """Place a resting limit and cancel it (two acknowledged writes), on a simulator with or without
    its durable books (simulator/store.py)."""
    with tempfile.TemporaryDirectory() as tmp:
        sim = await start_simulator(SimulatorConfig(state_dir=Path(tmp), products=["BTC-USD"], auto_tick=False,
                                                    initial_balances={"USD": Decimal("100000")}, persist=persist,
                                                    history_minutes=60))
        try:
            adapter = _adapter(sim)
            seq = iter(range(10**9))

            async def round_trip() -> None:
                placed = await adapter.create_order(OrderRequest(
                    f"bench-rt-{uuid.uuid4().hex}-{next(seq)}", "BTC-USD", Side.BUY, OrderKind.LIMIT_GTC,
                    base_size=Decimal("0.001"), limit_price=Decimal("1000")))
                assert placed.order_id
                await adapter.cancel_orders([placed.order_id])

            return await timed(calls, round_trip)
        finally:
            await sim.stop()


def _adapter(sim: Any) -> CoinbaseRestAdapter:
    key = sim.create_api_key()
    return CoinbaseRestAdapter(CoinbaseConfig(
        TradingMode.PAPER, sim.rest_host, sim.ws_market_url, sim.ws_user_url, sim.ca_file, key.name,
        key.private_pem, rate_private_per_s=10_000, rate_public_per_s=10_000))


async def run(calls: int) -> dict[str, Any]:
    # Interleaved so that load on a shared machine hits both alike; the in-memory run is the reference.
    memory_a = await _order_round_trip(False, calls // 2)
    durable_a = await _order_round_trip(True, calls // 2)
    durable_b = await _order_round_trip(True, calls // 2)
    memory_b = await _order_round_trip(False, calls // 2)
    with tempfile.TemporaryDirectory() as tmp:
        sim = await start_simulator(SimulatorConfig(state_dir=Path(tmp), products=["BTC-USD"], auto_tick=False,
                                                    initial_balances={"USD": Decimal("100000")}))
        try:
            adapter = _adapter(sim)
            order = await adapter.create_order(OrderRequest("bench-rt-1", "BTC-USD", Side.BUY, OrderKind.LIMIT_GTC,
                                                            base_size=Decimal("0.001"), limit_price=Decimal("1000")))
            assert order.order_id
            order_id = order.order_id
            return {"benchmark": "rest_roundtrip", "transport": "adapter→SDK→HTTPS→simulator (same process)",
                    "order_create_cancel_in_memory": [memory_a, memory_b],
                    "order_create_cancel_durable": [durable_a, durable_b],
                    "durable_vs_memory_p50_ratio": round(
                        (durable_a["p50_ms"] + durable_b["p50_ms"]) / (memory_a["p50_ms"] + memory_b["p50_ms"]), 3),
                    "get_order": await timed(calls, lambda: adapter.get_order(order_id)),
                    "get_best_bid_ask": await timed(calls, lambda: adapter.get_best_bid_ask(["BTC-USD"])),
                    "get_server_time": await timed(calls, adapter.get_server_time),
                    "python": platform.python_version()}
        finally:
            await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    configure_logging("WARNING", "json")
    print(json.dumps(asyncio.run(run(args.calls))))


if __name__ == "__main__":
    main()

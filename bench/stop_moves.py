"""Protective-stop move latency (decision → exchange acknowledged) and unprotected window: in-place
edit vs cancel-and-replace, in one run, through ProtectiveStopManager → CoinbaseRestAdapter → SDK →
simulator (HTTPS, same process).

Two managers run interleaved on two products: one moves its stop with `edit_order`, the other (the
reference) with cancel-and-replace. Latency is the manager's own MoveRecord.latency_s; the
unprotected window is its measured cancel-ack → replacement-accepted time (0 for edits). The
simulator is also checked independently: during edit moves the order never left the book.

    .venv/bin/python bench/stop_moves.py [--moves 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.logging import configure_logging
from core.settings import TradingMode, load_settings
from exchange.coinbase.config import CoinbaseConfig
from exchange.coinbase.rest import CoinbaseRestAdapter
from market_data.protective_stop import ProtectiveStopManager
from market_data.stop_moves import MoveRecord
from simulator.app import SimulatorConfig, start_simulator

EDIT, REPLACE = "BTC-USD", "ETH-USD"


def percentile(sorted_ms: list[float], pct: float) -> float:
    index = min(len(sorted_ms) - 1, max(0, round(pct / 100 * len(sorted_ms)) - 1))
    return sorted_ms[index]


def summary(records: list[MoveRecord]) -> dict[str, Any]:
    latency = sorted(r.latency_s * 1000 for r in records)
    window = sorted(r.unprotected_s * 1000 for r in records)
    return {"moves": len(records),
            "latency_p50_ms": round(percentile(latency, 50), 2), "latency_p99_ms": round(percentile(latency, 99), 2),
            "latency_mean_ms": round(statistics.fmean(latency), 2),
            "unprotected_p50_ms": round(percentile(window, 50), 3),
            "unprotected_p99_ms": round(percentile(window, 99), 3), "unprotected_max_ms": round(window[-1], 3),
            "unprotected_total_ms": round(sum(window), 3)}


async def run(moves: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        sim = await start_simulator(SimulatorConfig(
            state_dir=Path(tmp), products=[EDIT, REPLACE], auto_tick=False,
            initial_prices={EDIT: Decimal("60000"), REPLACE: Decimal("3000")},
            initial_balances={"USD": Decimal("1000"), "BTC": Decimal("1"), "ETH": Decimal("10")}))
        try:
            key = sim.create_api_key()
            adapter = CoinbaseRestAdapter(CoinbaseConfig(
                TradingMode.PAPER, sim.rest_host, sim.ws_market_url, sim.ws_user_url, sim.ca_file, key.name,
                key.private_pem, rate_private_per_s=10_000, rate_public_per_s=10_000))
            settings = load_settings(protective_stop_enabled=True, protective_stop_min_interval_s=0,
                                     protective_stop_min_improvement_pct="0")
            by_edit = ProtectiveStopManager(adapter, settings, use_edits=True)
            by_replace = ProtectiveStopManager(adapter, settings, use_edits=False)
            await by_edit.sync(EDIT, Decimal("0.5"), Decimal("50000"))  # first placements (not timed as moves)
            await by_replace.sync(REPLACE, Decimal("5"), Decimal("2500"))
            first_edit_id = by_edit.order(EDIT).order_id  # type: ignore[union-attr]
            edits: list[MoveRecord] = []
            replaces: list[MoveRecord] = []
            left_book = 0
            for i in range(1, moves + 1):  # interleaved so both see the same machine load
                await by_edit.sync(EDIT, Decimal("0.5"), Decimal(50000 + i))
                edits.append(by_edit.moves.records[-1])
                order = sim.engine.orders[first_edit_id]
                left_book += order.status != "OPEN"
                await by_replace.sync(REPLACE, Decimal("5"), Decimal(2500) + Decimal(i) / 10)
                replaces.append(by_replace.moves.records[-1])
            edited = sim.engine.orders[first_edit_id]
            assert all(r.method == "edit" for r in edits) and all(r.method == "cancel_replace" for r in replaces)
            return {
                "benchmark": "stop_moves",
                "transport": "ProtectiveStopManager→adapter→SDK→HTTPS→simulator (same process)",
                "edit": {**summary(edits), "same_order_id": by_edit.order(EDIT).order_id == first_edit_id,  # type: ignore[union-attr]
                         "edit_history_entries": len(edited.edit_history), "times_order_left_book": left_book},
                "cancel_replace": {**summary(replaces),
                                   "orders_created": sum(1 for o in sim.engine.orders.values()
                                                         if o.product_id == REPLACE)},
                "python": platform.python_version(),
            }
        finally:
            await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=200)
    args = parser.parse_args()
    configure_logging("WARNING", "json")
    print(json.dumps(asyncio.run(run(args.moves))))


if __name__ == "__main__":
    main()

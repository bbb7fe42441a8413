"""Passive market making vs signal entries over the same scripted price paths, in one run. Prints JSON.

    DATABASE_URL=postgresql://… .venv/bin/python bench/passive.py [--ticks 3000] [--seed 11]

Each product replays its own seeded random walk (1 tick = 1 s on the daemon's clock, `--vol` per
tick) on the bundled simulator, through the real SDK, the fill processor and FIFO, each mode on its
own scratch database and simulator:
- passive: the PassiveManager (post-only bid around the mid, each fill protected by a bracket with
  PASSIVE_TAKE_PROFIT_PCT / PASSIVE_STOP_PCT), stepped once per tick;
- signal (the reference): every `--entry-every` ticks when flat, a market buy of the same notional;
  exit by market sell when the price reaches the same take-profit or stop distance from the entry.
Figures per product and overall: round trips, realized P&L and fees per round trip (USD and bps of
the entry notional, from the FIFO allocations), and the passive quotes' refresh cost: quote orders
sent and replaced per hour of path and the wall time of a step that replaced a quote beside a step
that kept it (same run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

PRODUCTS = {"ETH-USD": Decimal("100"), "BTC-USD": Decimal("60000")}
BPS = Decimal(10_000)


def price_path(ticks: int, seed: int, vol: float, start: Decimal) -> list[tuple[Decimal, Decimal]]:
    """(price, traded volume) per tick: a seeded random walk on the 0.01 tick."""
    rng = random.Random(seed)
    price, out = start, []
    for _ in range(ticks):
        price = max(Decimal("1"), price * (1 + Decimal(str(rng.gauss(0.0, vol))))).quantize(Decimal("0.01"))
        out.append((price, Decimal(str(round(rng.uniform(0.01, 0.5), 4)))))
    return out


async def run_mode(mode: str, paths: dict[str, list[tuple[Decimal, Decimal]]], server_url: str,
                   args: argparse.Namespace) -> dict[str, Any]:
    from core.clock import ManualClock, SystemClock
    from core.enums import ExitReason, OrderSource, Side
    from core.settings import TradingMode, load_settings
    from exchange.coinbase.config import CoinbaseConfig
    from exchange.coinbase.rest import CoinbaseRestAdapter
    from fifo_engine.ledger import FifoLedger
    from shared_data import migrate
    from shared_data.db import create_database, create_engine, drop_database, session_factory
    from simulator.app import SimulatorConfig, start_simulator
    from webhook.fill_processor import FillProcessor
    from webhook.fill_recorder import FillRecorder
    from webhook.order_intent import IntentKind, OrderIntent
    from webhook.order_manager import OrderManager
    from webhook.passive.manager import PassiveManager

    name = f"bench_passive_{mode}_{uuid.uuid4().hex[:8]}"
    db_url = await create_database(server_url, name)
    await migrate.upgrade(db_url)
    engine = create_engine(db_url, pool_size=4)
    sim = await start_simulator(SimulatorConfig(
        state_dir=Path(tempfile.mkdtemp(prefix="bench-passive-")), products=list(PRODUCTS), auto_tick=False,
        initial_prices=dict(PRODUCTS), initial_balances={"USD": Decimal("1000000")}))
    step_ms: dict[str, list[float]] = {"replaced": [], "kept": []}
    try:
        sessions = session_factory(engine)
        settings = load_settings(
            passive_products=",".join(PRODUCTS), passive_order_usd=str(args.quote), passive_refresh_s=args.refresh,
            passive_refresh_move_pct=str(args.move_pct), passive_take_profit_pct=str(args.tp),
            passive_stop_pct=str(args.stop), passive_filled_delay_s=args.filled_delay,
            passive_max_inventory_usd=str(args.quote * 4), passive_max_total_usd=str(args.quote * 8),
            passive_atr_spread_mult="0", placement_backoff_base_s=0.01, placement_backoff_max_s=0.05,
            fills_lag_retry_s=5.0)
        key = sim.create_api_key()
        adapter = CoinbaseRestAdapter(CoinbaseConfig(
            mode=TradingMode.PAPER, rest_host=sim.rest_host, ws_market_url=sim.ws_market_url,
            ws_user_url=sim.ws_user_url, ca_file=sim.ca_file, api_key=key.name, api_secret=key.private_pem,
            rest_timeout_s=5.0, rate_private_per_s=500, rate_public_per_s=500))
        clock = ManualClock()
        async with sessions() as session:
            ledger = await FifoLedger.load(session, settings)
        recorder = FillRecorder(sessions, ledger, SystemClock().now)
        fills = FillProcessor(adapter, recorder, fills_lag_retry_s=5.0)
        orders = OrderManager(adapter, sessions, settings, clock)

        async def never() -> bool:
            return False

        async def quiet(_topic: str, _message: str) -> None:
            return None

        manager = PassiveManager(adapter, orders, sessions, settings, clock, settle=fills.process_order,
                                 notify=quiet, breaker_tripped=never,
                                 position_size=lambda s: ledger.position(s).size)
        entries: dict[str, Decimal] = {}
        ticks = len(next(iter(paths.values())))
        for t in range(ticks):
            for symbol, path in paths.items():
                sim.set_price(symbol, *path[t])
            clock.advance(1.0)
            if mode == "passive":
                before = sum(s.replaced for s in manager.states())
                started = time.perf_counter()
                await manager.step()
                elapsed = (time.perf_counter() - started) * 1000
                step_ms["replaced" if sum(s.replaced for s in manager.states()) > before else "kept"].append(elapsed)
            else:
                for symbol, path in paths.items():
                    price = path[t][0]
                    held = ledger.position(symbol).size
                    if held < (await orders.product(symbol)).base_min_size:
                        held = Decimal(0)  # dust is not a position
                    entry = entries.get(symbol)
                    if held == 0 and t % args.entry_every == 0:
                        placed = await orders.place(OrderIntent(symbol, Side.BUY, IntentKind.MARKET,
                                                                OrderSource.SIGHOOK, f"bench:{symbol}:in:{t}",
                                                                quote_size=args.quote))
                        if placed.order_id:
                            await fills.process_order(placed.order_id)
                            entries[symbol] = ledger.position(symbol).avg_entry_price or price
                    elif held > 0 and entry is not None and (
                            price >= entry * (1 + args.tp / 100) or price <= entry * (1 - args.stop / 100)):
                        reason = ExitReason.TAKE_PROFIT if price > entry else ExitReason.HARD_STOP
                        placed = await orders.place(OrderIntent(symbol, Side.SELL, IntentKind.MARKET,
                                                                OrderSource.WEBHOOK, f"bench:{symbol}:out:{t}",
                                                                base_size=held, exit_reason=reason))
                        if placed.order_id:
                            await fills.process_order(placed.order_id)
            if t % 500 == 0:
                print(json.dumps({"progress": mode, "tick": t, "of": ticks}), file=sys.stderr, flush=True)
        async with sessions() as session:
            rows = (await session.execute(text(
                """SELECT symbol, count(DISTINCT sell_order_id), sum(pnl_usd),
                          sum(allocated_size * (buy_fees_per_unit + sell_fees_per_unit)),
                          sum(allocated_size * buy_price)
                   FROM fifo_allocations GROUP BY symbol"""))).all()
            reasons = dict((await session.execute(text(
                "SELECT exit_reason, trades FROM exits_by_reason"))).all())
        per_product: dict[str, Any] = {}
        for symbol, trips, pnl, fees, notional in rows:
            per_product[symbol] = {
                "round_trips": int(trips), "pnl_usd": str(round(pnl, 4)),
                "pnl_per_round_trip_usd": str(round(pnl / trips, 4)),
                "fees_per_round_trip_usd": str(round(fees / trips, 4)),
                "fees_bps_of_entry": float(round(fees / notional * BPS, 2))}
        if mode == "passive":
            for s in manager.states():
                hours = Decimal(ticks) / 3600
                per_product.setdefault(s.symbol, {})["quote_refresh"] = {
                    "quotes_sent": s.placed, "replacements": s.replaced, "rate_limited": s.rate_limited,
                    "quotes_sent_per_hour": float(round(s.placed / hours, 1)),
                    "replacements_per_hour": float(round(s.replaced / hours, 1))}
        return {"per_product": per_product, "exits_by_reason": {k: int(v) for k, v in reasons.items()},
                "step_ms": step_ms}
    finally:
        await sim.stop()
        await engine.dispose()
        await drop_database(server_url, name)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from core.logging import configure_logging
    from core.settings import load_settings

    configure_logging("WARNING", "json")  # stdout carries only the JSON result
    from shared_data.server import database_url

    paths = {symbol: price_path(args.ticks, args.seed + i, args.vol, start)
             for i, (symbol, start) in enumerate(PRODUCTS.items())}
    async with database_url(load_settings()) as url:
        passive = await run_mode("passive", paths, url, args)
        signal = await run_mode("signal", paths, url, args)

    def median(xs: list[float]) -> float | None:
        return round(statistics.median(xs), 2) if xs else None

    ms = passive.pop("step_ms")
    signal.pop("step_ms")
    return {
        "bench": "passive",
        "path": {"ticks": args.ticks, "seed": args.seed, "vol_per_tick": args.vol, "quote_usd": str(args.quote),
                 "take_profit_pct": str(args.tp), "stop_pct": str(args.stop), "refresh_s": args.refresh,
                 "refresh_move_pct": str(args.move_pct), "entry_every": args.entry_every},
        "passive": passive,
        "signal_entry_reference": signal,
        "quote_refresh_step_ms": {"median_step_that_replaced": median(ms["replaced"]),
                                  "median_step_that_kept_reference": median(ms["kept"]),
                                  "steps_replaced": len(ms["replaced"]), "steps_kept": len(ms["kept"])},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--vol", type=float, default=0.001, help="standard deviation of the move per tick")
    parser.add_argument("--quote", type=Decimal, default=Decimal("100"))
    parser.add_argument("--tp", type=Decimal, default=Decimal("1.5"))
    parser.add_argument("--stop", type=Decimal, default=Decimal("2"))
    parser.add_argument("--refresh", type=float, default=30.0)
    parser.add_argument("--move-pct", type=Decimal, default=Decimal("0.2"))
    parser.add_argument("--filled-delay", type=float, default=10.0)
    parser.add_argument("--entry-every", type=int, default=60)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))

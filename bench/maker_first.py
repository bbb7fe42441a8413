"""Maker-first vs all-market execution over one scripted price path, in one run. Prints JSON.

    DATABASE_URL=postgresql://… .venv/bin/python bench/maker_first.py [--ticks 1500] [--seed 7]

Both modes replay the same seeded random-walk path (1 tick = 1 s on the daemon's clock, a public
trade of random size printed at every new price) on the bundled simulator, through the real SDK,
the working-order desk, the fill processor and FIFO, each on its own scratch database. The entry
signals are the same: every `--entry-every` ticks, when flat, buy `--quote` USD; hold `--hold`
ticks after the entry filled, then exit (a signal exit).
- maker-first: post-only entry at the bid (re-priced, TTL), exit resting above the bid (re-priced,
  escalated to market after EXIT_ESCALATE_S);
- all-market: market entry (base units), market exit.
Figures: fees per completed round trip in basis points of the entry notional (from the FIFO
allocations: buy + sell fees per unit), share of post-only entries that filled (any part), median
seconds from entry signal to first fill — each beside the all-market reference from the same run,
and the Intro-tier arithmetic (2 × taker = 240 bps, 2 × maker = 120 bps).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

PRODUCT = "ETH-USD"
BPS = Decimal(10_000)


def scripted_path(ticks: int, seed: int, drift: float = 0.0, start: Decimal = Decimal("100")
                  ) -> list[tuple[Decimal, Decimal]]:
    """(price, traded volume) per tick: a random walk of ~3 bps per step (plus `drift`) on the 0.01 tick."""
    rng = random.Random(seed)
    price, out = start, []
    for _ in range(ticks):
        step = Decimal(str(rng.gauss(drift, 0.0003)))
        price = max(Decimal("1"), price * (1 + step)).quantize(Decimal("0.01"))
        out.append((price, Decimal(str(round(rng.uniform(0.5, 5.0), 4)))))
    return out


@dataclass
class ModeResult:
    mode: str
    entries_signalled: int = 0
    entries_filled: int = 0
    fill_delays_s: list[float] = field(default_factory=list)
    round_trips: int = 0
    fees_bps: float | None = None
    exits_escalated: int = 0
    reprices: int = 0


async def run_mode(mode: str, path: list[tuple[Decimal, Decimal]], server_url: str, args: argparse.Namespace
                   ) -> ModeResult:
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
    from webhook.working_orders.desk import WorkingOrderDesk
    from webhook.working_orders.types import EntryOrderType

    name = f"bench_maker_{mode}_{uuid.uuid4().hex[:8]}"
    db_url = await create_database(server_url, name)
    await migrate.upgrade(db_url)
    engine = create_engine(db_url, pool_size=4)
    sim = await start_simulator(SimulatorConfig(
        state_dir=Path(tempfile.mkdtemp(prefix="bench-maker-")), products=[PRODUCT], auto_tick=False,
        initial_prices={PRODUCT: Decimal("100")}, initial_balances={"USD": Decimal("100000")}))
    result = ModeResult(mode)
    try:
        sessions = session_factory(engine)
        settings = load_settings(entry_order_ttl_s=args.ttl, exit_escalate_s=args.escalate, book_cache_ttl_s=0.5,
                                 placement_backoff_base_s=0.01, placement_backoff_max_s=0.05, fills_lag_retry_s=5.0)
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
        desk = WorkingOrderDesk(adapter, orders, sessions, settings, clock, settle=fills.process_order)
        signal_at: float | None = None
        filled_at: float | None = None
        market_sell: str | None = None
        for t, (price, volume) in enumerate(path):
            sim.set_price(PRODUCT, price, volume)
            clock.advance(1.0)
            await desk.step_all()
            if market_sell is not None:
                await fills.process_order(market_sell)
                market_sell = None
            held = ledger.position(PRODUCT).size
            if signal_at is not None and filled_at is None and held > 0:
                filled_at = clock.monotonic()
                result.entries_filled += 1
                result.fill_delays_s.append(filled_at - signal_at)
            if signal_at is not None and filled_at is None and not desk.working() and held == 0 and mode == "maker":
                signal_at = None  # the post-only entry expired unfilled
            if held == 0 and not desk.working() and t % args.entry_every == 0:
                key = f"bench:{mode}:entry:{t}"
                intent = OrderIntent(PRODUCT, Side.BUY, IntentKind.POST_ONLY, OrderSource.SIGHOOK, key,
                                     quote_size=args.quote)
                kind = EntryOrderType.POST_ONLY if mode == "maker" else EntryOrderType.MARKET
                placed = await desk.start_entry(intent, kind)
                if placed.ok:
                    result.entries_signalled += 1
                    signal_at, filled_at = clock.monotonic(), None
                    if mode == "market":
                        await desk.step_all()
                        if placed.order_id:
                            await fills.process_order(placed.order_id)
                        if ledger.position(PRODUCT).size > 0:  # filled on arrival
                            filled_at = signal_at
                            result.entries_filled += 1
                            result.fill_delays_s.append(0.0)
            elif (held > 0 and filled_at is not None and clock.monotonic() - filled_at >= args.hold
                  and not desk.working()):
                key = f"bench:{mode}:exit:{t}"
                if mode == "maker":
                    entry = ledger.position(PRODUCT).avg_entry_price or price
                    await desk.start_exit(symbol=PRODUCT, size=held, intent_key=key, reason=ExitReason.SIGNAL,
                                          target_price=price, quote_price=price,
                                          hard_stop_price=desk.hard_stop_price(entry), trigger={})
                else:
                    placed = await orders.place(OrderIntent(PRODUCT, Side.SELL, IntentKind.MARKET, OrderSource.WEBHOOK,
                                                            key, base_size=held, exit_reason=ExitReason.SIGNAL))
                    market_sell = placed.order_id
                signal_at = filled_at = None
            if t % 250 == 0:
                print(json.dumps({"progress": mode, "tick": t, "of": len(path)}), file=sys.stderr, flush=True)
        async with sessions() as session:
            row = (await session.execute(text(
                """SELECT count(DISTINCT sell_order_id), sum(allocated_size * (buy_fees_per_unit + sell_fees_per_unit)),
                          sum(allocated_size * buy_price) FROM fifo_allocations"""))).one()
            exits = (await session.execute(text(
                "SELECT count(*) FROM working_orders WHERE purpose = 'exit' AND state IN ('filled', 'partial')"))
            ).scalar_one()
            wo = (await session.execute(text(
                "SELECT count(*) FILTER (WHERE escalated), coalesce(sum(amend_count), 0) FROM working_orders"))).one()
        # A maker exit may be several sell orders (re-priced children): count the exits themselves.
        result.round_trips = int(exits) if mode == "maker" else int(row[0] or 0)
        if row[2]:
            result.fees_bps = float(Decimal(row[1]) / Decimal(row[2]) * BPS)
        result.exits_escalated, result.reprices = int(wo[0]), int(wo[1])
    finally:
        await sim.stop()
        await engine.dispose()
        await drop_database(server_url, name)
    return result


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from core.logging import configure_logging
    from core.settings import load_settings

    configure_logging("WARNING", "json")  # stdout carries only the JSON result
    from shared_data.server import database_url

    path = scripted_path(args.ticks, args.seed, args.drift)
    async with database_url(load_settings()) as url:
        maker = await run_mode("maker", path, url, args)
        market = await run_mode("market", path, url, args)

    def median(xs: list[float]) -> float | None:
        return statistics.median(xs) if xs else None

    return {
        "bench": "maker_first",
        "path": {"ticks": args.ticks, "seed": args.seed, "drift_per_tick": args.drift,
                 "entry_every": args.entry_every, "hold_s": args.hold,
                 "ttl_s": args.ttl, "escalate_s": args.escalate, "quote_usd": str(args.quote)},
        "fees_per_round_trip_bps": {"maker_first": maker.fees_bps, "all_market_reference": market.fees_bps,
                                    "ratio": (maker.fees_bps / market.fees_bps)
                                    if maker.fees_bps and market.fees_bps else None,
                                    "intro_tier_arithmetic": {"two_taker": 240, "two_maker": 120}},
        "round_trips": {"maker_first": maker.round_trips, "all_market_reference": market.round_trips},
        "post_only_entries": {"signalled": maker.entries_signalled, "filled": maker.entries_filled,
                              "share_filled": maker.entries_filled / maker.entries_signalled
                              if maker.entries_signalled else None},
        "median_time_to_fill_s": {"post_only": median(maker.fill_delays_s),
                                  "market_reference": median(market.fill_delays_s)},
        "maker_exits_escalated_to_market": maker.exits_escalated,
        "maker_reprices": maker.reprices,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drift", type=float, default=0.0, help="mean move per tick (0.0002 = a rally)")
    parser.add_argument("--entry-every", type=int, default=60)
    parser.add_argument("--hold", type=float, default=60.0)
    parser.add_argument("--ttl", type=float, default=60.0)
    parser.add_argument("--escalate", type=float, default=30.0)
    parser.add_argument("--quote", type=Decimal, default=Decimal("200"))
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))

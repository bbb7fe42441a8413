"""CLI verbs for the paper account and its database: `paper reset`, `fills retry`, `account adopt`.

    python main.py paper reset [--yes]   wipe the simulator's books AND the database's trading tables together
    python main.py fills retry           record dead-lettered fills once their cause is fixed
    python main.py account adopt [--yes] record the exchange's current account as this database's (live key rotation)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings

# The database's trading state: what `paper reset` empties (the buy_sell_matrix and settings stay).
# Everything that describes the account's trading (its orders, fills, positions and their history).
# Kept: schema, product_rules (exchange facts) and leadership (the epoch must only ever grow).
TRADING_TABLES = ("fifo_allocations", "fills", "passive_orders", "trailing_stop_state", "trade_records", "alerts",
                  "risk_events", "risk_state", "fill_dead_letters", "account_identity", "working_orders",
                  "order_previews", "degraded_mode_state", "degraded_mode_events", "trailing_stop_events",
                  "exit_events")
TRADING_SHARED_KEYS = ("reconcile_cursor",)


def register(sub: Any) -> None:
    paper = sub.add_parser("paper", help="the paper account: `paper reset` starts it and the database afresh")
    paper_sub = paper.add_subparsers(dest="paper_command", required=True, metavar="ACTION")
    reset = paper_sub.add_parser("reset", help="wipe the simulator's state and the database's trading tables "
                                 "together (asks first; --yes for scripts)")
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset.set_defaults(handler=cmd_paper_reset)

    fills = sub.add_parser("fills", help="fills that could not be recorded (dead letters)")
    fills_sub = fills.add_subparsers(dest="fills_command", required=True, metavar="ACTION")
    retry = fills_sub.add_parser("retry", help="record the dead-lettered fills now (after fixing the cause)")
    retry.set_defaults(handler=cmd_fills_retry)

    account = sub.add_parser("account", help="which exchange account this database belongs to")
    account_sub = account.add_subparsers(dest="account_command", required=True, metavar="ACTION")
    adopt = account_sub.add_parser("adopt", help="record the exchange's current account/key as this database's "
                                   "(e.g. after rotating a live API key of the same portfolio)")
    adopt.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    adopt.set_defaults(handler=cmd_account_adopt)


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    from shared_data import migrate
    from shared_data.db import create_engine, session_factory
    from shared_data.server import database_url

    async with database_url(settings) as url:
        await migrate.ensure_at_head(url)
        engine = create_engine(url, pool_size=1, connect_timeout_s=settings.db_connect_timeout_s)
        try:
            yield session_factory(engine)
        finally:
            await engine.dispose()


def _confirm(question: str, assume_yes: bool) -> bool:
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        print("bottrader: not a terminal; pass --yes to confirm", file=sys.stderr)
        return False
    return input(f"{question} Type 'yes' to continue: ").strip().lower() == "yes"


# ---- paper reset ----------------------------------------------------------------------------------
async def _table_counts(session: AsyncSession) -> dict[str, int]:
    counts = {}
    for table in TRADING_TABLES:
        counts[table] = int((await session.execute(text(f"SELECT COUNT(*) FROM {table}"))).scalar_one())
    return counts


async def cmd_paper_reset(settings: Settings, args: argparse.Namespace) -> int:
    from shared_data.migrate import SchemaNotAtHead
    from simulator.store import SimStateStore, StateLocked, remove_state

    if not settings.is_paper:
        print("bottrader: `paper reset` is for TRADING_MODE=paper only; nothing removed", file=sys.stderr)
        return 2
    state_dir = settings.sim_state_dir
    try:
        store = SimStateStore(state_dir)  # holds the state's lock: no simulator may run meanwhile
    except StateLocked:
        print(f"bottrader: a simulator (or `both`) is running on {state_dir}; stop it first. Nothing removed.",
              file=sys.stderr)
        return 3
    try:
        sim_counts = store.counts() if not store.is_new else {}
        try:
            async with _database(settings) as sessions:
                async with sessions() as session:
                    db_counts = await _table_counts(session)
                what = (f"This removes the paper account in {state_dir} "
                        f"({_describe(sim_counts) or 'no books yet'}) and the database's trading tables "
                        f"({_describe(db_counts) or 'already empty'}).")
                print(what)
                if not _confirm("Proceed?", args.yes):
                    print("Nothing removed.")
                    return 1
                async with sessions() as session, session.begin():
                    await session.execute(text(f"TRUNCATE {', '.join(TRADING_TABLES)}"))
                    await session.execute(text("DELETE FROM shared_data WHERE data_type = ANY(:keys)"),
                                          {"keys": list(TRADING_SHARED_KEYS)})
        except SchemaNotAtHead as exc:
            print(f"bottrader: {exc}", file=sys.stderr)
            return 3
    finally:
        store.close()
    removed = remove_state(state_dir)
    print(f"Removed the simulator's books: {', '.join(removed) or 'none were stored'}.")
    print(f"Emptied {len(TRADING_TABLES)} trading tables: "
          + ", ".join(f"{t} ({n} rows)" for t, n in db_counts.items()) + "; the reconcile cursor was cleared.")
    print("The next start opens a fresh paper account and records it as this database's.")
    return 0


def _describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {t}" for t, n in counts.items() if n)


# ---- fills retry ------------------------------------------------------------------------------------
async def cmd_fills_retry(settings: Settings, _args: argparse.Namespace) -> int:
    from collections import defaultdict

    from core.clock import SystemClock
    from core.enums import IngestVia
    from fifo_engine.ledger import FifoLedger
    from shared_data.migrate import SchemaNotAtHead
    from webhook.fill_dead_letters import fill_from_json, order_from_json
    from webhook.fill_recorder import FillRecorder

    try:
        async with _database(settings) as sessions:
            async with sessions() as session:
                rows = (await session.execute(text(
                    "SELECT trade_id, order_id, raw_fill, raw_order FROM fill_dead_letters "
                    "WHERE resolved_at IS NULL ORDER BY first_failed_at, trade_id"))).all()
                if not rows:
                    print("No dead-lettered fills: nothing to retry.")
                    return 0
                ledger = await FifoLedger.load(session, settings)
            recorder = FillRecorder(sessions, ledger, SystemClock().now)  # no dead letters: errors surface here
            by_order: dict[str, list[Any]] = defaultdict(list)
            for row in rows:
                by_order[row.order_id].append(row)
            recorded = failed = 0
            for order_id, order_rows in by_order.items():
                order = order_from_json(order_rows[-1].raw_order)
                fills = [fill_from_json(r.raw_fill) for r in order_rows]
                try:
                    new = await recorder.record(order, fills, via=IngestVia.REST)
                except Exception as exc:
                    failed += len(fills)
                    print(f"order {order_id}: still failing: {type(exc).__name__}: {exc}"[:500])
                    async with sessions() as session, session.begin():
                        await session.execute(text(
                            "UPDATE fill_dead_letters SET attempts = attempts + 1, last_failed_at = now(), "
                            "error = :error WHERE trade_id = ANY(:ids)"),
                            {"error": f"{type(exc).__name__}: {exc}"[:2000], "ids": [r.trade_id for r in order_rows]})
                    continue
                async with sessions() as session, session.begin():
                    await session.execute(text(
                        "UPDATE fill_dead_letters SET resolved_at = now(), resolved_via = 'fills retry' "
                        "WHERE trade_id = ANY(:ids)"), {"ids": [r.trade_id for r in order_rows]})
                recorded += len(fills)
                print(f"order {order_id} ({order.product_id}): {len(fills)} fill(s) recorded "
                      f"({new} new, {len(fills) - new} were already stored)")
    except SchemaNotAtHead as exc:
        print(f"bottrader: {exc}", file=sys.stderr)
        return 3
    print(f"{recorded} fill(s) recorded, {failed} still failing."
          + (" A running daemon lifts the halt within seconds." if recorded and not failed else ""))
    return 0 if failed == 0 else 1


# ---- account adopt ----------------------------------------------------------------------------------
async def cmd_account_adopt(settings: Settings, args: argparse.Namespace) -> int:
    from webhook.account_check import identify, record_identity, stored_identity
    from webhook.exchange_runtime import open_exchange

    exchange = await open_exchange(settings)
    try:
        current = await identify(settings, exchange.rest, exchange.config.api_key)
    finally:
        await exchange.close()
    async with _database(settings) as sessions:
        async with sessions() as session:
            stored = await stored_identity(session)
        print(f"This database belongs to: {stored.describe() if stored else 'no account yet'}")
        print(f"The exchange is:          {current.describe()}")
        if stored == current:
            print("They agree; nothing to do.")
            return 0
        if not _confirm("Record the exchange's account as this database's?", args.yes):
            print("Nothing changed.")
            return 1
        async with sessions() as session, session.begin():
            await record_identity(session, current)
    print("Recorded.")
    return 0

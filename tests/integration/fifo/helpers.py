"""Database helpers shared by the FIFO integration tests."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.enums import IngestVia, Side
from fifo_engine.ledger import FifoLedger
from fifo_engine.model import ALLOCATION_COLUMNS, Allocation, FillFact
from shared_data.trade_recorder import insert_fills
from tests.unit.fifo.factories import T0

Sessions = async_sessionmaker[AsyncSession]
DERIVED = ("pnl_usd", "realized_profit", "cost_basis_usd", "sale_proceeds_usd", "net_sale_proceeds_usd",
           "parent_id", "parent_ids", "remaining_size")


async def wipe(sessions: Sessions) -> None:
    async with sessions() as s, s.begin():
        await s.execute(text("TRUNCATE fills, fifo_allocations, trade_records"))


async def add_orders(sessions: Sessions, fills: Iterable[FillFact]) -> None:
    """One trade_records row per order of `fills` (what the order manager writes in production)."""
    orders = {f.order_id: f for f in fills}
    async with sessions() as s, s.begin():
        for order_id, f in orders.items():
            await s.execute(text(
                "INSERT INTO trade_records (order_id, symbol, side, order_type, status, source, ingest_via) "
                "VALUES (:o, :sym, :side, 'LIMIT', 'FILLED', 'webhook', 'rest')"), {"o": order_id, "sym": f.symbol,
                                                                                   "side": f.side.value})


async def record(sessions: Sessions, ledger: FifoLedger, fills: Sequence[FillFact]) -> list[Allocation]:
    """The real-time path: insert the fills and apply FIFO in one transaction."""
    async with sessions() as s, s.begin():
        new = await insert_fills(s, fills, IngestVia.REST)
        return await ledger.apply_fills(s, new)


async def allocation_texts(sessions: Sessions) -> list[str]:
    """Every allocation row as PostgreSQL prints it (byte-identity), without id and created_at."""
    cols = ", ".join(ALLOCATION_COLUMNS)
    async with sessions() as s:
        rows = await s.execute(text(
            f"SELECT ROW({cols})::text FROM fifo_allocations ORDER BY sell_trade_id COLLATE \"C\", slice_index"))
        return [r[0] for r in rows]


async def derived_texts(sessions: Sessions) -> list[str]:
    cols = ", ".join(DERIVED)
    async with sessions() as s:
        rows = await s.execute(text(f"SELECT order_id || ' ' || ROW({cols})::text FROM trade_records "
                                    "ORDER BY order_id COLLATE \"C\""))
        return [r[0] for r in rows]


async def table_texts(sessions: Sessions) -> dict[str, list[str]]:
    """Whole tables as text, to prove that something changed nothing."""
    out = {}
    async with sessions() as s:
        for table, key in (("fills", "trade_id"), ("fifo_allocations", "id"), ("trade_records", "order_id")):
            rows = await s.execute(text(f"SELECT t::text FROM {table} t ORDER BY {key}"))
            out[table] = [r[0] for r in rows]
    return out


def random_fills(seed: int, n: int, symbols: Sequence[str] = ("AAA-USD", "BBB-USD", "CCC-USD")) -> list[FillFact]:
    """A realistic mix: buys and sells in several orders, partial fills, ties on trade_time,
    fees with non-terminating per-unit values, occasional sells beyond inventory."""
    rnd = random.Random(seed)
    fills = []
    order_no = 0
    open_order: dict[tuple[str, str], tuple[str, int, str]] = {}
    for i in range(n):
        symbol = rnd.choice(symbols)
        side = Side.SELL if rnd.random() < 0.4 else Side.BUY
        key = (symbol, side.value)
        current = open_order.get(key)
        if current is None or current[1] <= 0:  # a new order with 1–3 fills
            order_no += 1
            current = (f"ord-{order_no:05d}", rnd.randint(1, 3), "default" if rnd.random() < 0.8 else "p2")
        open_order[key] = (current[0], current[1] - 1, current[2])
        fills.append(FillFact(
            trade_id=f"tr-{rnd.getrandbits(40):010x}-{i}",
            order_id=current[0],
            symbol=symbol,
            side=side,
            price=Decimal(rnd.randint(100, 9_000_000)) / 100,
            size=Decimal(rnd.randint(1, 90_000)) / 10_000,
            commission=Decimal(rnd.randint(0, 999)) / 100,
            trade_time=T0 + timedelta(seconds=rnd.randint(0, n // 3) * 10),
            sequence_timestamp=None if rnd.random() < 0.5 else T0 + timedelta(seconds=i),
            portfolio_id=current[2],
        ))
    return fills

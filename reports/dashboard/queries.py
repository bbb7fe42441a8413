"""The dashboard's database reads: recent orders and fills, realized P&L by day. Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared_data.models import FifoAllocation, Fill, TradeRecord


@dataclass(frozen=True)
class OrderRow:
    order_id: str
    order_time: datetime
    symbol: str
    side: str
    order_type: str
    status: str
    size: Decimal | None
    filled_size: Decimal
    average_filled_price: Decimal | None
    total_fees_usd: Decimal
    exit_reason: str | None
    source: str
    pnl_usd: Decimal | None
    quote_size: Decimal | None = None  # quote-sized (USD) buys: what was asked for


@dataclass(frozen=True)
class FillRow:
    trade_id: str
    order_id: str
    trade_time: datetime
    symbol: str
    side: str
    price: Decimal
    size: Decimal
    commission: Decimal
    liquidity_indicator: str | None


@dataclass(frozen=True)
class DayPnl:
    day: date
    sells: int
    pnl_usd: Decimal


async def recent_orders(session: AsyncSession, limit: int) -> list[OrderRow]:
    t = TradeRecord
    stmt = select(t).order_by(t.order_time.desc(), t.order_id).limit(limit)
    return [
        OrderRow(r.order_id, r.order_time, r.symbol, r.side, r.order_type, r.status, r.size, r.filled_size,
                 r.average_filled_price, r.total_fees_usd, r.exit_reason, r.source, r.pnl_usd, r.quote_size)
        for r in await session.scalars(stmt)
    ]


async def recent_fills(session: AsyncSession, limit: int) -> list[FillRow]:
    f = Fill
    stmt = select(f).order_by(f.trade_time.desc(), f.trade_id).limit(limit)
    return [
        FillRow(r.trade_id, r.order_id, r.trade_time, r.symbol, r.side, r.price, r.size, r.commission,
                r.liquidity_indicator)
        for r in await session.scalars(stmt)
    ]


async def pnl_by_day(session: AsyncSession, timezone: str, since: datetime) -> list[DayPnl]:
    """Realized P&L per trade date (in `timezone`) of the allocations sold at or after `since`."""
    a = FifoAllocation
    day = cast(func.timezone(timezone, a.sell_time), Date).label("day")
    stmt = (
        select(day, func.count(func.distinct(a.sell_order_id)), func.sum(a.pnl_usd))
        .where(a.sell_time >= since)
        .group_by(day)
        .order_by(day)
    )
    return [DayPnl(d, int(n), pnl) for d, n, pnl in (await session.execute(stmt)).all()]

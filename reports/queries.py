"""Database reads for the reports: allocation rows, realized trades, open lots. Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.enums import HoldingTerm, Side
from core.money import ZERO
from reports.performance import TradeOutcome
from reports.tax import AllocationRow
from shared_data.models import FifoAllocation, Fill, TradeRecord


async def load_allocation_rows(
    session: AsyncSession, start: datetime | None = None, end: datetime | None = None
) -> list[AllocationRow]:
    """Allocation rows with `start <= sell_time < end` (either bound optional)."""
    a = FifoAllocation
    stmt = select(a).order_by(a.sell_time, a.sell_order_id, a.slice_index)
    if start is not None:
        stmt = stmt.where(a.sell_time >= start)
    if end is not None:
        stmt = stmt.where(a.sell_time < end)
    result = await session.scalars(stmt)
    return [
        AllocationRow(
            symbol=r.symbol,
            sell_order_id=r.sell_order_id,
            buy_order_id=r.buy_order_id,
            allocated_size=r.allocated_size,
            cost_basis_usd=r.cost_basis_usd,
            proceeds_usd=r.proceeds_usd,
            net_proceeds_usd=r.net_proceeds_usd,
            pnl_usd=r.pnl_usd,
            buy_time=r.buy_time,
            sell_time=r.sell_time,
            holding_term=HoldingTerm(r.holding_term),
            missing_basis=r.missing_basis,
        )
        for r in result
    ]


def _trades_statement(since: datetime | None) -> Select[tuple[object, ...]]:
    """Sell orders with their FIFO sums; sells known only from trade_records.pnl_usd count too."""
    a = FifoAllocation
    sums = (
        select(
            a.sell_order_id.label("sell_order_id"),
            func.min(a.symbol).label("symbol"),
            func.sum(a.pnl_usd).label("pnl"),
            func.sum(a.allocated_size * (a.buy_fees_per_unit + a.sell_fees_per_unit)).label("fees"),
            func.sum(a.cost_basis_usd).label("basis"),
            func.sum(a.allocated_size).label("size"),
            func.sum(a.allocated_size * a.buy_price).label("buy_notional"),
            func.sum(a.allocated_size * a.sell_price).label("sell_notional"),
            func.max(a.sell_time).label("exit_time"),
            func.bool_or(a.missing_basis).label("missing_basis"),
        )
        .group_by(a.sell_order_id)
        .subquery("alloc")
    )
    sells = select(TradeRecord).where(TradeRecord.side == Side.SELL.value).subquery("sells")
    stmt = (
        select(
            func.coalesce(sums.c.sell_order_id, sells.c.order_id).label("sell_order_id"),
            func.coalesce(sums.c.symbol, sells.c.symbol).label("symbol"),
            sells.c.exit_reason,
            func.coalesce(sums.c.exit_time, sells.c.order_time).label("exit_time"),
            func.coalesce(sums.c.pnl, sells.c.pnl_usd).label("pnl"),
            func.coalesce(sums.c.fees, sells.c.total_fees_usd, literal(ZERO)).label("fees"),
            func.coalesce(sums.c.basis, sells.c.cost_basis_usd).label("basis"),
            sums.c.size,
            sums.c.buy_notional,
            sums.c.sell_notional,
            sells.c.average_filled_price,
            sells.c.exit_target_price,
            func.coalesce(sums.c.missing_basis, False).label("missing_basis"),
        )
        .select_from(sums.join(sells, sells.c.order_id == sums.c.sell_order_id, full=True))
        .where(or_(sums.c.sell_order_id.is_not(None), sells.c.pnl_usd.is_not(None)))
    )
    if since is not None:
        stmt = stmt.where(func.coalesce(sums.c.exit_time, sells.c.order_time) >= since)
    return stmt


async def load_trade_outcomes(session: AsyncSession, since: datetime | None = None) -> list[TradeOutcome]:
    rows = (await session.execute(_trades_statement(since))).all()
    out = []
    for r in rows:
        size: Decimal | None = r.size
        entry = r.buy_notional / size if size else None
        exit_price = r.sell_notional / size if size else r.average_filled_price
        out.append(
            TradeOutcome(
                sell_order_id=r.sell_order_id,
                symbol=r.symbol,
                exit_reason=r.exit_reason,
                exit_time=r.exit_time,
                pnl_usd=r.pnl,
                fees_usd=r.fees,
                cost_basis_usd=r.basis,
                entry_price=entry,
                exit_price=exit_price,
                exit_target_price=r.exit_target_price,
                missing_basis=bool(r.missing_basis),
            )
        )
    out.sort(key=lambda t: (t.exit_time, t.sell_order_id))
    return out


@dataclass(frozen=True)
class OpenLot:
    """What remains of one buy fill after the FIFO allocations that consumed it."""

    portfolio_id: str
    symbol: str
    buy_trade_id: str
    buy_order_id: str
    buy_time: datetime
    price: Decimal
    size: Decimal
    remaining_size: Decimal
    remaining_basis_usd: Decimal  # lot cost (size × price + fee) minus the basis already allocated


@dataclass(frozen=True)
class OpenPosition:
    symbol: str
    size: Decimal
    entry_price: Decimal  # size-weighted buy price of the open lots (fees excluded)
    cost_basis_usd: Decimal  # fees included
    opened_at: datetime  # the oldest open lot


async def load_open_lots(session: AsyncSession, symbol: str | None = None) -> list[OpenLot]:
    a = FifoAllocation
    used = (
        select(
            a.buy_trade_id.label("buy_trade_id"),
            func.sum(a.allocated_size).label("size"),
            func.sum(a.cost_basis_usd).label("basis"),
        )
        .where(a.buy_trade_id.is_not(None))
        .group_by(a.buy_trade_id)
        .subquery("used")
    )
    remaining = Fill.size - func.coalesce(used.c.size, 0)
    stmt = (
        select(Fill, remaining.label("remaining"),
               (Fill.size * Fill.price + Fill.commission - func.coalesce(used.c.basis, 0)).label("basis"))
        .outerjoin(used, used.c.buy_trade_id == Fill.trade_id)
        .where(and_(Fill.side == Side.BUY.value, remaining > 0))
        .order_by(Fill.symbol, Fill.trade_time, Fill.trade_id)
    )
    if symbol is not None:
        stmt = stmt.where(Fill.symbol == symbol)
    rows = (await session.execute(stmt)).all()
    return [
        OpenLot(
            portfolio_id=f.portfolio_id, symbol=f.symbol, buy_trade_id=f.trade_id, buy_order_id=f.order_id,
            buy_time=f.trade_time, price=f.price, size=f.size, remaining_size=rem, remaining_basis_usd=basis,
        )
        for f, rem, basis in rows
    ]


def open_positions(lots: list[OpenLot]) -> list[OpenPosition]:
    """One position per symbol from its open lots (pure)."""
    by_symbol: dict[str, list[OpenLot]] = {}
    for lot in lots:
        by_symbol.setdefault(lot.symbol, []).append(lot)
    out = []
    for symbol, group in sorted(by_symbol.items()):
        size = sum((lot.remaining_size for lot in group), ZERO)
        out.append(
            OpenPosition(
                symbol=symbol,
                size=size,
                entry_price=sum((lot.remaining_size * lot.price for lot in group), ZERO) / size,
                cost_basis_usd=sum((lot.remaining_basis_usd for lot in group), ZERO),
                opened_at=min(lot.buy_time for lot in group),
            )
        )
    return out

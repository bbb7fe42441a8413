"""Writes scripted histories into a test database the way the daemon does: fills, one trade_records
row per order (exit reason and target on exits, FIFO P&L on sells) and the fifo_allocations rows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.enums import Side
from shared_data.db import unit_of_work
from shared_data.models import FifoAllocation, Fill, TradeRecord
from tests.unit.reports import session as perf_session
from tests.unit.reports.vectors import TV2_FILLS, TV2_SLICES, F, Slice, boundary_fills, boundary_slices, tv1_slices

Reasons = dict[str, tuple[str | None, Decimal | None]]


async def write_history(sessions: async_sessionmaker[AsyncSession], fills: list[F], slices: list[Slice],
                        exit_reasons: Reasons | None = None) -> None:
    pnl: dict[str, Decimal] = defaultdict(Decimal)
    for sl in slices:
        pnl[sl.sell_order_id] += sl.pnl_usd
    reasons = exit_reasons or {}
    async with unit_of_work(sessions) as s:
        for f in fills:
            s.add(Fill(trade_id=f.trade_id, order_id=f.order_id, symbol=f.symbol, side=f.side.value, price=f.price,
                       size=f.size, commission=f.commission, trade_time=f.trade_time, ingest_via="rest",
                       liquidity_indicator="TAKER"))
            reason, target = reasons.get(f.order_id, (None, None))
            s.add(TradeRecord(
                order_id=f.order_id, client_order_id=f"coid-{f.order_id}", symbol=f.symbol, side=f.side.value,
                order_type="MARKET", status="FILLED", size=f.size, filled_size=f.size, average_filled_price=f.price,
                total_fees_usd=f.commission, exit_reason=reason, exit_target_price=target,
                exit_quote_price=target, source="webhook", ingest_via="rest",
                order_time=f.trade_time - timedelta(seconds=1),
                pnl_usd=pnl.get(f.order_id) if f.side is Side.SELL else None,
            ))
        await s.flush()
        for sl in slices:
            s.add(FifoAllocation(**asdict(sl)))


async def write_tv1(sessions: async_sessionmaker[AsyncSession]) -> None:
    """TV-1 is a stock case from 2014/15: only its allocation rows are stored (no fills)."""
    async with unit_of_work(sessions) as s:
        for sl in tv1_slices():
            s.add(FifoAllocation(**asdict(sl)))


async def write_all(sessions: async_sessionmaker[AsyncSession]) -> None:
    """TV-2 (ABC-USD), TV-1 (XYZ/TUV/QRS), the one-year boundary (ETH-USD), the scripted session (BTC-USD)."""
    await write_history(sessions, TV2_FILLS, TV2_SLICES)
    await write_tv1(sessions)
    await write_history(sessions, boundary_fills(), boundary_slices())
    await write_history(sessions, perf_session.session_fills(), perf_session.session_slices(),
                        perf_session.exit_reasons())

"""sighook's entry blockers, read from webhook's tables in one statement: every kind of row that blocks
an entry is found, and the rows that do not block are not."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from decimal import Decimal as D
from typing import Any

from sqlalchemy import and_, case, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.enums import TERMINAL_STATUSES
from shared_data import direct
from shared_data.db import read_session, unit_of_work
from shared_data.models import Alert, Fill, PassiveOrder, RiskState, TradeRecord
from sighook.entry_alerts import _BLOCKERS, EntryBlockers, read_blockers
from tests.integration.sighook.support import clear_tables


def _fill(trade_id: str, symbol: str, side: str, size: str) -> Fill:
    return Fill(trade_id=trade_id, order_id=f"o-{trade_id}", symbol=symbol, side=side, price=Decimal(100),
                size=Decimal(size), commission=Decimal("0.1"), trade_time=datetime.now(UTC), ingest_via="rest")


def _record(order_id: str, symbol: str, side: str, status: str) -> TradeRecord:
    return TradeRecord(order_id=order_id, symbol=symbol, side=side, order_type="LIMIT", status=status,
                       source="sighook", ingest_via="rest")


def _alert(key: str, symbol: str, action: str, status: str) -> Alert:
    return Alert(dedup_key=key, source="sighook", symbol=symbol, action=action, status=status)


async def test_blockers_find_breakers_positions_and_open_buys(db_sessions: async_sessionmaker[AsyncSession]) -> None:
    await clear_tables(db_sessions)
    assert await read_blockers(db_sessions) == EntryBlockers()
    async with unit_of_work(db_sessions) as s:
        s.add_all([
            RiskState(breaker="losing_streak", tripped=True, reason="test"),
            RiskState(breaker="daily_loss", tripped=True, reason="test"),
            RiskState(breaker="kill_switch", tripped=False),
            _fill("t1", "HELD-USD", "BUY", "0.5"),
            _fill("t2", "SOLD-USD", "BUY", "0.5"), _fill("t3", "SOLD-USD", "SELL", "0.5"),
            PassiveOrder(order_id="p1", symbol="PASSIVE-USD", side="BUY", order_type="LIMIT", status="OPEN"),
            PassiveOrder(order_id="p2", symbol="PASSIVE-SELL-USD", side="SELL", order_type="LIMIT", status="OPEN"),
            PassiveOrder(order_id="p3", symbol="PASSIVE-DONE-USD", side="BUY", order_type="LIMIT", status="FILLED"),
            _record("r1", "RECORDED-USD", "BUY", "OPEN"), _record("r2", "FILLED-USD", "BUY", "FILLED"),
            _record("r3", "SELLING-USD", "SELL", "OPEN"),
            _alert("a1", "ALERTED-USD", "buy", "accepted"), _alert("a2", "DONE-USD", "buy", "ordered"),
            _alert("a3", "SELL-ALERT-USD", "sell", "accepted"),
        ])
    expected = EntryBlockers(tripped_breakers=("daily_loss", "losing_streak"), positions=frozenset({"HELD-USD"}),
                             open_buys=frozenset({"PASSIVE-USD", "RECORDED-USD", "ALERTED-USD"}))
    assert await read_blockers(db_sessions) == expected
    await clear_tables(db_sessions)


def _orm_query() -> Any:
    """The statement as SQLAlchemy built it before it was written for the driver: the reference it must match."""
    net = func.sum(case((Fill.side == "BUY", Fill.size), else_=-Fill.size))
    terminal = [s.value for s in TERMINAL_STATUSES]
    return union_all(
        select(literal("breaker"), RiskState.breaker, func.row_number().over(order_by=RiskState.breaker))
        .where(RiskState.tripped.is_(True)),
        select(literal("position"), Fill.symbol, literal(0)).group_by(Fill.symbol)
        .having(func.bt_is_position(Fill.symbol, net)),
        select(literal("open_buy"), PassiveOrder.symbol, literal(0))
        .where(and_(PassiveOrder.side == "BUY", PassiveOrder.status.not_in(terminal))),
        select(literal("open_buy"), TradeRecord.symbol, literal(0))
        .where(and_(TradeRecord.side == "BUY", TradeRecord.status.not_in(terminal))),
        select(literal("open_buy"), Alert.symbol, literal(0))
        .where(and_(Alert.action == "buy", Alert.status == "accepted", Alert.symbol.is_not(None))),
    )


async def test_the_driver_statement_returns_the_orm_statements_rows(db_sessions: async_sessionmaker[AsyncSession]
                                                                     ) -> None:
    await clear_tables(db_sessions)
    statuses = ["NEW", "PENDING", "OPEN", "FILLED", "CANCELLED", "EXPIRED", "FAILED", "REJECTED", "QUEUED"]
    async with unit_of_work(db_sessions) as s:
        s.add_all([RiskState(breaker=b, tripped=t, reason="r")
                   for b, t in (("losing_streak", True), ("Kill_switch", True), ("daily_loss", True), ("zz", False))])
        s.add_all([_fill(f"f{i}", f"P{i % 5}-USD", "BUY" if i % 3 else "SELL", str(D("0.1") * (1 + i % 4)))
                   for i in range(30)])
        s.add_all([PassiveOrder(order_id=f"p{i}", symbol=f"Q{i % 4}-USD", side="BUY" if i % 2 else "SELL",
                                order_type="LIMIT", status=statuses[i % len(statuses)]) for i in range(20)])
        s.add_all([_record(f"r{i}", f"R{i % 6}-USD", "BUY" if i % 3 else "SELL", statuses[i % len(statuses)])
                   for i in range(25)])
        s.add_all([_alert(f"a{i}", f"A{i % 3}-USD", "buy" if i % 2 else "sell", ["accepted", "ordered"][i % 2])
                   for i in range(8)])
        s.add(Alert(dedup_key="nosym", source="sighook", symbol=None, action="buy", status="accepted"))
    async with read_session(db_sessions) as session:
        reference = sorted(tuple(r) for r in (await session.execute(_orm_query())).all())
    rows = sorted(tuple(r) for r in await direct.fetch(db_sessions, _BLOCKERS))
    assert rows == reference and len({r[0] for r in rows}) == 3
    await clear_tables(db_sessions)

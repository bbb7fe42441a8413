"""sighook's entry blockers, read from webhook's tables in one statement: every kind of row that blocks
an entry is found, and the rows that do not block are not."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared_data.db import read_session, unit_of_work
from shared_data.models import Alert, Fill, PassiveOrder, RiskState, TradeRecord
from sighook.entry_alerts import EntryBlockers, load_blockers, read_blockers
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
    async with db_sessions() as session:
        assert await load_blockers(session) == EntryBlockers()
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
    # Every way the statement is sent: standing alone on a pooled driver (as the planner reads), on a
    # session's driver in autocommit, and through SQLAlchemy's driver-level execute (BEGIN still pending).
    assert await read_blockers(db_sessions) == expected
    async with read_session(db_sessions) as session:
        assert await load_blockers(session) == expected
    async with db_sessions() as session:
        assert await load_blockers(session) == expected
    await clear_tables(db_sessions)

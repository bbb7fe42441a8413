"""The position book counts a finished exit's realized P&L for the breakers, read from trade_records: a
plain sell by its order id, a working exit as the sum of its children (as the desk read it, or read here)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal as D

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import ManualClock
from core.enums import OrderStatus, Side
from core.settings import load_settings
from exchange.models import Order
from fifo_engine.engine import FifoBook
from fifo_engine.ledger import FifoLedger
from risk.manager import RiskManager
from shared_data import direct
from webhook.positions import PositionBook

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


class Notes:
    def __init__(self) -> None:
        self.finished: list[str | None] = []

    def exit_finished(self, symbol: str, *, filled: bool, order_id: str | None = None) -> None:
        self.finished.append(order_id)


def _sell(order_id: str) -> Order:
    return Order(order_id=order_id, client_order_id=f"c-{order_id}", product_id="SOL-USD", side=Side.SELL,
                 status=OrderStatus.FILLED, kind=None, order_type="MARKET", base_size=D(1), quote_size=None,
                 limit_price=None, stop_price=None, filled_size=D(1), average_filled_price=D(10), filled_value=D(10),
                 total_fees=D(0), number_of_fills=1, created_time=T0)


async def _settled(book: PositionBook, risk: RiskManager, losses: int) -> D:
    for _ in range(1000):  # bounded by tries, not by wall-clock time
        counters = (await risk.state()).counters
        if counters.consecutive_losses >= losses:
            return counters.realized_pnl_usd
        await asyncio.sleep(0.01)
    raise AssertionError("the exit's P&L was never counted")


async def test_exit_pnl_is_counted_by_order_id_and_by_working_order(db_sessions: async_sessionmaker[AsyncSession],
                                                                    ) -> None:
    await direct.execute(db_sessions, "TRUNCATE trade_records, risk_state, risk_events")
    rows = [("s-1", None, D("-7.5")), ("c-1", "w-1", D("-3")), ("c-2", "w-1", D("-1.25")), ("c-3", "w-2", D("99"))]
    for order_id, working, pnl in rows:
        await direct.execute(
            db_sessions, "INSERT INTO trade_records (order_id, symbol, side, order_type, status, source, ingest_via,"
            " working_order_id, pnl_usd) VALUES ($1, 'SOL-USD', 'SELL', 'MARKET', 'FILLED', 'webhook', 'rest', $2, $3)",
            order_id, working, pnl)
    risk = RiskManager(db_sessions, load_settings(max_consecutive_losses=1000), clock=ManualClock(T0))
    book = PositionBook(FifoLedger(FifoBook()), clock=ManualClock(T0))
    notes = Notes()
    book.exit_watcher(notes, risk, db_sessions)(_sell("s-1"), 1)
    assert await _settled(book, risk, 1) == D("-7.5") and notes.finished == ["s-1"]
    book.working_exit_counter(risk, db_sessions)("w-1")
    assert await _settled(book, risk, 2) == D("-11.75")
    # The sum as the desk's final save read it is counted as given (w-2's rows say otherwise).
    book.working_exit_counter(risk, db_sessions)("w-2", D("-0.25"))
    assert await _settled(book, risk, 3) == D("-12")

"""The position book's list (what the exit sentinel guards) follows the ledger when a fill's transaction
rolls back: the sentinel reads the list on every tick, also while a fill is staged and its transaction
waits on the database, and a list built from that stage must not outlive it. Here a sell that closes the
position fails in the database after its fills were staged; the sentinel read the list meanwhile (no
position). After the rollback the position is held again, and the list says so."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.enums import IngestVia, OrderStatus, Side
from core.settings import load_settings
from exchange.models import Fill, Order
from fifo_engine.ledger import FifoLedger
from shared_data import direct
from webhook.fill_recorder import FillRecorder
from webhook.positions import PositionBook

Sessions = async_sessionmaker[AsyncSession]
SYMBOL = "RBK-USD"
T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)

# Holds the sell's allocation insert long enough for the test to read the list mid-transaction, then fails it.
FAILING_TRIGGER = """
CREATE OR REPLACE FUNCTION test_fail_allocations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(0.5);
    RAISE EXCEPTION 'test: allocation insert refused';
END $$;
CREATE TRIGGER test_fail_allocations BEFORE INSERT ON fifo_allocations
    FOR EACH STATEMENT EXECUTE FUNCTION test_fail_allocations();
"""


def _order(order_id: str, side: Side) -> Order:
    return Order(order_id=order_id, client_order_id=f"c-{order_id}", product_id=SYMBOL, side=side,
                 status=OrderStatus.FILLED, kind=None, order_type="MARKET", base_size=D("2"), quote_size=None,
                 limit_price=None, stop_price=None, filled_size=D("2"), average_filled_price=D("10"),
                 filled_value=D("20"), total_fees=D("0.02"), number_of_fills=1, created_time=T0)


def _fill(trade_id: str, order_id: str, side: Side, at: datetime) -> Fill:
    return Fill(trade_id=trade_id, order_id=order_id, product_id=SYMBOL, side=side, price=D("10"), size=D("2"),
                commission=D("0.02"), trade_time=at)


@pytest.fixture
async def sessions(db_sessions: Sessions) -> AsyncIterator[Sessions]:
    await direct.execute(db_sessions, "TRUNCATE fills, fifo_allocations, trade_records, passive_orders")
    try:
        yield db_sessions
    finally:
        await direct.execute(db_sessions, "DROP TRIGGER IF EXISTS test_fail_allocations ON fifo_allocations")


async def test_a_rolled_back_sell_gives_the_position_back_to_the_list(sessions: Sessions) -> None:
    async with sessions() as s:
        ledger = await FifoLedger.load(s, load_settings())
    recorder = FillRecorder(sessions, ledger, lambda: T0)
    book = PositionBook(ledger)
    recorder.on_order_recorded(lambda _order, new: book.invalidate() if new else None)  # as the daemon wires it
    assert await recorder.record(_order("buy-1", Side.BUY), [_fill("t-buy", "buy-1", Side.BUY, T0)],
                                 via=IngestVia.REST) == 1
    # The buy's commit emptied the list's cache (its listener): the next read builds it, as a tick would.
    assert ledger.position(SYMBOL).size == D("2")

    await direct.execute(sessions, FAILING_TRIGGER)  # no arguments: both statements in one simple query
    sell = asyncio.create_task(recorder.record(_order("sell-1", Side.SELL),
                                               [_fill("t-sell", "sell-1", Side.SELL, T0 + timedelta(minutes=5))],
                                               via=IngestVia.REST))
    for _ in range(2000):  # until the sell's fill is staged (bounded by tries, not by time)
        if ledger.pending:
            break
        await asyncio.sleep(0.001)
    assert ledger.pending, "the sell's fill was never staged"
    # What the sentinel's tick would read now: the staged sell has closed the position (the list is built
    # from the stage; live, any commit before a tick empties the cache the same way).
    assert book.open_positions() == []
    with pytest.raises(Exception, match="allocation insert refused"):
        await sell
    assert not ledger.pending and ledger.position(SYMBOL).size == D("2")  # the stage was undone in memory
    # ...and in the list the sentinel guards: the position is still held and still guarded.
    assert [(p.symbol, p.size) for p in book.open_positions()] == [(SYMBOL, D("2"))]
    stored = await direct.fetch(sessions, "SELECT trade_id FROM fills ORDER BY trade_id")
    assert [r[0] for r in stored] == ["t-buy"]  # the database agrees: nothing of the sell was kept


def test_a_rebuilt_book_replaces_the_list() -> None:
    """A book rebuilt from the database (a lost COMMIT's retry, a takeover, `fills retry`) is the ledger's new
    book: the list follows it without being told, even when no fill is new."""
    from fifo_engine.engine import FifoBook
    from fifo_engine.model import FillFact

    ledger = FifoLedger(FifoBook())
    book = PositionBook(ledger)
    assert book.open_positions() == []
    rebuilt = FifoBook()
    rebuilt.apply(FillFact("t-1", "buy-1", SYMBOL, Side.BUY, D("10"), D("2"), D("0.02"), T0))
    ledger.book = rebuilt
    assert [(p.symbol, p.size) for p in book.open_positions()] == [(SYMBOL, D("2"))]

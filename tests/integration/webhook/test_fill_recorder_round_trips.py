"""The fill recorder's few round trips on a real PostgreSQL: the order row's attach folded into its upsert
writes the rows the separate UPDATE did; BEGIN and the fill-path lock sent together still serialize
two writers, with every later statement seeing what the lock holder committed; a failed or cancelled
write leaves nothing behind, not even an open transaction on a pooled connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.enums import IngestVia, OrderSource, OrderStatus, Side
from core.settings import load_settings
from exchange.models import Fill, Order
from fifo_engine.ledger import FifoLedger
from fifo_engine.pg import FIFO_LOCK_KEY
from shared_data import direct, order_store
from shared_data.db import to_plain_url
from webhook.fill_recorder import FILL_PATH_LOCK_KEY, FillRecorder

Sessions = async_sessionmaker[AsyncSession]
SYMBOL = "XYZ-USD"
T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
# What the fill recorder sent before the order upsert (order_store.attach_order_id) until it was folded in.
OLD_ATTACH = "UPDATE trade_records SET order_id = $2, updated_at = now() WHERE client_order_id = $1 AND order_id <> $2"


def order(order_id: str, coid: str, status: OrderStatus, filled: str = "0", *, fees: str = "0",
          avg: str | None = None, reject: str | None = None) -> Order:
    return Order(order_id=order_id, client_order_id=coid, product_id=SYMBOL, side=Side.BUY, status=status, kind=None,
                 order_type="LIMIT", base_size=D("2"), quote_size=None, limit_price=D("10.5"), stop_price=None,
                 filled_size=D(filled), average_filled_price=None if avg is None else D(avg), filled_value=D("0"),
                 total_fees=D(fees), number_of_fills=0, created_time=T0, reject_reason=reject)


def fill(trade_id: str, order_id: str, size: str = "1", price: str = "10") -> Fill:
    return Fill(trade_id=trade_id, order_id=order_id, product_id=SYMBOL, side=Side.BUY, price=D(price), size=D(size),
                commission=D("0.01"), trade_time=T0)


@pytest.fixture
async def recorder(db_sessions: Sessions) -> AsyncIterator[FillRecorder]:
    async with db_sessions() as s, s.begin():
        await s.execute(text("TRUNCATE fills, fifo_allocations, trade_records, passive_orders"))
    async with db_sessions() as s:
        ledger = await FifoLedger.load(s, load_settings())
    yield FillRecorder(db_sessions, ledger, lambda: T0)


async def rows(sessions: Sessions) -> dict[str, list[str]]:
    """trade_records and passive_orders as text, without the write times (they differ between runs)."""
    out = {}
    async with sessions() as s:
        for table in ("trade_records", "passive_orders"):
            result = await s.execute(text(
                f"SELECT (to_jsonb(t) - 'created_at' - 'updated_at')::text FROM {table} t ORDER BY order_id"))
            out[table] = [r[0] for r in result]
    return out


# Rows already there when the exchange's report arrives: (order_id, client_order_id, status, filled_size).
BEFORE: dict[str, list[tuple[str, str | None, str, str]]] = {
    "nothing": [],
    "placeholder": [("coid:c1", "c1", "NEW", "0")],
    "placeholder rejected": [("coid:c1", "c1", "REJECTED", "0")],
    "attached": [("ex-1", "c1", "PENDING", "0")],
    "attached, filled further": [("ex-1", "c1", "OPEN", "1.5")],
    "attached, terminal": [("ex-1", "c1", "CANCELLED", "1")],
    "under another id": [("ex-0", "c1", "OPEN", "0")],
    "id without client id": [("ex-1", None, "OPEN", "0")],
}
REPORTS = {
    "open": order("ex-1", "c1", OrderStatus.OPEN, "1", fees="0.01", avg="10"),
    "filled": order("ex-1", "c1", OrderStatus.FILLED, "2", fees="0.02", avg="10.25"),
    "rejected": order("ex-1", "c1", OrderStatus.REJECTED, reject="INSUFFICIENT_FUNDS"),
    "no client id": order("ex-1", "", OrderStatus.OPEN, "1", fees="0.01", avg="10"),
}


async def write(sessions: Sessions, before: list[tuple[str, str | None, str, str]], report: Order, *,
                old: bool, reconciled: bool) -> tuple[dict[str, list[str]], str | None]:
    async with direct.transaction(sessions) as driver:
        await driver.execute("TRUNCATE trade_records, passive_orders")
        for order_id, coid, status, filled in before:
            await driver.execute(
                "INSERT INTO trade_records (order_id, client_order_id, symbol, side, order_type, status, price, size,"
                " filled_size, source, ingest_via, order_time, trigger) VALUES ($1, $2, $3, 'BUY', 'LIMIT', $4, 10.4,"
                " 2, $5, 'webhook', 'rest', $6, '{\"k\": 1}')", order_id, coid, SYMBOL, status, D(filled), T0)
            await driver.execute("INSERT INTO passive_orders (order_id, client_order_id, symbol, side, order_type,"
                                 " status, size, filled_size) VALUES ($1, $2, $3, 'BUY', 'LIMIT', $4, 2, $5)",
                                 order_id, coid, SYMBOL, status, D(filled))
    sql, args = order_store.facts_statement(report, via=IngestVia.WEBSOCKET, source=OrderSource.RECONCILED,
                                            reconciled_at=T0 if reconciled else None)
    error = None
    try:
        async with direct.transaction(sessions) as driver:
            if old and report.client_order_id:
                await driver.execute(OLD_ATTACH, report.client_order_id, report.order_id)
            await driver.execute(sql, *args)
    except asyncpg.PostgresError as exc:
        error = type(exc).__name__
    return await rows(sessions), error


@pytest.mark.parametrize("reconciled", [False, True])
async def test_the_folded_attach_writes_the_rows_of_the_separate_update(db_sessions: Sessions,
                                                                        reconciled: bool) -> None:
    for name, before in BEFORE.items():
        for report_name, report in REPORTS.items():
            old = await write(db_sessions, before, report, old=True, reconciled=reconciled)
            new = await write(db_sessions, before, report, old=False, reconciled=reconciled)
            assert new == old, (name, report_name)
    # The cases the fold is about did change rows (the comparison above is not vacuous).
    (after, error) = await write(db_sessions, BEFORE["placeholder"], REPORTS["filled"], old=False, reconciled=False)
    assert error is None
    assert len(after["trade_records"]) == 1
    assert all(f'"{k}": "{v}"' in after["trade_records"][0]
               for k, v in (("order_id", "ex-1"), ("client_order_id", "c1"), ("status", "FILLED")))


async def test_an_intent_row_is_attached_and_filled_by_one_record(db_sessions: Sessions,
                                                                 recorder: FillRecorder) -> None:
    async with db_sessions() as s, s.begin():
        await order_store.record_intent(
            s, client_order_id="c7", symbol=SYMBOL, side=Side.BUY, order_type="LIMIT", price=D("10"), size=D("2"),
            quote_size=None, source=OrderSource.WEBHOOK, trigger={"why": "test"}, exit_reason=None,
            exit_target_price=None, exit_quote_price=None, order_time=T0)
    report = order("ex-7", "c7", OrderStatus.FILLED, "2", fees="0.02", avg="10")
    fills = [fill("t7a", "ex-7"), fill("t7b", "ex-7")]
    assert await recorder.record(report, fills, via=IngestVia.REST) == 2
    assert await FillRecorder(db_sessions, recorder._ledger, lambda: T0).record(report, fills, via=IngestVia.REST) == 0
    async with db_sessions() as s:
        row = (await s.execute(text("SELECT order_id, status, filled_size, trigger, remaining_size, source"
                                    " FROM trade_records WHERE client_order_id = 'c7'"))).one()
        assert tuple(row) == ("ex-7", "FILLED", D("2"), {"why": "test"}, D("2"), "webhook")
        assert (await s.execute(text("SELECT count(*) FROM fills WHERE order_id = 'ex-7'"))).scalar() == 2
    assert recorder._ledger.position(SYMBOL).size == D("2")


async def _waiting_for_lock(sessions: Sessions) -> None:
    for _ in range(200):
        found = await direct.fetch(sessions, "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                                             " AND objid::bigint = $1", FILL_PATH_LOCK_KEY & 0xFFFFFFFF)
        if found:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the recorder never waited for the fill-path lock")


async def _no_transaction_left(sessions: Sessions) -> None:
    left = await direct.fetch(sessions, "SELECT state FROM pg_stat_activity WHERE datname = current_database()"
                                        " AND state LIKE 'idle in transaction%'")
    assert left == []
    # free: a statement by itself can take it (and gives it back when it completes)
    assert (await direct.fetch(sessions, "SELECT pg_try_advisory_xact_lock($1)", FILL_PATH_LOCK_KEY))[0][0] is True


async def test_the_lock_serializes_and_later_statements_see_what_the_holder_committed(
        db_sessions: Sessions, db_url: str, recorder: FillRecorder) -> None:
    """Another writer (the reconciler of another process, `fills retry`) holds the lock on a connection of
    its own and records the order as open with its first fill. The recorder waits; once the holder
    commits, its terminal report deletes the passive row the holder inserted (a DELETE whose snapshot
    predated the holder's commit would not see it) and inserts only the fill the holder did not."""
    holder = await asyncpg.connect(to_plain_url(db_url))
    try:
        xact = holder.transaction()
        await xact.start()
        await holder.execute("SELECT pg_advisory_xact_lock($1)", FILL_PATH_LOCK_KEY)
        report = order("ex-9", "c9", OrderStatus.FILLED, "2", fees="0.02", avg="10")
        task = asyncio.create_task(recorder.record(report, [fill("t9a", "ex-9"), fill("t9b", "ex-9")],
                                                   via=IngestVia.REST))
        await _waiting_for_lock(db_sessions)
        await holder.execute("INSERT INTO trade_records (order_id, client_order_id, symbol, side, order_type, status,"
                             " filled_size, source, ingest_via) VALUES ('ex-9', 'c9', $1, 'BUY', 'LIMIT', 'OPEN', 1,"
                             " 'webhook', 'rest')", SYMBOL)
        await holder.execute("INSERT INTO passive_orders (order_id, client_order_id, symbol, side, order_type, status,"
                             " size, filled_size) VALUES ('ex-9', 'c9', $1, 'BUY', 'LIMIT', 'OPEN', 2, 1)", SYMBOL)
        await holder.execute("INSERT INTO fills (trade_id, order_id, symbol, side, price, size, commission, trade_time,"
                             " ingest_via) VALUES ('t9a', 'ex-9', $1, 'BUY', 10, 1, 0.01, $2, 'rest')", SYMBOL, T0)
        await asyncio.sleep(0.1)
        assert not task.done()
        await xact.commit()
        assert await task == 1
    finally:
        await holder.close()
    assert await direct.fetch(db_sessions, "SELECT 1 FROM passive_orders WHERE order_id = 'ex-9'") == []
    assert [tuple(r) for r in await direct.fetch(db_sessions, "SELECT trade_id FROM fills ORDER BY 1")] == [
        ("t9a",), ("t9b",)]
    status = await direct.fetch(db_sessions, "SELECT status, filled_size FROM trade_records WHERE order_id = 'ex-9'")
    assert tuple(status[0]) == ("FILLED", D("2"))
    await _no_transaction_left(db_sessions)


async def test_a_failed_write_leaves_nothing_and_no_open_transaction(db_sessions: Sessions,
                                                                    recorder: FillRecorder) -> None:
    # A negative price passes the fills table but not the FIFO check, which runs after the order row and
    # the fills were written in the transaction: all of it goes.
    report = order("ex-5", "c5", OrderStatus.FILLED, "1", avg="10")
    with pytest.raises(ValueError):
        await recorder.record(report, [fill("t5", "ex-5", price="-1")], via=IngestVia.REST)
    assert await direct.fetch(db_sessions, "SELECT 1 FROM trade_records UNION ALL SELECT 1 FROM fills") == []
    assert not recorder._ledger.pending and recorder._ledger.position(SYMBOL).size == 0
    await _no_transaction_left(db_sessions)
    assert await recorder.record(report, [fill("t5", "ex-5")], via=IngestVia.REST) == 1
    assert recorder._ledger.position(SYMBOL).size == D("1")


async def test_a_write_cancelled_while_waiting_for_the_lock_leaves_nothing(db_sessions: Sessions, db_url: str,
                                                                          recorder: FillRecorder) -> None:
    holder = await asyncpg.connect(to_plain_url(db_url))
    try:
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock($1)", FILL_PATH_LOCK_KEY)
            task = asyncio.create_task(recorder.record(order("ex-6", "c6", OrderStatus.FILLED, "1", avg="10"),
                                                       [fill("t6", "ex-6")], via=IngestVia.REST))
            await _waiting_for_lock(db_sessions)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    finally:
        await holder.close()
    await _no_transaction_left(db_sessions)
    assert await direct.fetch(db_sessions, "SELECT 1 FROM trade_records UNION ALL SELECT 1 FROM fills") == []
    assert not recorder._ledger.pending
    args: list[Any] = [order("ex-6", "c6", OrderStatus.FILLED, "1", avg="10"), [fill("t6", "ex-6")]]
    assert await recorder.record(*args, via=IngestVia.REST) == 1


async def _waiting_for(sessions: Sessions, key: int) -> None:
    for _ in range(200):
        if await direct.fetch(sessions, "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                                        " AND objid::bigint = $1", key & 0xFFFFFFFF):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"nobody waited for advisory lock {key:#x}")


async def test_the_fifo_lock_is_taken_only_for_a_new_fill_and_before_the_order_row(
        db_sessions: Sessions, db_url: str, recorder: FillRecorder) -> None:
    """The ledger's FIFO lock comes with the order's statement now, only when a fill is new. A writer
    holding it (the rebuild) that then updates the order's row, as the rebuild does, is not deadlocked:
    the recorder waits for the FIFO lock before it locks that row."""
    first = order("ex-4", "c4", OrderStatus.OPEN, "1", fees="0.01", avg="10")
    assert await recorder.record(first, [fill("t4a", "ex-4")], via=IngestVia.REST) == 1
    holder = await asyncpg.connect(to_plain_url(db_url))
    try:
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock($1)", FIFO_LOCK_KEY)
            # nothing new: no FIFO lock wanted, the record goes through while the holder has it
            async with asyncio.timeout(10):
                assert await recorder.record(first, [fill("t4a", "ex-4")], via=IngestVia.WEBSOCKET) == 0
            second = order("ex-4", "c4", OrderStatus.FILLED, "2", fees="0.02", avg="10")
            task = asyncio.create_task(recorder.record(second, [fill("t4a", "ex-4"), fill("t4b", "ex-4")],
                                                       via=IngestVia.REST))
            await _waiting_for(db_sessions, FIFO_LOCK_KEY)
            await holder.execute("UPDATE trade_records SET remaining_size = remaining_size WHERE order_id = 'ex-4'")
        async with asyncio.timeout(10):
            assert await task == 1
    finally:
        await holder.close()
    found = await direct.fetch(db_sessions, "SELECT status, filled_size, remaining_size FROM trade_records")
    assert [tuple(r) for r in found] == [("FILLED", D("2"), D("2"))]
    assert recorder._ledger.position(SYMBOL).size == D("2")
    await _no_transaction_left(db_sessions)


async def test_a_stored_fill_the_book_never_applied_is_caught_up_before_the_next_one(
        recorder: FillRecorder, db_sessions: Sessions) -> None:
    """A COMMIT whose answer was lost: the database holds the buy, the in-memory book was rolled back. The
    next write of that order finds the fill stored yet unknown here and rebuilds the book from the database
    first, so the sell that follows takes its lot (without it: a sell beyond inventory, no lot, no basis)."""
    from dataclasses import replace

    from fifo_engine.engine import FifoBook

    bought = order("ex-b", "cb", OrderStatus.FILLED, "2", avg="10")
    assert await recorder.record(bought, [fill("t-b", "ex-b", "2")], via=IngestVia.REST) == 1
    recorder._ledger.book = FifoBook(recorder._ledger.book.config)  # the rolled-back book
    recorder._written.clear()  # the write "failed": nothing remembered as committed
    assert recorder._ledger.position(SYMBOL).size == 0
    assert await recorder.record(bought, [fill("t-b", "ex-b", "2")], via=IngestVia.REST) == 0  # the retry
    assert recorder._ledger.position(SYMBOL).size == D("2")  # caught up from the database
    sold = replace(order("ex-s", "cs", OrderStatus.FILLED, "1", avg="12"), side=Side.SELL)
    sell = replace(fill("t-s", "ex-s", "1", "12"), side=Side.SELL)
    assert await recorder.record(sold, [sell], via=IngestVia.REST) == 1
    assert recorder._ledger.position(SYMBOL).size == D("1")
    async with db_sessions() as s:
        lots = (await s.execute(text(
            "SELECT buy_trade_id, allocated_size FROM fifo_allocations WHERE sell_trade_id = 't-s'"))).all()
    assert [(r[0], r[1]) for r in lots] == [("t-b", D("1"))]
    # Again, now with a new fill of the order beside the stored one: the book is rebuilt without the new
    # fill (inserted by this very transaction), which is then applied once, on top.
    recorder._ledger.book = FifoBook(recorder._ledger.book.config)
    recorder._written.clear()
    more = order("ex-b", "cb", OrderStatus.FILLED, "3", avg="10")
    assert await recorder.record(more, [fill("t-b", "ex-b", "2"), fill("t-b2", "ex-b", "1")], via=IngestVia.REST) == 1
    assert recorder._ledger.position(SYMBOL).size == D("2")  # 2 + 1 bought, 1 sold
    async with db_sessions() as s:
        count = (await s.execute(text("SELECT count(*) FROM fifo_allocations"))).scalar_one()
    assert count == 1  # the sell's one slice, not written again

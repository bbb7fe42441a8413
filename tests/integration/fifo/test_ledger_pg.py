"""FifoLedger and the fill recorder on a real PostgreSQL: rows, derived order fields, transactions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D

import asyncpg
import pytest
from sqlalchemy import select, text

from core.enums import IngestVia
from core.settings import load_settings
from fifo_engine import sql
from fifo_engine.ledger import FifoLedger
from fifo_engine.model import ALLOCATION_COLUMNS
from fifo_engine.pg import driver_connection
from shared_data.db import create_engine, session_factory
from shared_data.models import TradeRecord
from shared_data.trade_recorder import insert_fills, load_fills
from tests.integration.fifo.helpers import Sessions, add_orders, allocation_texts, record, wipe
from tests.unit.fifo.factories import T0, fill, tv2_fills

SETTINGS = load_settings()


@pytest.fixture
async def ledger(db_sessions: Sessions) -> AsyncIterator[FifoLedger]:
    await wipe(db_sessions)
    async with db_sessions() as s, s.begin():
        yield await FifoLedger.load(s, SETTINGS)


async def _order(sessions: Sessions, order_id: str) -> dict[str, object]:
    async with sessions() as s:
        row = (await s.execute(text("SELECT * FROM trade_records WHERE order_id = :o"), {"o": order_id})).mappings()
        return dict(row.one())


async def test_tv2_rows_and_order_fields(db_sessions: Sessions, ledger: FifoLedger) -> None:
    fills = tv2_fills()
    await add_orders(db_sessions, fills)
    for f in fills:  # one transaction per fill, as they arrive
        await record(db_sessions, ledger, [f])
    cols = ", ".join(ALLOCATION_COLUMNS)
    async with db_sessions() as s:
        rows = (await s.execute(text(f"SELECT {cols} FROM fifo_allocations ORDER BY sell_trade_id"))).mappings().all()
    assert [dict(r) for r in rows] == [
        {"portfolio_id": "default", "symbol": "XYZ-USD", "sell_order_id": "o-S1", "buy_order_id": "o-B1",
         "sell_trade_id": "S1", "buy_trade_id": "B1", "slice_index": 0, "allocated_size": D(50), "buy_price": D(50),
         "sell_price": D(120), "buy_fees_per_unit": D("0.10"), "sell_fees_per_unit": D("0.20"),
         "cost_basis_usd": D("2505.00"), "proceeds_usd": D("6000.00"), "net_proceeds_usd": D("5990.00"),
         "pnl_usd": D("3485.00"), "buy_time": T0, "sell_time": fills[1].trade_time, "holding_term": "short",
         "missing_basis": False},
        {"portfolio_id": "default", "symbol": "XYZ-USD", "sell_order_id": "o-S2", "buy_order_id": "o-B1",
         "sell_trade_id": "S2", "buy_trade_id": "B1", "slice_index": 0, "allocated_size": D(40), "buy_price": D(50),
         "sell_price": D(90), "buy_fees_per_unit": D("0.10"), "sell_fees_per_unit": D("0.25"),
         "cost_basis_usd": D("2004.00"), "proceeds_usd": D("3600.00"), "net_proceeds_usd": D("3590.00"),
         "pnl_usd": D("1586.00"), "buy_time": T0, "sell_time": fills[3].trade_time, "holding_term": "short",
         "missing_basis": False},
    ]
    s1, s2 = await _order(db_sessions, "o-S1"), await _order(db_sessions, "o-S2")
    assert (s1["pnl_usd"], s1["realized_profit"], s1["cost_basis_usd"], s1["sale_proceeds_usd"],
            s1["net_sale_proceeds_usd"], s1["parent_id"], s1["parent_ids"]) == (
        D(3485), D(3485), D(2505), D(6000), D(5990), "o-B1", ["o-B1"])
    assert (s2["pnl_usd"], s2["cost_basis_usd"], s2["net_sale_proceeds_usd"], s2["parent_ids"]) == (
        D(1586), D(2004), D(3590), ["o-B1"])
    assert (await _order(db_sessions, "o-B1"))["remaining_size"] == D(10)
    assert (await _order(db_sessions, "o-B2"))["remaining_size"] == D(50)
    assert s1["remaining_size"] is None  # a sell order has no remaining size
    assert ledger.position("XYZ-USD").realized_pnl_usd == D(5071)


async def test_partial_fills_across_buy_orders_set_parents_in_fifo_order(db_sessions: Sessions,
                                                                        ledger: FifoLedger) -> None:
    fills = [
        fill("b1", "BUY", "0.4", "100", "0.3", 0, order_id="buy-A"),
        fill("b2", "BUY", "0.35", "101", "0.3", 1, order_id="buy-A"),
        fill("b3", "BUY", "0.25", "102", "0.3", 2, order_id="buy-A"),
        fill("b4", "BUY", "1", "99", "0.7", 3, order_id="buy-B"),
        fill("s1", "SELL", "0.6", "110", "0.5", 4, order_id="sell-X"),
        fill("s2", "SELL", "0.9", "111", "0.5", 5, order_id="sell-X"),
    ]
    await add_orders(db_sessions, fills)
    await record(db_sessions, ledger, fills[:3])  # one order update with three fills
    await record(db_sessions, ledger, fills[3:4])
    written = await record(db_sessions, ledger, fills[4:])
    assert [(a.sell_trade_id, a.buy_trade_id, a.allocated_size) for a in written] == [
        ("s1", "b1", D("0.4")), ("s1", "b2", D("0.2")),
        ("s2", "b2", D("0.15")), ("s2", "b3", D("0.25")), ("s2", "b4", D("0.5")),
    ]
    sell = await _order(db_sessions, "sell-X")
    assert sell["parent_id"] == "buy-A" and sell["parent_ids"] == ["buy-A", "buy-B"]
    assert sell["pnl_usd"] == sum(a.pnl_usd for a in written)
    assert sell["net_sale_proceeds_usd"] == D("0.6") * 110 + D("0.9") * 111 - 1
    basis_a = D("0.4") * 100 + D("0.35") * 101 + D("0.25") * 102 + D("0.9")  # buy-A fully sold, fees included
    assert sell["cost_basis_usd"] == basis_a + D("0.5") * 99 + D("0.35")
    assert (await _order(db_sessions, "buy-A"))["remaining_size"] == 0
    assert (await _order(db_sessions, "buy-B"))["remaining_size"] == D("0.5")


async def test_sell_beyond_inventory_writes_a_flagged_zero_basis_row(db_sessions: Sessions,
                                                                     ledger: FifoLedger) -> None:
    fills = [fill("s", "SELL", "2", "50", "1", 0, order_id="sell-only")]
    await add_orders(db_sessions, fills)
    await record(db_sessions, ledger, fills)
    async with db_sessions() as s:
        row = (await s.execute(text("SELECT * FROM fifo_allocations"))).mappings().one()
    assert (row["missing_basis"], row["buy_order_id"], row["buy_trade_id"], row["buy_time"], row["cost_basis_usd"],
            row["pnl_usd"], row["holding_term"]) == (True, None, None, None, D(0), D(99), "short")
    order = await _order(db_sessions, "sell-only")
    assert (order["pnl_usd"], order["cost_basis_usd"], order["parent_id"], order["parent_ids"]) == (
        D(99), D(0), None, None)


async def test_rollback_leaves_book_and_tables_unchanged(db_sessions: Sessions, ledger: FifoLedger) -> None:
    buy = fill("b", "BUY", "1", "10", "0", 0)
    await record(db_sessions, ledger, [buy])
    with pytest.raises(RuntimeError, match="boom"):
        async with db_sessions() as s, s.begin():
            new = await insert_fills(s, [fill("s", "SELL", "1", "12", "0", 1)], IngestVia.WEBSOCKET)
            await ledger.apply_fills(s, new)
            assert ledger.position("XYZ-USD").size == 0  # applied at once …
            raise RuntimeError("boom")
    assert not ledger.pending
    assert ledger.position("XYZ-USD").size == 1  # … and undone with the transaction
    ledger.rollback()  # a caller's own rollback afterwards is a harmless no-op
    assert ledger.position("XYZ-USD").size == 1
    assert await allocation_texts(db_sessions) == []
    # The same sell recorded again later is applied normally.
    await record(db_sessions, ledger, [fill("s", "SELL", "1", "12", "0", 1)])
    assert ledger.position("XYZ-USD").realized_pnl_usd == 2


async def test_session_closed_without_commit_rolls_the_book_back(db_sessions: Sessions, ledger: FifoLedger) -> None:
    async with db_sessions() as s:
        await s.begin()
        new = await insert_fills(s, [fill("b", "BUY", "1", "10", "0", 0)], IngestVia.REST)
        await ledger.apply_fills(s, new)
        assert ledger.pending
    assert not ledger.pending and ledger.position("XYZ-USD").size == 0


async def test_fills_are_recorded_once(db_sessions: Sessions, ledger: FifoLedger) -> None:
    b = fill("b", "BUY", "1", "10", "0", 0)
    assert await record(db_sessions, ledger, [b]) == []
    async with db_sessions() as s, s.begin():
        assert await insert_fills(s, [b, b], IngestVia.REST) == []
        new = await insert_fills(s, [fill("c", "BUY", "1", "10", "0", 1)] * 2, IngestVia.REST)
        assert [f.trade_id for f in new] == ["c"]
        await ledger.apply_fills(s, new)
        await ledger.apply_fills(s, new)  # applying twice in one transaction changes nothing either
    assert ledger.position("XYZ-USD").size == 2
    async with db_sessions() as s:
        assert [f.trade_id for f in await load_fills(s)] == ["b", "c"]


async def test_a_late_earlier_fill_replaces_the_later_sells_rows(db_sessions: Sessions, ledger: FifoLedger) -> None:
    late_buy = fill("b-early", "BUY", "1", "10", "0.5", 0, order_id="buy-early")
    sell = fill("s", "SELL", "1", "20", "0", 1, order_id="sell")
    await add_orders(db_sessions, [late_buy, sell])
    first = await record(db_sessions, ledger, [sell])
    assert [a.missing_basis for a in first] == [True]
    replaced = await record(db_sessions, ledger, [late_buy])  # the reconciler finds the earlier buy
    assert [(a.sell_trade_id, a.buy_trade_id, a.pnl_usd) for a in replaced] == [("s", "b-early", D("9.5"))]
    async with db_sessions() as s:
        rows = (await s.execute(text("SELECT buy_trade_id, missing_basis FROM fifo_allocations"))).all()
    assert [tuple(r) for r in rows] == [("b-early", False)]
    assert (await _order(db_sessions, "sell"))["parent_ids"] == ["buy-early"]
    assert (await _order(db_sessions, "buy-early"))["remaining_size"] == 0


async def test_order_rows_are_optional_and_orm_state_is_refreshed(db_sessions: Sessions, ledger: FifoLedger) -> None:
    await record(db_sessions, ledger, [fill("b", "BUY", "2", "10", "0", 0, order_id="no-row")])  # no order row
    async with db_sessions() as s, s.begin():
        # The order row is only pending in the ORM (not flushed) when the fills are applied.
        s.add(TradeRecord(order_id="sell-1", symbol="XYZ-USD", side="SELL", order_type="MARKET", status="FILLED",
                          source="webhook", ingest_via="rest"))
        new = await insert_fills(s, [fill("s", "SELL", "1", "15", "0", 1, order_id="sell-1")], IngestVia.REST)
        await ledger.apply_fills(s, new)
        loaded = (await s.execute(select(TradeRecord).where(TradeRecord.order_id == "sell-1"))).scalar_one()
        assert loaded.pnl_usd == 5 and loaded.parent_ids == ["no-row"]


async def test_load_rebuilds_the_same_positions(db_sessions: Sessions, ledger: FifoLedger) -> None:
    fills = [*tv2_fills(), fill("P", "BUY", "3", "7", "0.1", 5, portfolio_id="p2")]
    for f in reversed(fills):  # worst case arrival: every fill out of order
        await record(db_sessions, ledger, [f])
    async with db_sessions() as s, s.begin():
        reloaded = await FifoLedger.load(s, SETTINGS)
    assert reloaded.positions() == ledger.positions()
    assert ledger.position("XYZ-USD").realized_pnl_usd == D(5071)


async def test_apply_fills_refuses_a_savepoint(db_sessions: Sessions, ledger: FifoLedger) -> None:
    async with db_sessions() as s, s.begin(), s.begin_nested():
        new = await insert_fills(s, [fill("b", "BUY", "1", "1", "0", 0)], IngestVia.REST)
        with pytest.raises(RuntimeError, match="SAVEPOINT"):
            await ledger.apply_fills(s, new)
    assert ledger.position("XYZ-USD").size == 0


async def test_bad_fills_are_refused_before_anything_changes(db_sessions: Sessions, ledger: FifoLedger) -> None:
    await record(db_sessions, ledger, [fill("b", "BUY", "1", "10", "0", 0)])
    bad = fill("s", "SELL", "0.5", "12", "0", 1)
    bad = type(bad)(**{**{k: getattr(bad, k) for k in type(bad).__slots__}, "price": 12.0})  # type: ignore[arg-type]
    async with db_sessions() as s, s.begin():
        with pytest.raises(TypeError, match="price must be a Decimal"):
            await ledger.apply_fills(s, [fill("s0", "SELL", "0.1", "12", "0", 1), bad])
        assert not ledger.pending  # nothing was staged: the caller may go on and commit
    assert ledger.position("XYZ-USD").size == 1


async def test_a_failed_write_undoes_the_book_whatever_the_caller_does(db_sessions: Sessions,
                                                                       ledger: FifoLedger) -> None:
    await record(db_sessions, ledger, [fill("b", "BUY", "1", "10", "0", 0)])
    async with db_sessions() as s, s.begin():  # a stray row that collides with the sell's first slice
        await s.execute(text(
            "INSERT INTO fifo_allocations (symbol, sell_order_id, sell_trade_id, slice_index, allocated_size, "
            "buy_price, sell_price, buy_fees_per_unit, sell_fees_per_unit, cost_basis_usd, proceeds_usd, "
            "net_proceeds_usd, pnl_usd, sell_time, holding_term, missing_basis) "
            "VALUES ('XYZ-USD', 'x', 's', 0, 1, 0, 1, 0, 0, 0, 1, 1, 1, now(), 'short', true)"))
    with pytest.raises(asyncpg.UniqueViolationError):  # the FIFO statements run on the raw driver
        async with db_sessions() as s, s.begin():
            new = await insert_fills(s, [fill("s", "SELL", "1", "12", "0", 1)], IngestVia.REST)
            await ledger.apply_fills(s, new)
    assert not ledger.pending
    assert ledger.position("XYZ-USD").size == 1 and ledger.position("XYZ-USD").realized_pnl_usd == 0


async def test_real_time_plans_stay_key_lookups_whatever_the_statistics(db_url: str, db_sessions: Sessions,
                                                                         ledger: FifoLedger) -> None:
    """Statistics taken while the tables were empty (a new database, autovacuum off) must not turn the
    real-time path's lookups into scans of whole tables as the tables grow: the plan of the ledger's
    own prepared statement, on its own connection, after 3,000 more fills. The caller's planner
    settings come back after apply_fills."""
    first = fill("first", "BUY", "1", "10", "0", 0, order_id="o-first")
    fills = [fill(f"t{i:05d}", "BUY" if i % 3 else "SELL", "1", "10", "0.01", 1 + i / 100, order_id=f"o{i // 2}")
             for i in range(3000)]
    await add_orders(db_sessions, [first, *fills])  # the order rows exist, as the order manager writes them
    async with db_sessions() as s:
        await s.execute(text("COMMIT"))
        await s.execute(text("VACUUM ANALYZE fills, fifo_allocations, trade_records"))  # fills: none yet
    engine = create_engine(db_url, pool_size=1)  # one connection: the ledger's statements are cached on it
    one = session_factory(engine)
    try:
        await record(one, ledger, [first])  # prepared and executed while fills and allocations are empty
        for i in range(0, len(fills), 500):
            await record(one, ledger, fills[i:i + 500])
        async with one() as s, s.begin():
            await s.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
            new = await insert_fills(s, [fill("late", "SELL", "1", "11", "0", 40, order_id="o7")], IngestVia.REST)
            await ledger.apply_fills(s, new)
            assert (await s.execute(text(
                "SELECT current_setting('plan_cache_mode'), current_setting('enable_seqscan')"))).one() == (
                "force_generic_plan", "on")
        async with one() as s, s.begin():
            driver = await driver_connection(s)  # inside the transaction: the SET LOCALs below hold
            name = await driver.fetchval("SELECT name FROM pg_prepared_statements WHERE statement = $1",
                                         sql.UPDATE_ORDER_FIELDS)
            assert name is not None
            # The ledger's planner settings for a real-time batch (another lock key): the plan cache's choice.
            await driver.fetch(sql.LOCK_FOR_APPLY, 12345, sql.plan_mode(1))
            plan = "\n".join(r[0] for r in await driver.fetch(
                f"EXPLAIN EXECUTE {name}('{{o7,o10}}', '{{o8,o9}}', 'auto', 'on')"))
            # The generic plan itself (made from the statistics of when it was built): key lookups too.
            await driver.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            generic = "\n".join(r[0] for r in await driver.fetch(
                f"EXPLAIN EXECUTE {name}('{{o7,o10}}', '{{o8,o9}}', 'auto', 'on')"))
    finally:
        await engine.dispose()
    for shown in (plan, generic):
        assert "Seq Scan" not in shown, shown
        assert "Index Scan" in shown or "Bitmap Index Scan" in shown, shown

"""An order is never left rejected while the exchange reports it: stale NEW rows are looked up first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from sqlalchemy import select, update

from core.enums import OrderSource, OrderStatus, Side
from exchange.models import OrderKind, OrderRequest
from shared_data import order_store
from shared_data.db import unit_of_work
from shared_data.models import TradeRecord
from tests.integration.webhook.conftest import PRODUCT, Core


async def _intent(core: Core, coid: str, age: timedelta) -> None:
    async with unit_of_work(core.sessions) as session:
        await order_store.record_intent(
            session, client_order_id=coid, symbol=PRODUCT, side=Side.BUY, order_type="MARKET", price=None,
            size=None, quote_size=D("50"), source=OrderSource.TRADINGVIEW, trigger={}, exit_reason=None,
            exit_target_price=None, exit_quote_price=None, order_time=datetime.now(UTC) - age)


async def _row(core: Core, coid: str) -> TradeRecord:
    async with core.sessions() as session:
        return (await session.execute(select(TradeRecord).where(TradeRecord.client_order_id == coid))).scalar_one()


async def test_a_stale_intent_the_exchange_filled_is_settled_not_rejected(core: Core) -> None:
    coid = "bt-stale-taken-1"
    await _intent(core, coid, timedelta(minutes=10))
    # The first send got through before the crash (the exchange has the order, we never heard back).
    placed = await core.adapter.create_order(OrderRequest(coid, PRODUCT, Side.BUY, OrderKind.MARKET,
                                                          quote_size=D("50")))
    assert placed.success and placed.order_id
    await core.orders.recover_unsent()
    row = await _row(core, coid)
    assert row.status != OrderStatus.REJECTED.value and row.order_id == placed.order_id
    await core.reconciler.run_once("test")
    assert (await _row(core, coid)).status == OrderStatus.FILLED.value


async def test_a_stale_intent_the_exchange_never_saw_is_rejected(core: Core) -> None:
    coid = "bt-stale-lost-1"
    await _intent(core, coid, timedelta(minutes=10))
    await core.orders.recover_unsent()
    row = await _row(core, coid)
    assert row.status == OrderStatus.REJECTED.value and (row.reject_reason or "").startswith("STALE_UNSENT")


async def test_the_exchange_status_overrides_our_rejected(core: Core) -> None:
    coid = "bt-rejected-but-filled-1"
    await _intent(core, coid, timedelta(seconds=0))
    async with unit_of_work(core.sessions) as session:
        await order_store.mark_rejected(session, coid, "EXCHANGE_ERROR: timeout")
    placed = await core.adapter.create_order(OrderRequest(coid, PRODUCT, Side.BUY, OrderKind.MARKET,
                                                          quote_size=D("50")))
    assert placed.order_id
    await core.fills.process_order(placed.order_id)
    row = await _row(core, coid)
    assert row.status == OrderStatus.FILLED.value and row.order_id == placed.order_id
    async with unit_of_work(core.sessions) as session:  # leave no open-looking rows for other tests
        await session.execute(update(TradeRecord).where(TradeRecord.client_order_id == coid).values(status="FILLED"))


async def test_a_young_intent_whose_resend_is_refused_unprocessed_stays_unsettled_not_rejected(core: Core) -> None:
    """A 429 answers a re-send before processing — which proves nothing about the first send: the
    exchange may have the order, so the row is not marked rejected; a later look settles it."""
    coid = "bt-young-429-1"
    await _intent(core, coid, timedelta(seconds=10))
    placed = await core.adapter.create_order(OrderRequest(coid, PRODUCT, Side.BUY, OrderKind.MARKET,
                                                          quote_size=D("50")))
    assert placed.success and placed.order_id
    core.sim.faults.add("http_429", path="/orders", method="POST")
    try:
        await core.orders.recover_unsent()
    finally:
        core.sim.faults.clear("http_429")
    row = await _row(core, coid)
    assert row.status == OrderStatus.NEW.value and row.reject_reason is None
    await core.orders.recover_unsent()
    row = await _row(core, coid)
    assert row.status != OrderStatus.REJECTED.value and row.order_id == placed.order_id

"""Resting exits on the simulator: the limit follows the bid and escalates to market at the hard stop."""

from __future__ import annotations

from decimal import Decimal as D

from sqlalchemy import select

from core.enums import ExitReason, OrderSource, Side
from shared_data.models import Fill as FillRow
from tests.integration.working_orders.conftest import PRODUCT, Desk
from webhook.order_intent import IntentKind, OrderIntent
from webhook.working_orders.desk import working_order_id


async def _buy(desk: Desk, key: str) -> D:
    desk.sim.set_price(PRODUCT, D("101"))
    placed = await desk.desk.start_entry(OrderIntent(PRODUCT, Side.BUY, IntentKind.POST_ONLY, OrderSource.SIGHOOK,
                                                     key, quote_size=D("100")))
    assert placed.ok
    desk.sim.set_price(PRODUCT, D("100.95"))
    await desk.step()
    return desk.position()


async def test_soft_stop_exit_rests_above_the_bid_and_escalates_to_market_when_price_falls_through_hard_stop(
        desk: Desk) -> None:
    held = await _buy(desk, "exit:buy-1")
    entry = D("100.99")
    hard_stop = entry * D("0.95")
    desk.sim.set_price(PRODUCT, D("98.4"))  # −2.5 %: the sentinel decided a soft stop here
    placed = await desk.desk.start_exit(symbol=PRODUCT, size=held, intent_key="exit:soft-1",
                                        reason=ExitReason.SOFT_STOP, target_price=entry * D("0.975"),
                                        quote_price=D("98.39"), hard_stop_price=hard_stop, trigger={"why": "test"})
    assert placed.ok and placed.order_id
    wo_id = working_order_id("exit:soft-1")
    row = await desk.row(wo_id)
    assert row["limit_price"] == D("98.40")  # bid 98.39 × 1.0001 = 98.3998… → on the tick above the bid
    desk.sim.set_price(PRODUCT, D("98.2"))  # bid 98.19: the limit follows it down
    await desk.step()
    row = await desk.row(wo_id)
    assert row["amend_count"] == 1 and row["limit_price"] == D("98.20") and not row["escalated"]
    desk.sim.set_price(PRODUCT, D("95"))  # bid 94.99 ≤ hard stop 95.94: no more waiting on a limit
    await desk.step()
    await desk.step()
    row = await desk.row(wo_id)
    assert row["escalated"] and row["state"] == "filled" and row["filled_size"] == held
    steps = [s["step"] for s in row["steps"]]
    assert steps == ["placed", "repriced", "escalated", "filled", "finished"]
    assert [s["why"] for s in row["steps"] if s["step"] == "escalated"] == ["hard_stop_reached"]
    children = await desk.children(wo_id)
    assert [(c.order_type, c.status, c.escalated, c.exit_reason) for c in children] == [
        ("LIMIT", "CANCELLED", False, "soft_stop"), ("LIMIT", "CANCELLED", False, "soft_stop"),
        ("MARKET", "FILLED", True, "soft_stop")]
    async with desk.core.sessions() as session:
        fills = list((await session.execute(select(FillRow).where(FillRow.order_id == children[-1].order_id)))
                     .scalars())
    assert {f.liquidity_indicator for f in fills} == {"TAKER"}
    assert desk.position() == 0
    assert desk.exits_done == [(PRODUCT, True)]


async def test_take_profit_exit_fills_as_maker_when_price_trades_up_through_it(desk: Desk) -> None:
    held = await _buy(desk, "exit:buy-2")
    desk.exits_done.clear()
    desk.sim.set_price(PRODUCT, D("107.5"))
    placed = await desk.desk.start_exit(symbol=PRODUCT, size=held, intent_key="exit:tp-1",
                                        reason=ExitReason.TAKE_PROFIT, target_price=D("107.30"),
                                        quote_price=D("107.49"), hard_stop_price=D("95.94"), trigger={})
    assert placed.ok
    desk.sim.set_price(PRODUCT, D("107.6"))  # above our 107.50 limit
    await desk.step()
    row = await desk.row(working_order_id("exit:tp-1"))
    assert row["state"] == "filled" and not row["escalated"] and row["amend_count"] == 0
    [child] = await desk.children(working_order_id("exit:tp-1"))
    async with desk.core.sessions() as session:
        fills = list((await session.execute(select(FillRow).where(FillRow.order_id == child.order_id))).scalars())
    assert {f.liquidity_indicator for f in fills} == {"MAKER"}
    assert desk.exits_done == [(PRODUCT, True)]


async def test_resting_exit_escalates_to_market_after_exit_escalate_s(desk: Desk) -> None:
    held = await _buy(desk, "exit:buy-3")
    desk.exits_done.clear()
    desk.sim.set_price(PRODUCT, D("104"))
    placed = await desk.desk.start_exit(symbol=PRODUCT, size=held, intent_key="exit:sig-1", reason=ExitReason.SIGNAL,
                                        target_price=D("103.99"), quote_price=D("103.99"),
                                        hard_stop_price=D("95.94"), trigger={})
    assert placed.ok
    await desk.step(31.0)  # EXIT_ESCALATE_S = 30 on the daemon's clock
    await desk.step()
    row = await desk.row(working_order_id("exit:sig-1"))
    assert row["escalated"] and row["state"] == "filled"
    assert [s["why"] for s in row["steps"] if s["step"] == "escalated"] == ["timeout"]

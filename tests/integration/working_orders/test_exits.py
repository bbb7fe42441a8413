"""Resting exits on the simulator: the limit follows the bid and escalates to market at the hard stop."""

from __future__ import annotations

from decimal import Decimal as D

from sqlalchemy import select, text

from core.enums import ExitReason, OrderSource, Side
from shared_data.models import Fill as FillRow
from shared_data.models import TradeRecord
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


async def test_sentinel_hard_stop_escalates_the_resting_exit_instead_of_racing_it(desk: Desk) -> None:
    from datetime import UTC, datetime

    from market_data.exit_policy import ExitDecision, ExitOrderKind
    from market_data.pnl_basis import BasisPosition
    from webhook.exit_executor import OrderExitExecutor

    held = await _buy(desk, "exit:buy-4")
    desk.exits_done.clear()
    core = desk.core
    executor = OrderExitExecutor(core.orders, core.adapter, core.sessions, settle_order=core.fills.process_order,
                                 clock=desk.clock, resting=desk.desk)
    position = BasisPosition(PRODUCT, held, D("100.99"), datetime(2026, 1, 1, tzinfo=UTC), D("100.99"), D("100"))
    desk.sim.set_price(PRODUCT, D("98.4"))
    soft = ExitDecision(ExitReason.SOFT_STOP, ExitOrderKind.LIMIT, D("98.46"), D("98.39"), D("98.39"), D("-2.6"), "t")
    first = await executor.submit_exit(position, soft)
    assert first.ok and desk.desk.working_exit(PRODUCT) is not None
    desk.sim.set_price(PRODUCT, D("95.5"))  # the sentinel sees −5.4 %: hard stop, market
    hard = ExitDecision(ExitReason.HARD_STOP, ExitOrderKind.MARKET, D("95.94"), D("95.49"), None, D("-5.4"), "t")
    second = await executor.submit_exit(position, hard)
    assert second.ok and second.order_id != first.order_id
    await desk.step()
    async with desk.core.sessions() as session:
        sells = (await session.execute(select(TradeRecord).where(
            TradeRecord.symbol == PRODUCT, TradeRecord.side == "SELL",
            TradeRecord.client_order_id.like("bt-%")))).scalars().all()
    ours = [s for s in sells if s.order_id in (first.order_id, second.order_id)]
    assert sorted((s.order_type, s.status) for s in ours) == [("LIMIT", "CANCELLED"), ("MARKET", "FILLED")]
    async with desk.core.sessions() as session:
        wo_id = (await session.execute(text(
            "SELECT id FROM working_orders WHERE purpose = 'exit' AND exit_reason = 'soft_stop' "
            "ORDER BY started_at DESC LIMIT 1"))).scalar_one()
    row = await desk.row(wo_id)
    assert row["escalated"] and row["state"] == "filled"
    assert [s["why"] for s in row["steps"] if s["step"] == "escalated"] == ["hard_stop"]
    assert desk.position() == 0 and desk.exits_done == [(PRODUCT, True)]

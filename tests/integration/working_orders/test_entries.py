"""Post-only entries on the simulator: fill, re-price, partial fill and TTL, rejection re-priced."""

from __future__ import annotations

from decimal import Decimal as D

from sqlalchemy import select

from core.enums import OrderSource, Side
from exchange.models import OrderKind
from shared_data.models import Fill as FillRow
from tests.integration.working_orders.conftest import PRODUCT, Desk
from webhook.order_intent import IntentKind, OrderIntent
from webhook.working_orders import store
from webhook.working_orders.desk import WorkingOrderDesk, working_order_id
from webhook.working_orders.reprice import cancel_child
from webhook.working_orders.types import EntryOrderType, Purpose, WorkingOrder, WorkingState

MAKER = D("0.006")


def _intent(key: str, quote: str) -> OrderIntent:
    return OrderIntent(PRODUCT, Side.BUY, IntentKind.POST_ONLY, OrderSource.SIGHOOK, key, quote_size=D(quote),
                       trigger={"test": key})


async def _fills(desk: Desk, order_id: str) -> list[FillRow]:
    async with desk.core.sessions() as session:
        return list((await session.execute(select(FillRow).where(FillRow.order_id == order_id))).scalars())


async def test_post_only_entry_joins_the_bid_and_fills_as_maker(desk: Desk) -> None:
    desk.sim.set_price(PRODUCT, D("101"))
    before = desk.position()
    placed = await desk.desk.start_entry(_intent("e2e:fill", "100"))
    assert placed.ok and placed.order_id, placed
    wo_id = working_order_id("e2e:fill")
    row = await desk.row(wo_id)
    assert row["state"] == "working" and row["order_type"] == "post_only"
    assert row["limit_price"] == D("100.99")  # the best bid at 101 (spread 2 bps → ±0.01)
    # Sized in base units on the increment: 100 USD / (100.99 × 1.006) at 1e-8.
    assert row["target_size"] == D("0.98429130")
    desk.sim.set_price(PRODUCT, D("100.95"))  # trades through our bid
    assert await desk.step() == 0
    row = await desk.row(wo_id)
    assert row["state"] == "filled" and row["filled_size"] == D("0.98429130") and row["amend_count"] == 0
    assert [s["step"] for s in row["steps"]] == ["placed", "filled", "finished"]
    [child] = await desk.children(wo_id)
    assert child.status == "FILLED" and child.order_id == placed.order_id
    fills = await _fills(desk, child.order_id)
    assert {f.liquidity_indicator for f in fills} == {"MAKER"}
    assert sum(f.commission for f in fills) == sum(f.size * f.price for f in fills) * MAKER
    assert desk.position() - before == D("0.98429130")


async def test_post_only_entry_re_priced_twice_as_the_bid_moves_away_then_filled(desk: Desk) -> None:
    desk.sim.set_price(PRODUCT, D("101"))
    before = desk.position()
    placed = await desk.desk.start_entry(_intent("e2e:reprice", "100"))
    assert placed.ok
    wo_id = working_order_id("e2e:reprice")
    desk.sim.set_price(PRODUCT, D("101.5"))  # bid 101.49: ours at 100.99 is no longer at the top
    await desk.step()
    desk.sim.set_price(PRODUCT, D("102"))  # bid 101.99
    await desk.step()
    row = await desk.row(wo_id)
    assert row["amend_count"] == 2 and row["limit_price"] == D("101.99") and row["state"] == "working"
    desk.sim.set_price(PRODUCT, D("101.9"))  # through 101.99
    await desk.step()
    row = await desk.row(wo_id)
    assert row["state"] == "filled"
    assert [s["step"] for s in row["steps"]] == ["placed", "repriced", "repriced", "filled", "finished"]
    assert [(s["from_price"], s["to_price"]) for s in row["steps"] if s["step"] == "repriced"] == [
        ("100.99", "101.49"), ("101.49", "101.99")]
    children = await desk.children(wo_id)
    assert [(c.status, c.price, c.amend_count) for c in children] == [
        ("CANCELLED", D("100.99"), 0), ("CANCELLED", D("101.49"), 1), ("FILLED", D("101.99"), 2)]
    fills = await _fills(desk, children[-1].order_id)
    assert {f.liquidity_indicator for f in fills} == {"MAKER"} and sum(f.size for f in fills) == row["target_size"]
    assert desk.position() - before == row["target_size"]


async def test_partial_fill_is_a_position_at_once_and_the_rest_is_cancelled_at_the_ttl(desk: Desk) -> None:
    desk.sim.set_price(PRODUCT, D("101"))
    before = desk.position()
    placed = await desk.desk.start_entry(_intent("e2e:partial", "1000"))
    assert placed.ok
    wo_id = working_order_id("e2e:partial")
    target = (await desk.row(wo_id))["target_size"]
    desk.sim.set_price(PRODUCT, D("100.95"))  # one move through: 150 USD of maker liquidity
    desk.sim.set_price(PRODUCT, D("101"))
    await desk.step()
    partial = D("1.48529557")  # 150 / 100.99 on 1e-8
    assert desk.position() - before == partial  # a position before the TTL
    row = await desk.row(wo_id)
    assert row["state"] == "working" and row["filled_size"] == partial
    await desk.step(59.0)  # the TTL (60 s) is reached on the daemon's clock
    row = await desk.row(wo_id)
    assert row["state"] == "partial" and row["filled_size"] == partial and partial < target
    assert [s["step"] for s in row["steps"]] == ["placed", "filled", "ttl_cancelled", "finished"]
    [child] = await desk.children(wo_id)
    assert child.status == "CANCELLED" and child.filled_size == partial
    assert desk.position() - before == partial


async def test_post_only_rejection_is_re_priced_from_a_fresh_book_not_retried_blindly(desk: Desk) -> None:
    desk.sim.set_price(PRODUCT, D("100"))  # bid 99.99, ask 100.01: a buy at 100.99 would cross
    ctx = desk.desk._ctx
    wo = WorkingOrder(id="wo-test-reject", intent_key="e2e:reject", purpose=Purpose.ENTRY, symbol=PRODUCT,
                      side=Side.BUY, order_type=EntryOrderType.POST_ONLY, source=OrderSource.SIGHOOK,
                      target_size=D("0.5"), started_at=desk.clock.now(), deadline_at=None)
    await store.insert(desk.core.sessions, wo, desk.clock.now())
    sent = await ctx.placer.send(wo, kind=OrderKind.LIMIT_GTC, size=D("0.5"), price=D("100.99"), post_only=True,
                                 tick=D("0.01"))
    assert sent.ok and wo.limit_price == D("99.99") and wo.post_only_rejections == 1
    await ctx.save(wo)
    row = await desk.row(wo.id)
    [rejected] = [s for s in row["steps"] if s["step"] == "post_only_rejected"]
    assert (rejected["price"], rejected["new_price"], rejected["bid"]) == ("100.99", "99.99", "99.99")
    children = await desk.children(wo.id)
    assert [(c.status, c.price) for c in children] == [("REJECTED", D("100.99")), ("OPEN", D("99.99"))] or [
        (c.status, c.price) for c in children] == [("REJECTED", D("100.99")), ("PENDING", D("99.99"))]
    assert "POST_ONLY" in (children[0].reject_reason or "")
    await cancel_child(ctx, wo)  # leave the book (and the working set) clean for the next test
    wo.state = WorkingState.CANCELLED
    await ctx.save(wo)


async def test_a_restarted_desk_adopts_a_resting_entry_and_cancels_it_at_its_ttl(desk: Desk) -> None:
    desk.sim.set_price(PRODUCT, D("101"))
    placed = await desk.desk.start_entry(_intent("e2e:restart", "100"))
    assert placed.ok
    wo_id = working_order_id("e2e:restart")
    # A new process: a fresh desk over the same database and exchange, nothing in memory.
    core = desk.core
    fresh = WorkingOrderDesk(core.adapter, core.orders, core.sessions, desk.desk._ctx.settings, desk.clock,
                             settle=core.fills.process_order)
    assert await fresh.recover() == 1
    [wo] = fresh.working()
    assert fresh.has_working()
    assert (wo.id, wo.order_id, wo.children, wo.limit_price) == (wo_id, placed.order_id, 1, D("100.99"))
    assert fresh.owns(placed.order_id)
    desk.clock.advance(61)
    assert await fresh.step_all() == 0
    row = await desk.row(wo_id)
    assert row["state"] == "cancelled" and [s["step"] for s in row["steps"]][-2:] == ["ttl_cancelled", "finished"]
    desk.desk._working.clear()  # the old desk's copy is stale now (a dead process)

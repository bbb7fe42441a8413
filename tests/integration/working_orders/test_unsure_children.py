"""A child whose send got no answer has exactly one owner: its working order (issue #19).

The simulator drops the connection of every create (after taking the order), so the desk cannot
learn the answer; the reconciler's `recover_unsent` runs meanwhile. No order may rest on the
exchange without a working order managing it, none is sent twice, and none the exchange has is
recorded as rejected.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

from core.enums import ExitReason, OrderSource, Side
from exchange.models import OrderKind, OrderRequest
from shared_data import order_store
from simulator.app import RunningSimulator
from tests.integration.working_orders.conftest import PRODUCT, Rig, desk_settings
from webhook.order_intent import IntentKind, OrderIntent, client_order_id
from webhook.working_orders import store
from webhook.working_orders.desk import WorkingOrderDesk, working_order_id
from webhook.working_orders.types import EntryOrderType, Purpose, WorkingOrder, WorkingState


def _intent(key: str) -> OrderIntent:
    return OrderIntent(PRODUCT, Side.BUY, IntentKind.POST_ONLY, OrderSource.SIGHOOK, key, quote_size=D("100"))


def _lose_create_answers(sim: RunningSimulator) -> None:
    """Every create is taken by the exchange, then its connection dropped: the answer never comes."""
    sim.faults.add("reset", path="/orders", method="POST", process=True)


async def test_an_entry_whose_answer_is_lost_is_kept_unsure_then_managed_not_left_resting(rig: Rig) -> None:
    rig.sim.set_price(PRODUCT, D("101"))
    _lose_create_answers(rig.sim)
    placed = await rig.desk.start_entry(_intent("unsure:entry"))
    wo_id = working_order_id("unsure:entry")
    [resting] = rig.on_exchange("unsure:entry")  # the first send got through; its retries found it again
    assert resting.status == "OPEN"
    # The exchange may have the order: the entry is not a failure, and it is still this desk's.
    assert placed.ok and placed.order_id is None, placed
    assert (await rig.row(wo_id))["state"] == "unsure"
    rig.sim.faults.clear()
    # The reconciler runs meanwhile: it leaves a live working order's child to the desk.
    await rig.reconciler.run_once("test")
    await rig.step()
    row = await rig.row(wo_id)
    assert row["state"] == "working" and row["current_order_id"] == resting.order_id
    assert rig.desk.owns(resting.order_id)
    assert await rig.step(61.0) == 0  # the entry's TTL: the desk cancels what it manages
    row = await rig.row(wo_id)
    assert row["state"] == "cancelled", row["steps"]
    assert [o.status for o in rig.on_exchange("unsure:entry")] == ["CANCELLED"]  # one order, not resting
    [child] = await rig.children(wo_id)
    assert child.order_id == resting.order_id and child.status == "CANCELLED"
    steps = [s["step"] for s in row["steps"]]
    assert steps[-4:] == ["outcome_unknown", "unsure_settled", "ttl_cancelled", "finished"]


async def test_a_child_recorded_before_a_crash_is_settled_by_the_next_desk_not_resent_beside_it(rig: Rig) -> None:
    """A crash between recording a child and sending it: the restarted desk sends it (same id) and
    works it; the reconciler leaves it alone. Before, the desk ended the entry ("no live order")
    while the reconciler re-sent the child: a post-only bid resting with nobody to cancel it."""
    rig.sim.set_price(PRODUCT, D("101"))
    wo = WorkingOrder(id=working_order_id("unsure:crash"), intent_key="unsure:crash", purpose=Purpose.ENTRY,
                      symbol=PRODUCT, side=Side.BUY, order_type=EntryOrderType.POST_ONLY, source=OrderSource.SIGHOOK,
                      target_size=D("0.5"), started_at=rig.clock.now(),
                      deadline_at=rig.clock.now() + timedelta(seconds=60))
    placer = rig.desk._ctx.placer
    await store.insert(rig.core.sessions, wo, rig.clock.now())
    coid = client_order_id("unsure:crash", 0)
    await placer._record(wo, OrderRequest(client_order_id=coid, product_id=PRODUCT, side=Side.BUY,
                                          kind=OrderKind.LIMIT_GTC, base_size=D("0.5"), limit_price=D("100.99"),
                                          post_only=True), rig.clock.now())
    wo.children = 1
    await rig.desk._ctx.save(wo)  # the process dies here: the row is NEW, nothing was sent
    rig.clock.advance(5)
    await rig.reconciler.run_once("start")
    fresh = WorkingOrderDesk(rig.core.adapter, rig.orders, rig.core.sessions, desk_settings(), rig.clock,
                             settle=rig.core.fills.process_order)
    assert await fresh.recover() == 1
    await fresh.step_all()
    [order] = rig.on_exchange("unsure:crash")
    row = await rig.row(wo.id)
    assert row["state"] == "working" and row["current_order_id"] == order.order_id and order.status == "OPEN"
    assert row["limit_price"] == D("100.99")  # its own price: re-priced from it as the bid moves
    rig.clock.advance(61)
    assert await fresh.step_all() == 0
    assert [o.status for o in rig.on_exchange("unsure:crash")] == ["CANCELLED"]
    assert (await rig.row(wo.id))["state"] == "cancelled"


async def _ended_with_a_new_child(rig: Rig, key: str) -> tuple[WorkingOrder, str]:
    """A working order that ended (failed) while one of its children's rows is still NEW — what the
    desk left behind before children in doubt were kept unsure."""
    wo = WorkingOrder(id=working_order_id(key), intent_key=key, purpose=Purpose.ENTRY, symbol=PRODUCT,
                      side=Side.BUY, order_type=EntryOrderType.POST_ONLY, source=OrderSource.SIGHOOK,
                      target_size=D("0.5"), started_at=rig.clock.now(), deadline_at=None)
    await store.insert(rig.core.sessions, wo, rig.clock.now())
    coid = client_order_id(key, 0)
    await rig.desk._ctx.placer._record(wo, OrderRequest(
        client_order_id=coid, product_id=PRODUCT, side=Side.BUY, kind=OrderKind.LIMIT_GTC, base_size=D("0.5"),
        limit_price=D("100.99"), post_only=True), rig.clock.now())
    wo.state = WorkingState.FAILED
    await rig.desk._ctx.save(wo)
    return wo, coid


async def test_recover_unsent_never_resends_the_child_of_an_ended_working_order(rig: Rig) -> None:
    rig.sim.set_price(PRODUCT, D("101"))
    _wo, coid = await _ended_with_a_new_child(rig, "unsure:orphan-unsent")
    rig.clock.advance(5)
    await rig.orders.recover_unsent()
    assert rig.on_exchange("unsure:orphan-unsent") == []  # nobody would manage it: not sent
    rig.clock.advance(200)  # too old to have been in flight: it never reached the exchange
    await rig.orders.recover_unsent()
    async with rig.core.sessions() as session:
        row = await order_store.find_by_client_order_id(session, coid)
    assert row is not None and row.status == "REJECTED" and rig.on_exchange("unsure:orphan-unsent") == []


async def test_recover_unsent_cancels_an_ended_working_orders_child_the_exchange_has(rig: Rig) -> None:
    rig.sim.set_price(PRODUCT, D("101"))
    _wo, coid = await _ended_with_a_new_child(rig, "unsure:orphan-sent")
    answer = await rig.core.adapter.create_order(OrderRequest(  # the lost first send had got through
        client_order_id=coid, product_id=PRODUCT, side=Side.BUY, kind=OrderKind.LIMIT_GTC, base_size=D("0.5"),
        limit_price=D("100.99"), post_only=True))
    assert answer.success and answer.order_id
    rig.clock.advance(5)
    await rig.reconciler.run_once("test")
    [order] = rig.on_exchange("unsure:orphan-sent")
    assert order.status == "CANCELLED"  # it rested with no working order to manage it
    async with rig.core.sessions() as session:
        row = await order_store.find_by_client_order_id(session, coid)
    assert row is not None and row.order_id == answer.order_id and row.status == "CANCELLED"


async def test_an_escalation_whose_answer_is_lost_is_settled_never_a_second_sell(rig: Rig) -> None:
    """The market sell of an escalated exit is taken (and filled) but its answer is lost. Before, the
    exit ended failed — telling the sentinel nothing was sold, so it would decide another exit —
    while the reconciler re-sent the sell. Now the exit waits, unsure, and finishes on the answer."""
    exits_done: list[tuple[str, bool]] = []
    rig.desk.set_exit_listener(lambda symbol, filled: exits_done.append((symbol, filled)))
    rig.sim.set_price(PRODUCT, D("101"))
    assert (await rig.desk.start_entry(_intent("unsure:exit-buy"))).ok
    rig.sim.set_price(PRODUCT, D("100.95"))
    await rig.step()
    held = rig.core.ledger.position(PRODUCT).size
    assert held > 0
    rig.sim.set_price(PRODUCT, D("98.4"))
    placed = await rig.desk.start_exit(symbol=PRODUCT, size=held, intent_key="unsure:exit", reason=ExitReason.SOFT_STOP,
                                       target_price=D("98.46"), quote_price=D("98.39"), hard_stop_price=D("95.94"),
                                       trigger={})
    assert placed.ok and placed.order_id
    wo_id = working_order_id("unsure:exit")
    rig.sim.set_price(PRODUCT, D("95"))  # through the hard stop: escalate to market
    _lose_create_answers(rig.sim)
    await rig.step()
    row = await rig.row(wo_id)
    assert row["state"] == "unsure" and row["escalated"] and exits_done == []
    assert [o.status for o in rig.on_exchange("unsure:exit")] == ["CANCELLED", "FILLED"]
    # The sentinel's hard stop meanwhile: no second sell beside the one in doubt.
    await rig.desk.escalate_exit(PRODUCT, "hard_stop")
    assert len(rig.on_exchange("unsure:exit")) == 2
    rig.sim.faults.clear()
    await rig.reconciler.run_once("test")
    await rig.step()
    assert await rig.step() == 0
    row = await rig.row(wo_id)
    assert row["state"] == "filled" and row["filled_size"] == held, row["steps"]
    assert exits_done == [(PRODUCT, True)] and rig.core.ledger.position(PRODUCT).size == 0
    children = await rig.children(wo_id)
    assert [(c.order_type, c.status) for c in children] == [("LIMIT", "CANCELLED"), ("MARKET", "FILLED")]
    assert len(rig.on_exchange("unsure:exit")) == 2

"""The desk's fewer statements (issue #22): a new working order's row is written with its first child's
intent, and an accepted child is marked sent by the working order's save. Same rows as the separate
statements wrote, and a crash between any two of them still resumes from the database, never doubling
an order."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D
from typing import Any

from sqlalchemy import text

from core.enums import ExitReason, OrderSource, Side
from exchange.models import OrderKind
from shared_data import direct, order_store
from tests.integration.working_orders.conftest import PRODUCT, Rig
from webhook.order_intent import IntentKind, OrderIntent, client_order_id
from webhook.working_orders import store
from webhook.working_orders.desk import WorkingOrderDesk, working_order_id
from webhook.working_orders.reprice import cancel_child
from webhook.working_orders.types import EntryOrderType, Purpose, Step, StepKind, WorkingOrder, WorkingState

# Every column the child's intent writes (order_store.record_child_intent), bar its keys.
_CHILD_COLUMNS = ("symbol, side, order_type, status, price, size, quote_size, trigger, exit_reason, exit_target_price,"
                  " exit_quote_price, source, ingest_via, order_time, working_order_id, amend_count, escalated")


def _entry(rig: Rig, key: str, **kw: Any) -> WorkingOrder:
    return WorkingOrder(id=working_order_id(key), intent_key=key, purpose=Purpose.ENTRY, symbol=PRODUCT,
                        side=Side.BUY, order_type=EntryOrderType.POST_ONLY, source=OrderSource.SIGHOOK,
                        target_size=D("0.5"), started_at=rig.clock.now(),
                        deadline_at=rig.clock.now() + timedelta(seconds=60), trigger={"k": "v"}, **kw)


async def _restart(rig: Rig) -> WorkingOrderDesk:
    """What a restart does: the reconciler's start pass, then a new desk that recovers the one working order
    from the database and steps it once."""
    rig.clock.advance(5)
    await rig.reconciler.run_once("start")
    fresh = WorkingOrderDesk(rig.core.adapter, rig.orders, rig.core.sessions, rig.desk._ctx.settings, rig.clock,
                             settle=rig.core.fills.process_order)
    assert await fresh.recover() == 1
    await fresh.step_all()
    return fresh


async def _trade_row(rig: Rig, coid: str, columns: str = "*") -> dict[str, Any] | None:
    async with rig.core.sessions() as session:
        found = (await session.execute(text(f"SELECT {columns} FROM trade_records WHERE client_order_id = :c"),
                                       {"c": coid})).first()
    return None if found is None else dict(found._mapping)


async def test_the_first_childs_intent_rides_with_the_working_orders_row_and_writes_what_record_child_intent_does(
        rig: Rig) -> None:
    wo = _entry(rig, "stmts:together", exit_reason=ExitReason.SIGNAL, exit_target_price=D("1.5"))
    now = rig.clock.now()
    coid = client_order_id(wo.intent_key, 0)
    trigger = {**wo.trigger, "working_order_id": wo.id, "post_only": True}
    assert await store.insert_with_child(rig.core.sessions, wo, now, client_order_id=coid, order_type="LIMIT",
                                         price=D("100.99"), size=D("0.5"), trigger=trigger, order_time=now,
                                         refuse_beside_open=True) == store.Inserted(True, False, False)
    assert (await rig.row(wo.id))["state"] == "working"
    # The same child written the separate way (the next children go so), under another id: equal rows.
    other = client_order_id(wo.intent_key, 1)
    await order_store.record_child_intent(
        rig.core.sessions, client_order_id=other, symbol=PRODUCT, side=Side.BUY, order_type="LIMIT",
        price=D("100.99"), size=D("0.5"), source=wo.source, trigger=trigger, exit_reason=wo.exit_reason,
        exit_target_price=wo.exit_target_price, exit_quote_price=None, order_time=now, working_order_id=wo.id,
        amend_count=0, escalated=False)
    mine, theirs = await _trade_row(rig, coid, _CHILD_COLUMNS), await _trade_row(rig, other, _CHILD_COLUMNS)
    assert mine is not None and mine == theirs and mine["status"] == "NEW"
    assert (await _trade_row(rig, coid, "order_id")) == {"order_id": order_store.placeholder_order_id(coid)}
    # The working order recorded before (a replayed intent): nothing is written, so nothing may be sent.
    again = client_order_id(wo.intent_key, 2)
    assert await store.insert_with_child(rig.core.sessions, wo, now, client_order_id=again, order_type="LIMIT",
                                         price=D("1"), size=D("1"), trigger={}, order_time=now,
                                         refuse_beside_open=True) == store.Inserted(False, True, True)
    assert await _trade_row(rig, again) is None
    wo.state = WorkingState.FAILED  # nothing was sent: no later test's desk recovers it or sees open orders
    await rig.desk._ctx.save(wo)
    async with rig.core.sessions() as session, session.begin():
        await session.execute(text("UPDATE trade_records SET status = 'REJECTED' WHERE working_order_id = :w"),
                              {"w": wo.id})


async def test_a_child_accepted_but_never_saved_is_resumed_from_the_database_not_sent_twice(rig: Rig) -> None:
    """The process dies after the exchange accepted the first child and before the save that marks it
    sent: the row says NEW (as while the call was in flight). The next desk settles it by its
    client_order_id and works the order the exchange has; the reconciler leaves it alone."""
    rig.sim.set_price(PRODUCT, D("101"))
    wo = _entry(rig, "stmts:crash", stored=False)
    sent = await rig.desk._ctx.placer.send(wo, kind=OrderKind.LIMIT_GTC, size=wo.target_size, price=D("100.99"),
                                           post_only=True, tick=D("0.01"))
    assert sent.ok and sent.order_id  # ... and the process dies here
    coid = client_order_id("stmts:crash", 0)
    row = await _trade_row(rig, coid)
    assert row is not None and row["status"] == "NEW" and row["order_id"] == order_store.placeholder_order_id(coid)
    assert row["working_order_id"] == wo.id and (await rig.row(wo.id))["current_order_id"] is None
    fresh = await _restart(rig)
    [order] = rig.on_exchange("stmts:crash")
    assert order.order_id == sent.order_id and order.status == "OPEN"
    saved = await rig.row(wo.id)
    assert saved["state"] == "working" and saved["current_order_id"] == sent.order_id
    row = await _trade_row(rig, coid)
    assert row is not None and row["order_id"] == sent.order_id and row["status"] not in ("NEW", "REJECTED")
    rig.clock.advance(61)
    assert await fresh.step_all() == 0
    assert [o.status for o in rig.on_exchange("stmts:crash")] == ["CANCELLED"]


async def test_the_save_marks_each_accepted_child_sent_once_and_never_regresses_it(rig: Rig) -> None:
    rig.sim.set_price(PRODUCT, D("101"))
    placed = await rig.desk.start_entry(OrderIntent(PRODUCT, Side.BUY, IntentKind.POST_ONLY, OrderSource.SIGHOOK,
                                                    "stmts:mark", quote_size=D("100")))
    assert placed.ok and placed.order_id
    wo_id = working_order_id("stmts:mark")
    coid0 = client_order_id("stmts:mark", 0)
    row = await _trade_row(rig, coid0)
    assert row is not None and row["order_id"] == placed.order_id and row["status"] == "PENDING"
    assert row["working_order_id"] == wo_id and row["amend_count"] == 0
    rig.sim.set_price(PRODUCT, D("101.5"))  # the bid moves away: a second child, marked by its save
    await rig.step()
    saved = await rig.row(wo_id)
    assert saved["amend_count"] == 1
    [first, second] = await rig.children(wo_id)
    assert first.status == "CANCELLED" and second.order_id == saved["current_order_id"]
    assert second.status == "PENDING" and second.amend_count == 1
    # A later save changes nothing the fill path recorded meanwhile, and rewrites an unchanged row not at all.
    stamp = datetime(2001, 1, 1, tzinfo=rig.clock.now().tzinfo)
    async with rig.core.sessions() as session, session.begin():
        await session.execute(text("UPDATE trade_records SET status = 'OPEN', updated_at = :t WHERE order_id = :o"),
                              {"t": stamp, "o": second.order_id})
    [wo] = [w for w in rig.desk.working() if w.id == wo_id]
    await rig.desk._ctx.save(wo)
    after = await _trade_row(rig, second.client_order_id, "status, updated_at, order_id")
    assert after == {"status": "OPEN", "updated_at": stamp, "order_id": second.order_id}
    rig.clock.advance(61)
    assert await rig.desk.step_all() == 0
    assert [o.status for o in rig.on_exchange("stmts:mark")] == ["CANCELLED", "CANCELLED"]


async def _working_order_rows(rig: Rig, key: str) -> int:
    async with rig.core.sessions() as session:
        return int((await session.execute(text("SELECT count(*) FROM working_orders WHERE id = :w"),
                                          {"w": working_order_id(key)})).scalar_one())


async def test_a_replayed_entry_or_one_beside_an_open_order_is_answered_as_before_and_writes_and_sends_nothing(
        rig: Rig) -> None:
    """The started / open-order check now rides with the insert; refusals decided before it still give
    the answer it gave first (a duplicate before an open order, both before any other refusal)."""
    def intent(key: str, quote: str = "100") -> OrderIntent:
        return OrderIntent(PRODUCT, Side.BUY, IntentKind.POST_ONLY, OrderSource.SIGHOOK, key, quote_size=D(quote))

    rig.sim.set_price(PRODUCT, D("101"))
    first = await rig.desk.start_entry(intent("stmts:replayed"))
    assert first.ok and first.order_id
    rig.clock.advance(61)
    assert await rig.desk.step_all() == 0  # cancelled at its TTL: no longer working in memory
    for quote in ("100", "0.000001"):  # sendable, and too small to send: a duplicate either way
        again = await rig.desk.start_entry(intent("stmts:replayed", quote))
        assert again.ok and again.duplicate and again.order_id == first.order_id, again
    assert len(rig.on_exchange("stmts:replayed")) == 1
    # An open BUY of the symbol recorded elsewhere (a plain order, still NEW): no entry beside it.
    blocker = client_order_id("stmts:blocker")
    async with rig.core.sessions() as session, session.begin():
        await order_store.record_intent(
            session, client_order_id=blocker, symbol=PRODUCT, side=Side.BUY, order_type="LIMIT", price=D("90"),
            size=D("1"), quote_size=None, source=OrderSource.SIGHOOK, trigger={}, exit_reason=None,
            exit_target_price=None, exit_quote_price=None, order_time=rig.clock.now())
    for quote in ("100", "0.000001"):
        refused = await rig.desk.start_entry(intent("stmts:beside", quote))
        assert not refused.ok and refused.error == "OPEN_ORDER_SAME_SIDE", refused
    assert await _working_order_rows(rig, "stmts:beside") == 0 and rig.on_exchange("stmts:beside") == []
    assert await _trade_row(rig, client_order_id("stmts:beside", 0)) is None
    async with rig.core.sessions() as session, session.begin():
        await order_store.mark_rejected(session, blocker, "test over")
    placed = await rig.desk.start_entry(intent("stmts:beside"))  # nothing open now: worked as usual
    assert placed.ok and placed.order_id and await _working_order_rows(rig, "stmts:beside") == 1
    rig.clock.advance(61)
    assert await rig.desk.step_all() == 0


async def test_a_re_priced_child_accepted_but_never_saved_is_worked_by_the_next_desk_not_left_resting(
        rig: Rig) -> None:
    """A crash after the exchange accepted a re-priced child, before the save: the working order still
    points at the cancelled child. The new child's row is still NEW (marked sent only by that save, in
    the same statement), so the next desk settles and works it. (With a separate mark_sent before the
    save, a crash between the two left it PENDING and unowned: resting with nobody to cancel it.)"""
    rig.sim.set_price(PRODUCT, D("101"))
    placed = await rig.desk.start_entry(OrderIntent(PRODUCT, Side.BUY, IntentKind.POST_ONLY, OrderSource.SIGHOOK,
                                                    "stmts:reprice-crash", quote_size=D("100")))
    assert placed.ok and placed.order_id
    [wo] = [w for w in rig.desk.working() if w.intent_key == "stmts:reprice-crash"]
    final = await cancel_child(rig.desk._ctx, wo)
    assert final is not None and final.status == "CANCELLED"
    sent = await rig.desk._ctx.placer.send(wo, kind=OrderKind.LIMIT_GTC, size=wo.remaining, price=D("101.49"),
                                           post_only=True, tick=D("0.01"))
    assert sent.ok and sent.order_id  # ... and the process dies here
    assert (await rig.row(wo.id))["current_order_id"] == placed.order_id
    fresh = await _restart(rig)
    saved = await rig.row(wo.id)
    assert saved["state"] == "working" and saved["current_order_id"] == sent.order_id
    assert fresh.owns(sent.order_id)
    rig.clock.advance(61)
    assert await fresh.step_all() == 0
    assert [o.status for o in rig.on_exchange("stmts:reprice-crash")] == ["CANCELLED", "CANCELLED"]
    assert (await rig.row(wo.id))["state"] == "cancelled"


async def _child(rig: Rig, order_id: str, working: str | None, pnl: D | None) -> None:
    await direct.execute(
        rig.core.sessions, "INSERT INTO trade_records (order_id, client_order_id, symbol, side, order_type, status,"
        " source, ingest_via, working_order_id, pnl_usd) VALUES ($1, $1, 'PNL-USD', 'SELL', 'LIMIT', 'FILLED',"
        " 'webhook', 'rest', $2, $3)", order_id, working, pnl)


def _exit(rig: Rig, key: str) -> WorkingOrder:
    return WorkingOrder(id=working_order_id(key), intent_key=key, purpose=Purpose.EXIT, symbol="PNL-USD",
                        side=Side.SELL, order_type=EntryOrderType.LIMIT, source=OrderSource.WEBHOOK,
                        target_size=D("2"), started_at=rig.clock.now(), deadline_at=None,
                        exit_reason=ExitReason.SOFT_STOP, state=WorkingState.FILLED, filled_before=D("2"))


async def test_a_save_asked_for_the_realized_pnl_writes_what_the_plain_save_writes_and_returns_the_childrens_sum(
        rig: Rig) -> None:
    """The final save of an exit reads its children's P&L (the breakers' count) in the same statement: the
    row it writes is the plain save's, and the sum is what a read after the save sees, the child the save
    links included; no child with a P&L: None."""
    now = rig.clock.now()
    plain, mine = _exit(rig, "stmts:pnl-plain"), _exit(rig, "stmts:pnl")
    for wo in (plain, mine):
        assert await store.insert(rig.core.sessions, wo, now)
    await _child(rig, "pnl-a", mine.id, D("-3"))
    await _child(rig, "pnl-b", mine.id, None)
    await _child(rig, "pnl-c", None, D("-1.25"))  # linked to it by this save
    await _child(rig, "pnl-d", "wo-other", D("99"))
    step = Step(now, StepKind.FINISHED, {"why": "test"})
    assert await store.save(rig.core.sessions, plain, step, now, link="pnl-x") is None
    pnl = await store.save(rig.core.sessions, mine, step, now, link="pnl-c", realized_pnl=True)
    assert pnl == D("-4.25")
    read = await direct.fetchrow(rig.core.sessions,
                                 "SELECT sum(pnl_usd) FROM trade_records WHERE working_order_id = $1", mine.id)
    assert read is not None and read[0] == pnl
    keep = ("id", "intent_key")
    written, expected = await rig.row(mine.id), await rig.row(plain.id)
    assert {k: v for k, v in written.items() if k not in keep} == {k: v for k, v in expected.items() if k not in keep}
    assert written["state"] == "filled" and written["finished_at"] == now and len(written["steps"]) == 1
    # Without a link, and with no child's P&L known yet.
    empty = _exit(rig, "stmts:pnl-none")
    assert await store.insert(rig.core.sessions, empty, now)
    await _child(rig, "pnl-e", empty.id, None)
    assert await store.save(rig.core.sessions, empty, None, now, realized_pnl=True) is None
    assert (await rig.row(empty.id))["state"] == "filled"
    assert await store.save(rig.core.sessions, mine, None, now, realized_pnl=True) == D("-4.25")

"""A filled passive buy gets its exchange-side bracket at once; a bracket cancelled behind the
daemon's back is re-armed; the fifth failure hands the position to the sentinel with a notification."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from sqlalchemy import select

from core.enums import OrderStatus
from shared_data.models import Fill as FillRow
from tests.integration.passive.conftest import PRODUCT, Core, Passive, make_passive
from webhook.passive.manager import HANDOVER_TOPIC

SIZE = D("0.99661152")  # 100 USD at the 100.34 bid


@pytest.fixture(scope="module")
async def p(core: Core) -> Passive:
    return await make_passive(core)


async def test_passive_buy_fills_and_immediately_gets_its_bracket(p: Passive) -> None:
    p.sim.set_price(PRODUCT, D("101"))
    await p.step()
    state = p.manager.state(PRODUCT)
    assert state.bid is not None and state.bid.price == D("100.34")
    bid_id = state.bid.order_id
    p.sim.set_price(PRODUCT, D("100.3"))  # trades through our bid: it fills as maker
    await p.step()
    # The same step recorded the buy and armed the bracket: TP 1.5 % above, stop 2 % below the fill.
    [bracket] = state.brackets
    assert bracket.buy_order_id == bid_id and bracket.size == SIZE and bracket.entry_price == D("100.34")
    order = await p.core.adapter.get_order(bracket.order_id or "")
    assert order.order_type == "BRACKET" and order.side.value == "SELL" and order.status is OrderStatus.OPEN
    assert order.limit_price == D("101.85")  # 100.34 × 1.015 = 101.8451, up to the tick
    assert order.stop_price == D("98.33")  # 100.34 × 0.98 = 98.3332, down to the tick
    assert order.base_size == SIZE
    assert p.position() == SIZE
    async with p.core.sessions() as session:
        fills = list((await session.execute(select(FillRow).where(FillRow.order_id == bid_id))).scalars())
    assert {f.liquidity_indicator for f in fills} == {"MAKER"} and sum(f.size for f in fills) == SIZE
    [row] = await p.rows("order_id = :o", o=bracket.order_id)
    assert row.trigger["passive"] == "bracket" and row.trigger["buy_order_id"] == bid_id
    assert row.exit_reason is None  # known once a leg fills
    assert p.manager.owns(PRODUCT)  # the sentinel leaves a bracketed position alone


async def test_bracket_cancelled_behind_the_daemons_back_is_re_armed(p: Passive) -> None:
    state = p.manager.state(PRODUCT)
    [bracket] = state.brackets
    first = bracket.order_id or ""
    [cancelled] = await p.core.adapter.cancel_orders([first])  # another client (or a person) cancels it
    assert cancelled.success
    await p.step()
    assert bracket.failures == 1 and bracket.order_id not in (None, first)
    old, new = await p.core.adapter.get_order(first), await p.core.adapter.get_order(bracket.order_id or "")
    assert old.status is OrderStatus.CANCELLED
    assert (new.status, new.order_type, new.limit_price, new.stop_price, new.base_size) == (
        OrderStatus.OPEN, "BRACKET", D("101.85"), D("98.33"), SIZE)
    assert [o.order_id for o in await p.open_orders("SELL")] == [new.order_id]
    assert p.manager.owns(PRODUCT) and p.notes == []


async def test_fifth_failure_hands_the_position_to_the_sentinel_with_a_notification(p: Passive) -> None:
    state = p.manager.state(PRODUCT)
    [bracket] = state.brackets
    for failures in (2, 3, 4):
        await p.core.adapter.cancel_orders([bracket.order_id or ""])
        await p.step()
        assert bracket.failures == failures and bracket.order_id is not None and not state.handed_over
        assert len(await p.open_orders("SELL")) == 1
    await p.core.adapter.cancel_orders([bracket.order_id or ""])
    await p.step()
    assert state.handed_over and state.brackets == [] and not p.manager.owns(PRODUCT)
    assert await p.open_orders("SELL") == []
    [(topic, message)] = p.notes
    assert topic == HANDOVER_TOPIC and "failed 5 times" in message and "sentinel" in message
    # Five bracket orders were sent for this buy: the first arming and four re-arms.
    rows = await p.rows("trigger->>'passive' = 'bracket'")
    assert len(rows) == 5 and {r.status for r in rows} == {"CANCELLED"}
    # While the sentinel owns the position the manager does not add to it.
    await p.step()
    assert state.bid is None and state.withheld == "handed_to_sentinel"

"""Passive quotes on the simulator: placed from the book, refreshed when the mid moves, kept within
tolerance, withdrawn on a tripped breaker or a full inventory, and held by the order-rate guard."""

from __future__ import annotations

from decimal import Decimal as D

from core.enums import OrderStatus, Side
from exchange.models import OrderKind, OrderRequest
from tests.integration.passive.conftest import PRODUCT, Core, make_passive
from webhook.order_intent import client_order_id


async def test_quote_placed_from_the_book_and_refreshed_when_the_mid_moves(core: Core) -> None:
    p = await make_passive(core)
    p.sim.set_price(PRODUCT, D("101"))
    await p.step()
    state = p.manager.state(PRODUCT)
    assert state.bid is not None
    # half spread = (2 × 0.6 % maker + 0.1 % edge) / 2 = 0.65 % below the 101 mid, floored to the tick
    assert state.bid.price == D("100.34") and state.bid.size == D("0.99661152")
    [live] = await p.open_orders("BUY")
    assert live.order_id == state.bid.order_id and live.post_only and live.limit_price == D("100.34")
    first = state.bid.order_id

    await p.step(40)  # refresh time passed, same mid: same price, the quote keeps its queue place
    assert state.bid.order_id == first and state.replaced == 0

    p.sim.set_price(PRODUCT, D("102"))  # mid moved ~1 % (> 0.2 %): replaced at once
    await p.step()
    assert state.bid.order_id != first and state.bid.price == D("101.33") and state.replaced == 1
    old = await core.adapter.get_order(first)
    assert old.status is OrderStatus.CANCELLED and old.filled_size == 0
    [live] = await p.open_orders("BUY")
    assert live.order_id == state.bid.order_id and live.limit_price == D("101.33")
    await p.manager._cancel_bid(state, "test end")


async def test_quote_withdrawn_when_a_breaker_trips_and_back_after_resume(core: Core) -> None:
    p = await make_passive(core)
    p.sim.set_price(PRODUCT, D("101"))
    await p.step()
    state = p.manager.state(PRODUCT)
    assert state.bid is not None
    bid_id = state.bid.order_id
    await p.risk.halt("test: operator halt")
    try:
        await p.step()
        assert state.bid is None and state.withheld == "breaker_tripped"
        assert (await core.adapter.get_order(bid_id)).status is OrderStatus.CANCELLED
        assert await p.open_orders("BUY") == []
        await p.step(60)
        assert state.bid is None  # nothing quoted while it stays tripped
    finally:
        await p.risk.resume(reason="test")
    await p.step()
    assert state.bid is not None and state.withheld is None
    await p.manager._cancel_bid(state, "test end")


async def test_quote_withdrawn_when_the_inventory_cap_is_reached(core: Core) -> None:
    p0 = p = await make_passive(core, passive_max_inventory_usd="150", passive_inventory_skew=False)
    p.sim.set_price(PRODUCT, D("101"))
    before = p.position()
    assert before * D("101") < D("150")  # this module's earlier tests left no position
    await p.step()
    state = p.manager.state(PRODUCT)
    assert state.bid is not None
    bid_id = state.bid.order_id
    # The signal-entry strategy buys 2 ETH of the same product (a taker order outside the manager).
    placed = await core.adapter.create_order(OrderRequest(
        client_order_id=client_order_id("test:signal-entry"), product_id=PRODUCT, side=Side.BUY,
        kind=OrderKind.MARKET, base_size=D("2")))
    assert placed.success and placed.order_id
    await core.fills.process_order(placed.order_id)
    assert p.position() - before == D("2")
    await p0.step()
    assert state.bid is None and state.withheld == "inventory_cap"
    assert (await core.adapter.get_order(bid_id)).status is OrderStatus.CANCELLED
    assert await p.open_orders("BUY") == []


async def test_order_rate_guard_holds_under_a_flapping_price(core: Core) -> None:
    p = await make_passive(core, passive_max_orders_per_min=3)
    state = p.manager.state(PRODUCT)
    before = {r.client_order_id for r in await p.rows("trigger->>'passive' = 'quote'")}
    for i in range(20):  # the mid flaps 0.5 % every second (over the 0.2 % threshold): every step wants a new quote
        p.sim.set_price(PRODUCT, D("120") if i % 2 else D("120.6"))
        await p.step(1)
    sent = [r for r in await p.rows("trigger->>'passive' = 'quote'") if r.client_order_id not in before]
    assert len(sent) == 3  # 3 orders in the first minute, no more
    assert state.placed == 3 and state.rate_limited >= 8  # every other step the mid is back at the quote's
    assert len(await p.open_orders("BUY")) == 1  # never more than one live quote
    await p.step(60)  # the window moved on: one more replacement is allowed
    p.sim.set_price(PRODUCT, D("120"))
    await p.step(1)
    sent = [r for r in await p.rows("trigger->>'passive' = 'quote'") if r.client_order_id not in before]
    assert len(sent) in (4, 5) and len(await p.open_orders("BUY")) == 1
    await p.manager._cancel_bid(state, "test end")

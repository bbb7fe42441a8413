"""A partly filled passive bid: the rest is cancelled and the filled part bracketed at once. A
bracket whose send crashed before the exchange answered is re-sent by recover_unsent as a bracket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from core.enums import OrderSource, OrderStatus, Side
from core.money import quantize_down
from exchange.models import OrderKind, OrderRequest
from shared_data import order_store
from shared_data.db import unit_of_work
from simulator.app import RunningSimulator, start_simulator
from tests.integration.passive.conftest import PRODUCT, Core, make_passive
from tests.integration.webhook.conftest import sim_config
from webhook.order_intent import client_order_id


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    # Resting orders fill only 50 USD per price move through them: a 100 USD bid fills in part.
    running = await start_simulator(sim_config(Path(tmp_path_factory.mktemp("sim")),
                                               maker_fill_notional_per_tick=D("50"),
                                               initial_balances={"USD": D("100000")}))
    try:
        yield running
    finally:
        await running.stop()


async def test_partly_filled_bid_is_cancelled_and_its_filled_part_bracketed(core: Core) -> None:
    p = await make_passive(core, passive_filled_delay_s=3600)
    p.sim.set_price(PRODUCT, D("101"))
    await p.step()
    state = p.manager.state(PRODUCT)
    assert state.bid is not None and state.bid.size == D("0.99661152")
    bid_id = state.bid.order_id
    p.sim.set_price(PRODUCT, D("100.3"))
    await p.step()
    bid = await core.adapter.get_order(bid_id)
    part = quantize_down(D("50") / D("100.34"), D("0.00000001"))
    assert bid.status is OrderStatus.CANCELLED and bid.filled_size == part
    [bracket] = state.brackets
    order = await core.adapter.get_order(bracket.order_id or "")
    assert (order.order_type, order.base_size, order.limit_price, order.stop_price) == (
        "BRACKET", part, D("101.85"), D("98.33"))
    assert p.position() == part and state.bid is None


async def test_recover_unsent_resends_a_bracket_row_as_a_bracket(core: Core) -> None:
    coid = client_order_id("test:crashed-bracket")
    size = D("0.1")
    p = await make_passive(core)
    # A market buy gives the coins the bracket sells.
    placed = await core.adapter.create_order(OrderRequest(client_order_id=client_order_id("test:mkt"),
                                                          product_id=PRODUCT, side=Side.BUY, kind=OrderKind.MARKET,
                                                          base_size=size))
    assert placed.success and placed.order_id
    await core.fills.process_order(placed.order_id)
    # The crash: the row was written (status NEW), the exchange never answered.
    async with unit_of_work(core.sessions) as session:
        await order_store.record_intent(
            session, client_order_id=coid, symbol=PRODUCT, side=Side.SELL, order_type="BRACKET", price=D("105"),
            size=size, quote_size=None, source=OrderSource.WEBHOOK,
            trigger={"passive": "bracket", "take_profit": "105", "bracket_stop": "95", "entry_price": "100.3"},
            exit_reason=None, exit_target_price=D("105"), exit_quote_price=None,
            order_time=core.orders._clock.now() - timedelta(seconds=10))
    assert await core.orders.recover_unsent(max_age_s=3600) >= 1
    [row] = await p.rows("client_order_id = :c", c=coid)
    order = await core.adapter.get_order(row.order_id)
    assert (order.order_type, order.limit_price, order.stop_price, order.base_size) == (
        "BRACKET", D("105"), D("95"), size)

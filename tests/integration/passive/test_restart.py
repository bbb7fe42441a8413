"""A restart adopts the brackets the previous run left (they keep protecting their positions) and
cancels its quotes; the adopted bracket's fill is still recorded with its reason."""

from __future__ import annotations

from decimal import Decimal as D

from core.enums import OrderStatus
from tests.integration.passive.conftest import PRODUCT, Core, make_passive


async def test_restart_adopts_brackets_and_cancels_old_quotes(core: Core) -> None:
    first = await make_passive(core, passive_filled_delay_s=0)
    first.sim.set_price(PRODUCT, D("101"))
    await first.step()
    first.sim.set_price(PRODUCT, D("100.3"))
    await first.step()  # filled → bracket armed, and a new bid at the 100.3 mid
    [bracket] = first.manager.state(PRODUCT).brackets
    old_bid = first.manager.state(PRODUCT).bid
    assert bracket.order_id is not None and old_bid is not None

    second = await make_passive(core)  # the process restarted: a new manager, same database and exchange
    assert await second.manager.recover() == 1
    state = second.manager.state(PRODUCT)
    [adopted] = state.brackets
    assert adopted.order_id == bracket.order_id and adopted.prices == bracket.prices
    assert adopted.entry_price == D("100.34") and second.manager.owns(PRODUCT)
    assert (await core.adapter.get_order(old_bid.order_id)).status is OrderStatus.CANCELLED
    second.sim.set_price(PRODUCT, D("102"))
    await second.step()
    [row] = await second.rows("order_id = :o", o=bracket.order_id)
    assert row.exit_reason == "bracket_take_profit" and row.status == "FILLED"
    assert state.brackets == []
    await second.manager._cancel_bid(state, "test end")


async def test_a_bracket_that_filled_while_the_daemon_was_down_gets_its_reason_on_restart(core: Core) -> None:
    first = await make_passive(core, passive_filled_delay_s=3600)
    first.sim.set_price(PRODUCT, D("101"))
    await first.step()
    first.sim.set_price(PRODUCT, D("100.3"))
    await first.step()
    [bracket] = first.manager.state(PRODUCT).brackets
    assert bracket.order_id is not None
    # The daemon is down; the stop leg fills; the reconciler of the next start records the sell.
    first.sim.set_price(PRODUCT, D("97"))
    await core.fills.process_order(bracket.order_id)
    [row] = await first.rows("order_id = :o", o=bracket.order_id)
    assert row.status == "FILLED" and row.exit_reason is None
    second = await make_passive(core)
    assert await second.manager.recover() == 0
    [row] = await second.rows("order_id = :o", o=bracket.order_id)
    assert row.exit_reason == "bracket_stop" and row.exit_target_price == bracket.prices.stop_trigger
    assert second.manager.state(PRODUCT).brackets == []

"""ALLOW_BUYS_ON_RED_DAY=false refuses an entry with its own reason code; nothing is recorded or sent."""

from __future__ import annotations

from decimal import Decimal as D

from sqlalchemy import text

from core.clock import ManualClock
from core.enums import OrderSource, Side
from simulator.app import RunningSimulator
from tests.integration.webhook.conftest import build_core
from tests.integration.working_orders.conftest import desk_settings
from webhook.order_intent import IntentKind, OrderIntent
from webhook.working_orders.desk import RISK_REFUSALS, WorkingOrderDesk


async def test_red_day_filter_refuses_a_buy_and_orders_nothing(sim: RunningSimulator, db_sessions) -> None:  # type: ignore[no-untyped-def]
    core = await build_core(sim, sim.create_api_key(), db_sessions)
    sim.set_price("BTC-USD", D("30000"))  # from 60000: the 24 h change is about −50 %
    product = await core.adapter.get_product("BTC-USD")
    assert product.price_change_24h_pct < 0
    red = WorkingOrderDesk(core.adapter, core.orders, core.sessions, desk_settings(allow_buys_on_red_day=False),
                           ManualClock(), settle=core.fills.process_order)
    intent = OrderIntent("BTC-USD", Side.BUY, IntentKind.POST_ONLY, OrderSource.TRADINGVIEW, "red:1",
                         quote_size=D("100"))
    refused = await red.start_entry(intent)
    assert not refused.ok and refused.error == "RED_DAY" and refused.error in RISK_REFUSALS
    assert "ALLOW_BUYS_ON_RED_DAY=false" in (refused.detail or "")
    async with core.sessions() as session:
        rows = (await session.execute(text(
            "SELECT (SELECT count(*) FROM trade_records WHERE symbol = 'BTC-USD'),"
            " (SELECT count(*) FROM working_orders WHERE symbol = 'BTC-USD')"))).one()
    assert tuple(rows) == (0, 0)
    assert sim.engine.open_orders("BTC-USD") == []
    # The same entry with the filter off (the default) is placed.
    green = WorkingOrderDesk(core.adapter, core.orders, core.sessions, desk_settings(), ManualClock(),
                             settle=core.fills.process_order)
    placed = await green.start_entry(intent)
    assert placed.ok, placed

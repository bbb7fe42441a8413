"""An alert's post-only entry is checked against MAX_POSITION_PCT at the fee the desk sizes it with.

The desk turns a USD budget into base units at the maker fee (every child of a post-only entry is
post-only), so 100 USD buys 100 / 1.006 = 99.40 USD of ETH on the simulator's tier. Checked at the
taker fee (100 / 1.012 = 98.81 USD), a position cap of 99.10 USD let it through and the exchange
then held 99.40 USD: the cap was exceeded by what was actually sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal as D

from core.clock import ManualClock, utcnow
from core.enums import AlertStatus
from core.settings import load_settings
from exchange.models import Balance
from market_data.market_cache import MarketCache
from risk.manager import RiskManager
from tests.integration.working_orders.conftest import PRODUCT, Desk
from webhook.alert_executor import AlertOrderExecutor
from webhook.alerts.contract import StoredAlert
from webhook.alerts.entry_context import EntryContext
from webhook.working_orders.desk import working_order_id

ACCOUNT = D("10000")  # the simulator's cash; nothing else is held in this module


def _executor(desk: Desk, position_pct: str) -> tuple[AlertOrderExecutor, MarketCache, ManualClock]:
    core = desk.core
    settings = load_settings(max_order_notional_usd="1000", max_position_pct=position_pct,
                             max_consecutive_losses=1000, daily_loss_limit_usd="1000000000")
    cache, quote_clock = MarketCache(), ManualClock()

    def account_value(_balances: Mapping[str, Balance]) -> D:
        return ACCOUNT

    facts = EntryContext(core.adapter, core.sessions, cache, quote_clock, account_value, core.orders.product,
                         core.orders.taker_fee_rate, core.orders.maker_fee_rate)
    executor = AlertOrderExecutor(core.orders, RiskManager(core.sessions, settings), settings, facts,
                                  position_size=lambda _symbol: D(0), entries=desk.desk)
    return executor, cache, quote_clock


async def _alert(desk: Desk, position_pct: str, key: str) -> tuple[AlertStatus, str | None]:
    executor, cache, quote_clock = _executor(desk, position_pct)
    [top] = await desk.core.adapter.get_best_bid_ask([PRODUCT])
    cache.update(PRODUCT, top.ask, received_mono=quote_clock.monotonic(), received_at=utcnow(), best_bid=top.bid,
                 best_ask=top.ask)
    alert = StoredAlert(id=1, dedup_key=key, source="sighook", symbol=PRODUCT, action="buy", quantity=None,
                        notional=D("100"), price=None, timenow=None, strategy=None, received_at=utcnow(), attempts=1)
    outcome = await executor.execute(alert)
    return outcome.status, outcome.code


async def test_a_post_only_alert_entry_is_position_checked_at_the_maker_fee_it_is_sized_with(desk: Desk) -> None:
    desk.sim.set_price(PRODUCT, D("101"))
    # Cap 99.10 USD: 100 USD at the maker fee buys 99.40 USD of ETH — refused, nothing sent.
    status, code = await _alert(desk, "0.991", "pos-cap:over")
    assert (status, code) == (AlertStatus.REJECTED_RISK, "over_position_cap")
    assert desk.sim.engine.orders == {} and desk.desk.working() == [] and not desk.desk.has_working()
    # Cap 99.50 USD: ordered, and what the exchange then holds is within it.
    status, _code = await _alert(desk, "0.995", "pos-cap:within")
    assert status is AlertStatus.ORDERED
    desk.sim.set_price(PRODUCT, D("100.9"))  # trades through the bid: filled as maker
    await desk.step()
    row = await desk.row(working_order_id("alert:pos-cap:within"))
    assert row["state"] == "filled"
    base = desk.sim.balances()["ETH"]
    held_usd = (base[0] + base[1]) * D("101.01")  # valued at the ask the cap was checked at
    assert D("99.3") < held_usd <= ACCOUNT * D("0.995") / 100


async def test_an_alert_entry_sees_a_halt_made_elsewhere_through_the_rows_read_with_its_facts(desk: Desk) -> None:
    # The breaker rows come with the entry facts' read (one statement) and the risk manager checks those:
    # a halt committed by another process (the CLI) before the alert refuses it; after resume it is ordered.
    desk.sim.set_price(PRODUCT, D("101"))
    cli = RiskManager(desk.core.sessions, load_settings())
    await cli.halt("operator")
    sent = len(desk.sim.engine.orders)
    try:
        status, code = await _alert(desk, "50", "halted:refused")
        assert (status, code) == (AlertStatus.REJECTED_RISK, "breaker_tripped")
        assert len(desk.sim.engine.orders) == sent
    finally:
        await cli.resume()
    status, _code = await _alert(desk, "50", "halted:resumed")
    assert status is AlertStatus.ORDERED

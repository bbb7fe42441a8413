"""A post-only entry sized by the one sizing function costs at most MAX_ORDER_NOTIONAL_USD on the
exchange's own ledger, even re-priced up to its price ceiling: the desk sizes it at the maker fee,
which is what every child of a post-only entry pays (none of them can take liquidity)."""

from __future__ import annotations

from decimal import Decimal as D

from core.enums import OrderSource, Side
from tests.integration.working_orders.conftest import PRODUCT, Desk
from webhook.alerts.sizing import EntryRequest, Exposure, LiveQuote, ProductRules, SizedEntry, SizingLimits, size_entry
from webhook.order_intent import IntentKind, OrderIntent
from webhook.working_orders.desk import working_order_id
from webhook.working_orders.types import EntryOrderType

CAP = D("100")


async def test_a_post_only_entry_at_the_order_cap_costs_no_more_than_the_cap(desk: Desk) -> None:
    desk.sim.set_price(PRODUCT, D("101"))
    [top] = await desk.core.adapter.get_best_bid_ask([PRODUCT])
    limits = SizingLimits(max_order_notional_usd=CAP, max_position_pct=D("100"), max_quote_age_s=30,
                          max_price_deviation_pct=D("2"), taker_fee_rate=await desk.core.orders.taker_fee_rate(),
                          default_quote_usd={"*": CAP})
    sized = size_entry(EntryRequest(PRODUCT, "sighook", quote_size=CAP), LiveQuote(top.ask, 0.0),
                       ProductRules.of(await desk.core.orders.product(PRODUCT)), Exposure(D(0), D(0), D("10000")),
                       limits)
    assert isinstance(sized, SizedEntry) and sized.cost_usd == CAP
    # Built as the alert executor builds it: the checked quote budget, the ask as the price ceiling.
    intent = OrderIntent(PRODUCT, Side.BUY, IntentKind.MARKET, OrderSource.SIGHOOK, "cap:post-only",
                         quote_size=sized.quote_size, limit_price=sized.reference_price)
    placed = await desk.desk.start_entry(intent, EntryOrderType.POST_ONLY)
    assert placed.ok
    desk.sim.set_price(PRODUCT, D("102"))  # the bid runs away: re-priced, but only up to the ceiling
    await desk.step()
    wo_id = working_order_id("cap:post-only")
    assert (await desk.row(wo_id))["limit_price"] == top.ask
    desk.sim.set_price(PRODUCT, D("100.9"))  # trades through the ceiling: filled there, as maker
    await desk.step()
    row = await desk.row(wo_id)
    assert row["state"] == "filled"
    children = {c.order_id for c in await desk.children(wo_id)}
    fills = [f for f in desk.sim.all_fills() if f["order_id"] in children]
    assert fills and {f["liquidity_indicator"] for f in fills} == {"MAKER"}
    spent = sum(D(f["size"]) * D(f["price"]) + D(f["commission"]) for f in fills)
    assert CAP - D("0.02") < spent <= CAP  # the whole budget, and not a cent above the cap

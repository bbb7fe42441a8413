"""A quote-sized market buy leaves sub-increment dust after its exit: the dust is no position for
sighook's entry check, the open_positions view or the position book, and is shown as dust."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from sqlalchemy import text

from core.enums import OrderSource, Side
from core.money import quantize_down
from core.position_rule import SizeRule, is_position
from shared_data import product_rules
from shared_data.db import unit_of_work
from sighook.entry_alerts import read_blockers
from tests.integration.webhook.conftest import PRODUCT, Core, core, sim  # noqa: F401 (fixtures)
from webhook.order_intent import IntentKind, OrderIntent
from webhook.positions import PositionBook


async def test_dust_after_a_round_trip_is_not_a_position_anywhere(core: Core) -> None:  # noqa: F811
    product = await core.adapter.get_product(PRODUCT)
    async with unit_of_work(core.sessions) as session:
        await product_rules.record(session, [product], datetime.now(UTC))
    buy = await core.orders.place(OrderIntent(PRODUCT, Side.BUY, IntentKind.MARKET, OrderSource.SIGHOOK,
                                              "dust:buy", quote_size=D("100")))
    assert buy.ok and buy.order_id
    await core.fills.process_order(buy.order_id)
    held = core.ledger.position(PRODUCT).size
    sell_size = quantize_down(held, product.base_increment)
    assert sell_size < held  # the quote-sized buy filled finer than the product's increment
    sell = await core.orders.place(OrderIntent(PRODUCT, Side.SELL, IntentKind.MARKET, OrderSource.WEBHOOK,
                                               "dust:sell", base_size=sell_size))
    assert sell.ok and sell.order_id
    await core.fills.process_order(sell.order_id)
    dust = core.ledger.position(PRODUCT).size
    assert 0 < dust < product.base_increment
    rule = SizeRule(product.base_increment, product.base_min_size)
    assert not is_position(dust, rule)
    book = PositionBook(core.ledger, sellable=lambda _s, size: is_position(size, rule))
    assert book.size_of(PRODUCT) == 0 and [p for p in book.open_positions() if p.symbol == PRODUCT] == []
    async with core.sessions() as session:
        view = (await session.execute(text("SELECT count(*) FROM open_positions WHERE symbol = :s"),
                                      {"s": PRODUCT})).scalar_one()
        shown = (await session.execute(text("SELECT size FROM dust_balances WHERE symbol = :s"),
                                       {"s": PRODUCT})).scalar_one()
    blockers = await read_blockers(core.sessions)
    assert view == 0 and shown == dust
    assert PRODUCT not in blockers.positions  # sighook will enter this product again

"""The replay venue's fills keep the engine's order inside one virtual second (FIFO's total order)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from core.enums import Side
from exchange.models import OrderKind, OrderRequest
from fifo_engine.model import fill_key
from replay.clock import VirtualClock
from replay.venue import InProcessExchange
from simulator.engine.types import EngineConfig
from webhook.fill_recorder import to_fact


async def test_fills_of_one_virtual_second_sort_in_the_engine_order() -> None:
    clock = VirtualClock(datetime(2026, 1, 1, tzinfo=UTC))
    venue = InProcessExchange(EngineConfig(), {"BTC-USD": (Decimal("100.00"), Decimal("0.01"))}, clock,
                              Decimal("10000"))
    clock.advance(60)
    # A resting bid filled by the market trading through it, then sells and buys at that same instant:
    # (a post-only entry filled at a point, and the hard stop the sentinel sends on that point).
    await venue.create_order(OrderRequest(client_order_id="bid", product_id="BTC-USD", side=Side.BUY,
                                          kind=OrderKind.LIMIT_GTC, base_size=Decimal("1"),
                                          limit_price=Decimal("99.99"), post_only=True))
    venue.move("BTC-USD", Decimal("95.00"))
    for i, side in enumerate([Side.SELL, Side.BUY, Side.SELL, Side.BUY, Side.SELL, Side.SELL]):
        await venue.create_order(OrderRequest(client_order_id=f"m{i}", product_id="BTC-USD", side=side,
                                              kind=OrderKind.MARKET, base_size=Decimal("0.2")))
    engine_order = [f.trade_id for f in venue.engine.fills]
    fills = (await venue.list_fills()).items
    assert len(fills) == 7 and {f.trade_time for f in fills} == {clock.now()}
    assert [f.trade_id for f in fills] == engine_order
    assert [f.trade_id for f in sorted(fills, key=lambda f: fill_key(to_fact(f)))] == engine_order
    assert [f.sequence_timestamp for f in fills] == sorted({f.sequence_timestamp for f in fills})
    # The trade ids alone would not give that order (they are random; FIFO breaks ties by them last).
    assert sorted(engine_order) != engine_order

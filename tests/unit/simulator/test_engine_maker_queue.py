"""Maker semantics: time priority at a level, trade-through fills, post-only rejection (pure engine)."""

from __future__ import annotations

from tests.unit.simulator.helpers import T0, D, limit, make_engine

MAKER = D("0.006")


def _best_bid(e, pid: str = "ETH-USD"):  # type: ignore[no-untyped-def]
    bid = e.markets[pid].book.best_bid
    assert bid is not None
    return bid


def test_order_joining_the_bid_waits_for_the_queue_ahead_then_fills_at_maker() -> None:
    e = make_engine()
    bid = _best_bid(e)
    o = e.create_order("b1", "ETH-USD", "BUY", limit("1", format(bid.price, "f"), post_only=True), T0).order
    assert o is not None and o.status == "OPEN" and o.queue_ahead == bid.size
    market_price = e.markets["ETH-USD"].price
    # A trade at our level smaller than the queue ahead: nothing for us yet, the queue shrinks.
    e.set_price("ETH-USD", bid.price, T0, volume=bid.size - D("0.5"))
    assert o.filled_size == 0 and o.queue_ahead == D("0.5")
    e.set_price("ETH-USD", market_price, T0)  # back up: no trade at our level
    # The next trade at our level eats the last 0.5 ahead of us, then fills 0.3 of ours.
    e.set_price("ETH-USD", bid.price, T0, volume=D("0.8"))
    assert o.queue_ahead == 0 and o.filled_size == D("0.3") and o.status == "OPEN"
    [fill] = e.fills
    assert fill.liquidity_indicator == "MAKER" and fill.price == bid.price
    assert fill.commission == bid.price * D("0.3") * MAKER


def test_a_price_touching_the_level_without_volume_fills_nothing_and_a_trade_through_fills() -> None:
    e = make_engine(maker_fill_notional_per_tick=D("1000000"))
    bid = _best_bid(e)
    o = e.create_order("b1", "ETH-USD", "BUY", limit("1", format(bid.price, "f"), post_only=True), T0).order
    assert o is not None
    e.set_price("ETH-USD", bid.price, T0)
    assert o.filled_size == 0
    e.set_price("ETH-USD", bid.price - D("1"), T0)  # trades through: queue or not, we fill
    assert o.status == "FILLED" and e.fills[-1].liquidity_indicator == "MAKER"


def test_post_only_that_would_cross_is_rejected_with_coinbase_error_and_nothing_is_held() -> None:
    e = make_engine()
    ask = e.markets["ETH-USD"].book.best_ask
    assert ask is not None
    out = e.create_order("b1", "ETH-USD", "BUY", limit("1", format(ask.price, "f"), post_only=True), T0)
    assert out.order is None and out.rejection is not None
    assert (out.rejection.error, out.rejection.preview_failure_reason) == (
        "INVALID_LIMIT_PRICE_POST_ONLY", "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY")
    assert e.balances()["USD"] == (D("100000"), D("0"))

"""Create-order validation: the documented checks, first failure wins."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.engine.orders import OrderSpec, parse_order_configuration
from tests.unit.simulator.helpers import T0, D, limit, make_engine


def reject(config: dict[str, Any], side: str = "BUY", product: str = "BTC-USD", **engine: Any) -> tuple[str, str]:
    e = make_engine(**engine)
    out = e.create_order("x", product, side, config, T0)
    assert out.rejection is not None and out.order is None
    assert e.balances()["USD"] == (D("100000"), D("0"))  # nothing changed
    return out.rejection.error, out.rejection.preview_failure_reason


@pytest.mark.parametrize(("config", "error", "preview"), [
    ({"nope": {}}, "UNSUPPORTED_ORDER_CONFIGURATION", "UNKNOWN_PREVIEW_FAILURE_REASON"),
    ({"limit_limit_gtc": None}, "UNSUPPORTED_ORDER_CONFIGURATION", "UNKNOWN_PREVIEW_FAILURE_REASON"),
    ({"market_market_fok": {"base_size": "1"}}, "UNSUPPORTED_ORDER_CONFIGURATION", "UNKNOWN_PREVIEW_FAILURE_REASON"),
    ({"market_market_ioc": {}}, "INVALID_REQUEST", "UNKNOWN_PREVIEW_FAILURE_REASON"),
    ({"limit_limit_gtc": {"base_size": "abc", "limit_price": "1"}}, "UNSUPPORTED_ORDER_CONFIGURATION",
     "UNKNOWN_PREVIEW_FAILURE_REASON"),
    (limit("0.000000001", "50000.00"), "INVALID_SIZE_PRECISION", "PREVIEW_INVALID_SIZE_PRECISION"),
    (limit("0.001", "50000.001"), "INVALID_PRICE_PRECISION", "PREVIEW_INVALID_PRICE_PRECISION"),
    ({"market_market_ioc": {"quote_size": "10.001"}}, "INVALID_SIZE_PRECISION",
     "PREVIEW_INVALID_QUOTE_SIZE_PRECISION"),
    (limit("5000", "1.00"), "UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE"),
    (limit("0.00001", "50000.00"), "UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),
    ({"market_market_ioc": {"quote_size": "0.50"}}, "UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),
    (limit("0.001", "70000.00", post_only=True), "INVALID_LIMIT_PRICE_POST_ONLY",
     "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY"),
    (limit("10", "59000.00"), "INSUFFICIENT_FUND", "PREVIEW_INSUFFICIENT_FUND"),
    ({"market_market_ioc": {"quote_size": "100001"}}, "INSUFFICIENT_FUND", "PREVIEW_INSUFFICIENT_FUND"),
    ({"stop_limit_stop_limit_gtc": {"base_size": "0.01", "limit_price": "61000.00", "stop_price": "59000.00",
                                    "stop_direction": "STOP_DIRECTION_STOP_UP"}},
     "UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_STOP_PRICE"),
    ({"trigger_bracket_gtc": {"base_size": "0.01", "limit_price": "61000.00", "stop_trigger_price": "59000.00"}},
     "INVALID_BRACKET_PRICES", "UNKNOWN_PREVIEW_FAILURE_REASON"),
    ({"limit_limit_gtd": {"base_size": "0.01", "limit_price": "50000.00", "end_time": "2020-01-01T00:00:00Z"}},
     "UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_END_TIME"),
])
def test_rejections(config: dict[str, Any], error: str, preview: str) -> None:
    assert reject(config) == (error, preview)


def test_post_only_sell_at_or_below_best_bid() -> None:
    e = make_engine({"USD": D("0"), "BTC": D("1")})
    bid = e.markets["BTC-USD"].book.best_bid
    assert bid is not None
    out = e.create_order("x", "BTC-USD", "SELL", limit("0.01", str(bid.price), post_only=True), T0)
    assert out.rejection is not None and out.rejection.error == "INVALID_LIMIT_PRICE_POST_ONLY"


def test_sell_needs_base_funds() -> None:
    assert reject({"market_market_ioc": {"base_size": "0.1"}}, side="SELL") == (
        "INSUFFICIENT_FUND", "PREVIEW_INSUFFICIENT_FUND")


def test_product_flags_and_bad_side() -> None:
    e = make_engine()
    e.markets["BTC-USD"].state.flags.update(status="offline")
    out = e.create_order("x", "BTC-USD", "BUY", limit("0.01", "50000.00"), T0)
    assert out.rejection is not None and out.rejection.error == "UNTRADABLE_PRODUCT"
    e.markets["BTC-USD"].state.flags.update(status="online", cancel_only=True)
    out = e.create_order("x", "BTC-USD", "BUY", limit("0.01", "50000.00"), T0)
    assert out.rejection is not None and out.rejection.error == "ORDER_ENTRY_DISABLED"
    e.markets["BTC-USD"].state.flags.update(cancel_only=False, limit_only=True)
    out = e.create_order("x", "BTC-USD", "BUY", {"market_market_ioc": {"quote_size": "10"}}, T0)
    assert out.rejection is not None and out.rejection.error == "ORDER_ENTRY_DISABLED"
    assert e.create_order("y", "BTC-USD", "BUY", limit("0.01", "50000.00"), T0).success
    out = e.create_order("z", "BTC-USD", "HOLD", limit("0.01", "50000.00"), T0)
    assert out.rejection is not None and out.rejection.error == "INVALID_SIDE"
    out = e.create_order("z", "XYZ-USD", "BUY", limit("0.01", "50000.00"), T0)
    assert out.rejection is not None and out.rejection.error == "INVALID_PRODUCT_ID"
    with pytest.raises(ValueError):
        e.markets["BTC-USD"].state.flags.update(bogus=True)


def test_parse_keeps_the_raw_configuration() -> None:
    raw = {"base_size": "0.5", "limit_price": "10", "post_only": "true"}
    spec = parse_order_configuration({"limit_limit_gtc": raw})
    assert isinstance(spec, OrderSpec)
    assert spec.post_only is True and spec.order_type == "LIMIT" and spec.raw == raw

"""rest_mapping: captured REST shapes (reference §3) → our frozen dataclasses; requests → order_configuration."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from core.enums import OrderStatus, Side
from exchange.coinbase import rest_mapping as m
from exchange.models import OrderKind, OrderRequest

PRODUCT = {"product_id": "BTC-USD", "price": "68923.67", "price_percentage_change_24h": "-0.28560028286595",
           "volume_24h": "11005.02587005", "base_increment": "0.00000001", "quote_increment": "0.01",
           "quote_min_size": "1", "quote_max_size": "150000000", "base_min_size": "0.00000001",
           "base_max_size": "3400", "is_disabled": False, "status": "online", "cancel_only": False,
           "limit_only": False, "post_only": False, "trading_disabled": False, "product_type": "SPOT",
           "quote_currency_id": "USD", "base_currency_id": "BTC", "fcm_trading_session_details": None,
           "price_increment": "0.01", "mid_market_price": ""}

ORDER = {"order_id": "f0e6af8f", "product_id": "BTC-USD", "user_id": "u",
         "order_configuration": {"limit_limit_gtc": {"base_size": "0.001", "limit_price": "23630", "post_only": True}},
         "side": "SELL", "client_order_id": "f4e3ed45", "status": "FILLED", "time_in_force": "GOOD_UNTIL_CANCELLED",
         "created_time": "2023-02-03T16:19:02.209172Z", "completion_percentage": "100", "filled_size": "0.001",
         "average_filled_price": "23630", "fee": "", "number_of_fills": "1", "filled_value": "23.63",
         "pending_cancel": False, "size_in_quote": False, "total_fees": "0.059075", "order_type": "LIMIT",
         "reject_reason": "REJECT_REASON_UNSPECIFIED", "cancel_message": "", "last_fill_time": None,
         "edit_history": [], "attached_order_configuration": None}

FILL = {"entry_id": "22222-2222222-22222222", "trade_id": "1111-11111-111111", "order_id": "0000-000000-000000",
        "trade_time": "2024-01-15T10:30:00Z", "trade_type": "FILL", "price": "45123.45", "size": "0.005",
        "commission": "1.14", "product_id": "BTC-USD", "sequence_timestamp": "2024-01-15T10:30:00.123456Z",
        "liquidity_indicator": "MAKER", "size_in_quote": False, "user_id": "3333", "side": "BUY"}


def test_product() -> None:
    p = m.product_from(PRODUCT)
    assert p.product_id == "BTC-USD" and p.base_currency == "BTC" and p.quote_currency == "USD"
    assert p.price == Decimal("68923.67") and p.base_increment == Decimal("0.00000001")
    assert p.price_increment == Decimal("0.01") and p.base_max_size == Decimal("3400")
    assert p.price_change_24h_pct == Decimal("-0.28560028286595") and p.tradable


def test_product_without_price_increment_and_disabled() -> None:
    raw = {k: v for k, v in PRODUCT.items() if k not in ("price_increment", "base_currency_id")}
    p = m.product_from(raw | {"trading_disabled": True, "price": ""})
    assert p.price_increment == Decimal("0.01") and p.base_currency == "BTC" and p.price is None
    assert not p.tradable


def test_balances_available_excludes_hold() -> None:
    accounts: list[dict[str, Any]] = [
        {"uuid": "a1", "currency": "BTC", "available_balance": {"value": "1.23456789", "currency": "BTC"},
         "hold": {"value": "0.005", "currency": "BTC"}},
        {"uuid": "a2", "currency": "USD", "available_balance": {"value": "100", "currency": "USD"},
         "hold": {"value": "0", "currency": "USD"}},
        {"uuid": "a3", "currency": "USD", "available_balance": {"value": "5", "currency": "USD"},
         "hold": {"value": "1", "currency": "USD"}},
    ]
    b = m.balances_from(accounts)
    assert b["BTC"].available == Decimal("1.23456789") and b["BTC"].hold == Decimal("0.005")
    assert b["BTC"].total == Decimal("1.23956789") and b["BTC"].account_uuid == "a1"
    assert b["USD"].available == Decimal("105") and b["USD"].hold == Decimal("1") and b["USD"].account_uuid == "a2"


def test_quote_from_pricebook() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    book = {"product_id": "BTC-USD", "bids": [{"price": "67000.00", "size": "0.5"}],
            "asks": [{"price": "67001.50", "size": "0.3"}], "time": "2024-01-01T00:00:00Z"}
    q = m.quote_from_pricebook(book, now)
    assert q is not None and q.bid == Decimal("67000.00") and q.ask == Decimal("67001.50")
    assert q.time == datetime(2024, 1, 1, tzinfo=UTC) and q.ask_size == Decimal("0.3")
    assert m.quote_from_pricebook(book | {"asks": []}, now) is None
    assert m.quote_from_pricebook({k: v for k, v in book.items() if k != "time"}, now).time == now  # type: ignore[union-attr]


def test_candle_and_windows() -> None:
    c = m.candle_from({"start": "1712192400", "low": "66055.14", "high": "66331.99", "open": "66312.4",
                       "close": "66181.6", "volume": "355.82896243"})
    assert c.start == datetime.fromtimestamp(1712192400, UTC) and c.close == Decimal("66181.6")
    assert m.candle_windows(0, 60 * 299, "ONE_MINUTE") == [(0, 60 * 299)]
    windows = m.candle_windows(0, 60 * 700, "ONE_MINUTE")
    assert windows[0] == (0, 17999) and windows[-1][1] == 42000 and len(windows) == 3
    assert all(hi - lo < 300 * 60 for lo, hi in windows)
    assert m.candle_windows(100, 100, "ONE_HOUR") == []
    with pytest.raises(ValueError, match="granularity"):
        m.candle_windows(0, 10, "TEN_MINUTE")


def test_order_from_rest() -> None:
    o = m.order_from(ORDER)
    assert o.order_id == "f0e6af8f" and o.side is Side.SELL and o.status is OrderStatus.FILLED
    assert o.kind is OrderKind.LIMIT_GTC and o.order_type == "LIMIT" and o.post_only
    assert o.base_size == Decimal("0.001") and o.limit_price == Decimal("23630") and o.quote_size is None
    assert o.filled_size == Decimal("0.001") and o.average_filled_price == Decimal("23630")
    assert o.total_fees == Decimal("0.059075") and o.number_of_fills == 1 and o.filled_value == Decimal("23.63")
    assert o.reject_reason is None and o.cancel_message is None
    assert o.created_time == datetime(2023, 2, 3, 16, 19, 2, 209172, tzinfo=UTC)


def test_order_unfilled_market_and_bracket() -> None:
    market = ORDER | {"order_configuration": {"market_market_ioc": {"quote_size": "10"}}, "filled_size": "0",
                      "average_filled_price": "0", "status": "OPEN", "number_of_fills": "0", "order_type": "MARKET"}
    o = m.order_from(market)
    assert o.kind is OrderKind.MARKET and o.quote_size == Decimal("10") and o.average_filled_price is None
    bracket = ORDER | {"order_configuration": {"trigger_bracket_gtc": {
        "base_size": "1", "limit_price": "110", "stop_trigger_price": "90"}}}
    b = m.order_from(bracket)
    assert b.kind is OrderKind.BRACKET_GTC and b.stop_price == Decimal("90")
    fok = m.order_from(ORDER | {"order_configuration": {"limit_limit_fok": {"base_size": "1", "limit_price": "1"}},
                                "status": "SOMETHING_NEW"})
    assert fok.kind is None and fok.status is OrderStatus.UNKNOWN_ORDER_STATUS


def test_fill() -> None:
    f = m.fill_from(FILL)
    assert f.trade_id == "1111-11111-111111" and f.entry_id == "22222-2222222-22222222"
    assert f.side is Side.BUY and f.price == Decimal("45123.45") and f.commission == Decimal("1.14")
    assert f.liquidity_indicator == "MAKER" and f.trade_type == "FILL"
    assert f.sequence_timestamp == datetime(2024, 1, 15, 10, 30, 0, 123456, tzinfo=UTC)
    assert m.fill_from(FILL | {"trade_type": "REVERSAL"}).trade_type == "REVERSAL"


def test_create_success_uses_success_response() -> None:
    resp = {"success": True, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": "legacy",
            "success_response": {"order_id": "5b4afbfe", "product_id": "LTC-USD", "side": "BUY",
                                 "client_order_id": "cid"},
            "order_configuration": {"sor_limit_ioc": {"base_size": "1", "limit_price": "82.9"}}}
    r = m.order_result_from(resp, "cid")
    assert r.success and r.order_id == "5b4afbfe" and r.error is None and r.failure_reason is None
    legacy = m.order_result_from({"success": True, "order_id": "x1"}, "cid")
    assert legacy.success and legacy.order_id == "x1"
    with pytest.raises(m.AmbiguousCreateResponse):
        m.order_result_from({"success": True, "success_response": {}}, "cid")


def test_create_failure_insufficient_funds() -> None:
    resp = {"success": False, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": "",
            "error_response": {"error": "INSUFFICIENT_FUND", "message": "Insufficient balance in source account",
                               "error_details": "", "preview_failure_reason": "PREVIEW_INSUFFICIENT_FUND",
                               "new_order_failure_reason": "INSUFFICIENT_FUND"}}
    r = m.order_result_from(resp, "cid")
    assert not r.success and r.order_id is None and r.error == "INSUFFICIENT_FUND"
    assert r.failure_reason == "INSUFFICIENT_FUND" and r.message == "Insufficient balance in source account"
    assert not r.is_post_only_rejection


def test_create_failure_post_only_only_in_preview_reason() -> None:
    resp = {"success": False, "error_response": {"error": "UNKNOWN_FAILURE_REASON", "message": "",
                                                 "preview_failure_reason": "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY",
                                                 "new_order_failure_reason": "UNKNOWN_FAILURE_REASON"}}
    r = m.order_result_from(resp, "cid")
    assert not r.success and r.failure_reason == "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY"
    assert r.is_post_only_rejection


def test_cancel_results() -> None:
    ok = m.cancel_result_from({"success": True, "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON", "order_id": "a"})
    assert ok.success and ok.failure_reason is None
    bad = m.cancel_result_from({"success": False, "failure_reason": "ORDER_IS_FULLY_FILLED", "order_id": "b"})
    assert not bad.success and bad.failure_reason == "ORDER_IS_FULLY_FILLED"


def test_fee_tier_permissions_time() -> None:
    summary = {"total_volume": 0, "total_fees": 0, "fee_tier": {"pricing_tier": "Intro 1", "taker_fee_rate": "0.012",
                                                                "maker_fee_rate": "0.006"}, "margin_rate": None}
    tier = m.fee_tier_from(summary)
    assert tier.maker_rate == Decimal("0.006") and tier.taker_rate == Decimal("0.012") and tier.tier_name == "Intro 1"
    perms = m.key_permissions_from({"can_view": True, "can_trade": True, "can_transfer": False,
                                    "portfolio_uuid": "p", "portfolio_type": "DEFAULT"})
    assert perms.can_trade and not perms.can_transfer and perms.portfolio_uuid == "p"
    t = m.server_time_from({"iso": "2023-07-27T12:00:00Z", "epochSeconds": "1690459200"})
    assert t == datetime(2023, 7, 27, 12, tzinfo=UTC)
    assert m.server_time_from({"epochSeconds": "1690459200"}) == t


def _req(kind: OrderKind, **kw: Any) -> OrderRequest:
    return OrderRequest(client_order_id="cid", product_id="BTC-USD", side=kw.pop("side", Side.BUY), kind=kind, **kw)


def test_order_configuration_for_each_kind() -> None:
    assert m.order_configuration_for(_req(OrderKind.MARKET, quote_size=Decimal("10.00"))) == {
        "market_market_ioc": {"quote_size": "10"}}
    assert m.order_configuration_for(_req(OrderKind.MARKET, side=Side.SELL, base_size=Decimal("0.0010"))) == {
        "market_market_ioc": {"base_size": "0.001"}}
    assert m.order_configuration_for(_req(OrderKind.LIMIT_GTC, base_size=Decimal("1"), limit_price=Decimal("2.50"),
                                          post_only=True)) == {
        "limit_limit_gtc": {"base_size": "1", "limit_price": "2.5", "post_only": True}}
    gtd = m.order_configuration_for(_req(OrderKind.LIMIT_GTD, base_size=Decimal("1"), limit_price=Decimal("2"),
                                         end_time=datetime(2026, 1, 2, tzinfo=UTC)))
    assert gtd["limit_limit_gtd"]["end_time"] == "2026-01-02T00:00:00.000000Z"
    assert m.order_configuration_for(_req(OrderKind.LIMIT_IOC, base_size=Decimal("1"), limit_price=Decimal("2"))) == {
        "sor_limit_ioc": {"base_size": "1", "limit_price": "2"}}
    stop = m.order_configuration_for(_req(OrderKind.STOP_LIMIT_GTC, side=Side.SELL, base_size=Decimal("1"),
                                          limit_price=Decimal("95"), stop_price=Decimal("96")))
    assert stop["stop_limit_stop_limit_gtc"]["stop_direction"] == "STOP_DIRECTION_STOP_DOWN"
    bracket = m.order_configuration_for(_req(OrderKind.BRACKET_GTC, side=Side.SELL, base_size=Decimal("1"),
                                             limit_price=Decimal("110"), stop_price=Decimal("90")))
    assert bracket == {"trigger_bracket_gtc": {"base_size": "1", "limit_price": "110", "stop_trigger_price": "90"}}


@pytest.mark.parametrize("req", [
    _req(OrderKind.MARKET),
    _req(OrderKind.MARKET, base_size=Decimal("1"), quote_size=Decimal("1")),
    _req(OrderKind.LIMIT_GTC, base_size=Decimal("1")),
    _req(OrderKind.LIMIT_GTC, base_size=Decimal("-1"), limit_price=Decimal("1")),
    _req(OrderKind.LIMIT_GTD, base_size=Decimal("1"), limit_price=Decimal("1")),
    _req(OrderKind.STOP_LIMIT_GTC, base_size=Decimal("1"), limit_price=Decimal("1")),
])
def test_incomplete_requests_are_refused(req: OrderRequest) -> None:
    with pytest.raises(ValueError):
        m.order_configuration_for(req)

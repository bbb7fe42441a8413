"""Pure order arithmetic: exit targets, post-only prices, sizing against increments and balances."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from core.enums import Side
from exchange.models import Balance, Product
from webhook.pricing import OrderRejected, post_only_price, size_order, stop_loss_price, take_profit_price


def _product(**kw: object) -> Product:
    base = dict(product_id="BTC-USD", base_currency="BTC", quote_currency="USD", price=D("50000"),
                base_increment=D("0.00000001"), quote_increment=D("0.01"), price_increment=D("0.01"),
                base_min_size=D("0.00000001"), base_max_size=D("3400"), quote_min_size=D("1"),
                quote_max_size=D("150000000"), volume_24h=D("100"), price_change_24h_pct=D("0"), status="online")
    base.update(kw)
    return Product(**base)  # type: ignore[arg-type]


def test_take_profit_and_stop_use_their_own_formulas() -> None:
    assert take_profit_price(D("100"), D("6.25")) == D("106.25")
    assert stop_loss_price(D("100"), D("-5")) == D("95")
    assert stop_loss_price(D("100"), D("-2.5")) == D("97.5")
    # A stop computed with the take-profit formula would be above entry: both must refuse the wrong sign.
    with pytest.raises(ValueError):
        take_profit_price(D("100"), D("-5"))
    with pytest.raises(ValueError):
        stop_loss_price(D("100"), D("6.25"))


def test_post_only_joins_the_book_without_crossing() -> None:
    assert post_only_price(Side.BUY, D("100.00"), D("100.02"), D("0.01")) == D("100.00")
    assert post_only_price(Side.SELL, D("100.00"), D("100.02"), D("0.01")) == D("100.02")
    # One-tick spread: the buy stays at the bid, the sell at the ask.
    assert post_only_price(Side.BUY, D("100.00"), D("100.01"), D("0.01")) == D("100.00")
    # Bid given at finer precision than the tick: rounded down for a buy.
    assert post_only_price(Side.BUY, D("100.007"), D("100.02"), D("0.01")) == D("100.00")


def test_sell_is_capped_to_available_base_and_rounded_down() -> None:
    balances = {"BTC": Balance("BTC", D("0.123456789"), D("0.5")), "USD": Balance("USD", D("0"), D("0"))}
    sized = size_order(product=_product(), side=Side.SELL, base_size=D("1"), quote_size=None, limit_price=None,
                       reference_price=D("50000"), balances=balances, taker_fee_rate=D("0.012"))
    assert sized.base_size == D("0.12345678")  # available only (held 0.5 is not sellable), rounded down


def test_buy_needs_quote_incl_fees() -> None:
    balances = {"USD": Balance("USD", D("100"), D("0"))}
    with pytest.raises(OrderRejected) as err:
        size_order(product=_product(), side=Side.BUY, base_size=D("0.002"), quote_size=None, limit_price=D("50000"),
                   reference_price=D("50000"), balances=balances, taker_fee_rate=D("0.012"))
    assert err.value.code == "INSUFFICIENT_FUND"  # 100 + 1.2 % fees > 100
    ok = size_order(product=_product(), side=Side.BUY, base_size=D("0.0019"), quote_size=None,
                    limit_price=D("50000.004"), reference_price=D("50000"), balances=balances,
                    taker_fee_rate=D("0.012"))
    assert ok.limit_price == D("50000.00")


def test_min_size_and_disabled_product() -> None:
    balances = {"USD": Balance("USD", D("1000"), D("0"))}
    with pytest.raises(OrderRejected, match="SIZE_TOO_SMALL"):
        size_order(product=_product(), side=Side.BUY, base_size=None, quote_size=D("0.5"), limit_price=None,
                   reference_price=D("50000"), balances=balances, taker_fee_rate=D("0.012"))
    with pytest.raises(OrderRejected, match="PRODUCT_NOT_TRADABLE"):
        size_order(product=_product(trading_disabled=True), side=Side.BUY, base_size=None, quote_size=D("10"),
                   limit_price=None, reference_price=D("50000"), balances=balances, taker_fee_rate=D("0.012"))

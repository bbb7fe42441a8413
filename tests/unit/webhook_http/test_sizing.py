"""The one sizing function: exact order sizes, fees the Coinbase way, and every limit's reason code."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from webhook.alerts.reasons import Reason, Refusal
from webhook.alerts.sizing import (
    EntryRequest,
    Exposure,
    LiveQuote,
    ProductRules,
    SizedEntry,
    SizingLimits,
    size_entry,
)

BTC = ProductRules(base_increment=D("0.00000001"), quote_increment=D("0.01"), base_min_size=D("0.00000001"),
                   base_max_size=D("3400"), quote_min_size=D("1"), quote_max_size=D("150000000"))
LIMITS = SizingLimits(max_order_notional_usd=D("1000"), max_position_pct=D("25"), max_quote_age_s=30,
                      max_price_deviation_pct=D("2"), taker_fee_rate=D("0.012"),
                      default_quote_usd={"*": D("100"), "tradingview": D("100"), "sighook": D("40")})
QUOTE = LiveQuote(best_ask=D("60000"), age_s=1.0)
FLAT = Exposure(held_base=D("0"), open_buy_usd=D("0"), account_value_usd=D("10000"))


def _size(request: EntryRequest, quote: LiveQuote = QUOTE, exposure: Exposure = FLAT,
          limits: SizingLimits = LIMITS) -> SizedEntry | Refusal:
    return size_entry(request, quote, BTC, exposure, limits)


def _ok(request: EntryRequest, **kw: object) -> SizedEntry:
    result = _size(request, **kw)  # type: ignore[arg-type]
    assert isinstance(result, SizedEntry), result
    return result


def _refused(request: EntryRequest, code: Reason, **kw: object) -> Refusal:
    result = _size(request, **kw)  # type: ignore[arg-type]
    assert isinstance(result, Refusal) and result.code is code, result
    return result


def test_the_issue_case_quantity_without_price_is_valued_at_the_live_ask_and_refused() -> None:
    refusal = _refused(EntryRequest("BTC-USD", "tradingview", base_size=D("0.1")), Reason.OVER_ORDER_CAP)
    assert "6072" in refusal.message and "MAX_ORDER_NOTIONAL_USD 1000" in refusal.message


def test_a_base_size_is_ordered_at_that_size_on_the_increment_with_fees_in_the_cost() -> None:
    sized = _ok(EntryRequest("BTC-USD", "tradingview", base_size=D("0.0012345678912")))
    assert sized.base_size == D("0.00123456") and sized.quote_size is None and sized.basis == "alert_base"
    assert sized.order_value_usd == D("0.00123456") * D("60000")
    assert sized.cost_usd == sized.order_value_usd * D("1.012")


def test_a_usd_amount_is_a_quote_size_that_includes_the_fee_like_coinbase() -> None:
    sized = _ok(EntryRequest("BTC-USD", "tradingview", quote_size=D("50.129")))
    assert sized.quote_size == D("50.12") and sized.base_size is None and sized.cost_usd == D("50.12")
    assert sized.order_value_usd == D("50.12") / D("1.012")  # filled value = quote / (1 + taker rate)


def test_the_cap_includes_fees() -> None:
    assert _ok(EntryRequest("BTC-USD", "tradingview", quote_size=D("1000"))).cost_usd == D("1000")
    _refused(EntryRequest("BTC-USD", "tradingview", quote_size=D("1000.01")), Reason.OVER_ORDER_CAP)
    # 0.0164 BTC = 984 USD, 995.81 with the 1.2 % fee: inside; 0.0165 = 990 → 1001.88 with fees: over.
    _ok(EntryRequest("BTC-USD", "tradingview", base_size=D("0.0164")))
    _refused(EntryRequest("BTC-USD", "tradingview", base_size=D("0.0165")), Reason.OVER_ORDER_CAP)


def test_without_a_size_the_source_default_is_used() -> None:
    assert _ok(EntryRequest("BTC-USD", "tradingview")).quote_size == D("100")
    sized = _ok(EntryRequest("BTC-USD", "sighook"))
    assert sized.quote_size == D("40") and sized.basis == "default"
    assert _ok(EntryRequest("BTC-USD", "other")).quote_size == D("100")


@pytest.mark.parametrize("quote", [LiveQuote(None, None), LiveQuote(D("60000"), None), LiveQuote(None, 1.0),
                                   LiveQuote(D("60000"), 30.5), LiveQuote(D("0"), 1.0)])
def test_no_fresh_quote_means_no_entry(quote: LiveQuote) -> None:
    _refused(EntryRequest("BTC-USD", "tradingview"), Reason.NO_QUOTE, quote=quote)


def test_an_alert_price_far_from_the_market_is_refused() -> None:
    assert isinstance(_size(EntryRequest("BTC-USD", "tradingview", alert_price=D("58800"))), SizedEntry)  # 2 %
    refusal = _refused(EntryRequest("BTC-USD", "tradingview", alert_price=D("58799")), Reason.PRICE_DEVIATION)
    assert refusal.field == "price"
    # A stale alert price can never make an order look cheaper than it is: value is at the ask.
    sized = _ok(EntryRequest("BTC-USD", "tradingview", base_size=D("0.01"), alert_price=D("59000")))
    assert sized.order_value_usd == D("600")


def test_position_after_the_order_counts_holdings_and_open_buys() -> None:
    held = Exposure(held_base=D("0.03"), open_buy_usd=D("500"), account_value_usd=D("10000"))  # 1800 + 500
    assert _ok(EntryRequest("BTC-USD", "tradingview", quote_size=D("200")), exposure=held).position_after_usd \
        == D("2300") + D("200") / D("1.012")
    refusal = _refused(EntryRequest("BTC-USD", "tradingview", quote_size=D("300")), Reason.OVER_POSITION_CAP,
                       exposure=held)
    assert "MAX_POSITION_PCT 25%" in refusal.message and "= 2500 USD" in refusal.message


@pytest.mark.parametrize(("request_", "code"), [
    (EntryRequest("BTC-USD", "tradingview", base_size=D("0.000000001")), Reason.SIZE_TOO_SMALL),
    (EntryRequest("BTC-USD", "tradingview", base_size=D("0.00001")), Reason.SIZE_TOO_SMALL),  # 0.60 USD
    (EntryRequest("BTC-USD", "tradingview", quote_size=D("0.5")), Reason.SIZE_TOO_SMALL),
    (EntryRequest("BTC-USD", "tradingview", base_size=D("5000")), Reason.BAD_SIZE),
])
def test_sizes_outside_the_product_rules(request_: EntryRequest, code: Reason) -> None:
    _refused(request_, code, limits=SizingLimits(D("1e12"), D("100"), 30, D("2"), D("0.012"), {"*": D("100")}))


def test_no_account_value_means_no_entry() -> None:
    _refused(EntryRequest("BTC-USD", "tradingview"), Reason.NO_ACCOUNT_VALUE,
             exposure=Exposure(D("0"), D("0"), D("0")))


def test_a_post_only_entry_is_checked_at_the_maker_fee_it_is_sized_with() -> None:
    """Every fill of a post-only entry pays the maker fee, and the desk sizes its USD budget at that
    fee: the position is checked on what that buys, the cost on what it spends."""
    maker = replace(LIMITS, fill_fee_rate=D("0.006"))
    by_quote = _ok(EntryRequest("BTC-USD", "tradingview", quote_size=D("100")), limits=maker)
    assert by_quote.cost_usd == D("100") and by_quote.order_value_usd == D("100") / D("1.006")
    assert by_quote.order_value_usd > _ok(EntryRequest("BTC-USD", "tradingview", quote_size=D("100"))).order_value_usd
    by_base = _ok(EntryRequest("BTC-USD", "tradingview", base_size=D("0.001")), limits=maker)
    assert by_base.cost_usd == D("60") * D("1.006")
    # A position cap between the two values: refused at the maker fee, where taker-fee figures passed it.
    tight = Exposure(held_base=D("0"), open_buy_usd=D("0"), account_value_usd=D("991"))  # 10 % → 99.10 USD
    capped = replace(maker, max_position_pct=D("10"))
    _refused(EntryRequest("BTC-USD", "tradingview", quote_size=D("100")), Reason.OVER_POSITION_CAP, exposure=tight,
             limits=capped)
    _ok(EntryRequest("BTC-USD", "tradingview", quote_size=D("100")), exposure=tight,
        limits=replace(LIMITS, max_position_pct=D("10")))

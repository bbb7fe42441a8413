"""The pure quoting decision: spread floor, ATR widening, inventory skew, band, caps, breaker, refresh."""

from __future__ import annotations

from decimal import Decimal as D

from webhook.passive import quoting as q

RULES = q.ProductRules(price_increment=D("0.01"), base_increment=D("0.00000001"), base_min_size=D("0.0001"),
                       quote_min_size=D("1"))
MARKET = q.MarketView(bid=D("99.99"), ask=D("100.01"))


def params(**kw: object) -> q.QuoteParams:
    base: dict[str, object] = dict(order_usd=D("100"), maker_rate=D("0.006"), min_edge_pct=D("0.1"),
                                   atr_spread_mult=D("0.5"), take_profit_pct=D("1.5"), max_inventory_usd=D("400"),
                                   max_total_usd=D("1000"))
    base.update(kw)
    return q.QuoteParams(**base)  # type: ignore[arg-type]


def empty() -> q.Inventory:
    return q.Inventory(base=D(0), total_usd=D(0))


def test_spread_is_at_least_two_maker_fees_plus_the_edge() -> None:
    plan = q.plan_quotes(params(), RULES, MARKET, empty(), breaker_tripped=False)
    assert params().min_spread_pct == D("1.3") and plan.half_spread_pct == D("0.65")
    assert plan.bid == q.Level(D("99.35"), D("1.00654252"))  # 100 × (1 − 0.65 %); 100 USD / 99.35
    assert plan.ask is None and plan.ask_withheld == q.NO_INVENTORY


def test_atr_widens_the_spread_when_it_is_wider_than_the_fee_floor() -> None:
    market = q.MarketView(D("99.99"), D("100.01"), atr=D("4"))  # 0.5 × 4 % = 2 % half spread
    plan = q.plan_quotes(params(), RULES, market, empty(), breaker_tripped=False)
    assert plan.half_spread_pct == D("2") and plan.bid is not None and plan.bid.price == D("98.00")
    calm = q.MarketView(D("99.99"), D("100.01"), atr=D("0.1"))
    assert q.plan_quotes(params(), RULES, calm, empty(), False).half_spread_pct == D("0.65")


def test_inventory_skew_lowers_and_shrinks_the_bid_and_brings_the_ask_in() -> None:
    half_full = q.Inventory(base=D("2"), total_usd=D("200"), free_base=D("2"))  # 200 of 400 USD
    plan = q.plan_quotes(params(), RULES, MARKET, half_full, breaker_tripped=False)
    assert plan.bid is not None and plan.ask is not None
    assert plan.bid.price == D("99.02")  # half spread × 1.5 = 0.975 %
    assert plan.bid.size == D("0.50494849")  # 50 USD (100 × (1 − 0.5))
    assert plan.ask == q.Level(D("100.49"), D("2"))  # half spread × 0.75 = 0.4875 %, rounded up
    flat = q.plan_quotes(params(inventory_skew=False), RULES, MARKET, half_full, False)
    assert flat.bid is not None and flat.bid.price == D("99.35") and flat.bid.size == D("1.00654252")


def test_caps_breaker_band_and_fees_withhold_the_bid() -> None:
    full = q.Inventory(base=D("4"), total_usd=D("400"))
    assert q.plan_quotes(params(), RULES, MARKET, full, False).bid_withheld == q.INVENTORY_CAP
    total = q.Inventory(base=D(0), total_usd=D("1000"))
    assert q.plan_quotes(params(), RULES, MARKET, total, False).bid_withheld == q.TOTAL_CAP
    assert q.plan_quotes(params(), RULES, MARKET, empty(), True).bid_withheld == q.BREAKER
    assert q.plan_quotes(params(ceiling=D("99")), RULES, MARKET, empty(), False).bid_withheld == q.ABOVE_CEILING
    held = q.Inventory(base=D("1"), total_usd=D("100"), free_base=D("1"))
    assert q.plan_quotes(params(floor=D("101")), RULES, MARKET, held, False).ask_withheld == q.BELOW_FLOOR
    # A take-profit narrower than two maker fees + edge would lose on every round trip.
    assert q.plan_quotes(params(take_profit_pct=D("1.2")), RULES, MARKET, empty(), False).bid_withheld == (
        q.TP_BELOW_FEES)
    # Room left under the cap smaller than the exchange minimum: nothing sent.
    nearly = q.Inventory(base=D("3.995"), total_usd=D("399.5"))
    assert q.plan_quotes(params(inventory_skew=False), RULES, MARKET, nearly, False).bid_withheld == q.TOO_SMALL


def test_bid_never_crosses_the_ask_with_a_tiny_spread() -> None:
    plan = q.plan_quotes(params(maker_rate=D(0), min_edge_pct=D(0), atr_spread_mult=D(0), take_profit_pct=D("1")),
                         RULES, MARKET, empty(), False)
    assert plan.bid is not None and plan.bid.price < MARKET.ask


def test_refresh_action() -> None:
    rp = q.RefreshParams(refresh_s=30, move_pct=D("0.2"))
    live = q.LiveQuote("o1", "c1", D("99.35"), D("1"), mid_at_place=D("100"), placed_mono=0.0)
    same = q.Level(D("99.35"), D("1"))
    assert q.refresh_action(None, same, D("100"), 1.0, rp) == q.PLACE
    assert q.refresh_action(None, None, D("100"), 1.0, rp) == q.KEEP
    assert q.refresh_action(live, None, D("100"), 1.0, rp) == q.WITHDRAW
    assert q.refresh_action(live, same, D("100.1"), 1.0, rp) == q.KEEP  # 0.1 % < threshold
    assert q.refresh_action(live, q.Level(D("99.55"), D("1")), D("100.2"), 1.0, rp) == q.MID_MOVED
    assert q.refresh_action(live, same, D("100"), 31.0, rp) == q.KEEP  # old but unchanged: keeps its place
    assert q.refresh_action(live, q.Level(D("99.36"), D("1")), D("100.01"), 31.0, rp) == q.REFRESH_TIME
    assert q.refresh_action(live, q.Level(D("99.35"), D("0.5")), D("100"), 1.0, rp) == q.SIZE_CUT

"""Bracket prices, which leg filled, the re-arm budget, the rate guard and the sentinel's view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal as D

import pytest

from core.enums import ExitReason
from webhook.passive.bracket import BracketPrices, HandOver, Rearm, after_failure, bracket_exit_reason, bracket_prices
from webhook.passive.rate_guard import OrderRateGuard
from webhook.passive.sentinel_view import SentinelPositions


def test_bracket_prices_round_away_from_the_fill() -> None:
    assert bracket_prices(D("100.34"), D("1.5"), D("2"), D("0.01")) == BracketPrices(D("101.85"), D("98.33"))
    with pytest.raises(ValueError):
        bracket_prices(D("0"), D("1.5"), D("2"), D("0.01"))


def test_exit_reason_from_the_fill_price() -> None:
    prices = BracketPrices(D("101.85"), D("98.33"))
    assert bracket_exit_reason(D("101.85"), prices) is ExitReason.BRACKET_TAKE_PROFIT
    assert bracket_exit_reason(D("102.4"), prices) is ExitReason.BRACKET_TAKE_PROFIT
    assert bracket_exit_reason(D("98.2"), prices) is ExitReason.BRACKET_STOP
    assert bracket_exit_reason(D("93.5"), prices) is ExitReason.BRACKET_STOP  # stop-limit 5 % under


def test_rearm_until_the_fifth_failure() -> None:
    assert [after_failure(n, 5) for n in range(1, 6)] == [Rearm(1), Rearm(2), Rearm(3), Rearm(4), HandOver(5)]
    assert after_failure(1, 1) == HandOver(1)


def test_rate_guard_sliding_minute_per_product() -> None:
    guard = OrderRateGuard(3)
    for t in (0.0, 1.0, 2.0):
        assert guard.allows("ETH-USD", t)
        guard.record("ETH-USD", t)
    assert not guard.allows("ETH-USD", 59.9) and guard.allows("BTC-USD", 59.9)
    assert guard.allows("ETH-USD", 60.0) and guard.sent_in_window("ETH-USD", 61.5) == 1
    with pytest.raises(ValueError):
        OrderRateGuard(0)


@dataclass
class Pos:
    symbol: str
    size: D = D(1)
    avg_entry_price: D = D(100)
    opened_at: datetime | None = None


class Book:
    def open_positions(self) -> list[Pos]:
        return [Pos("ETH-USD"), Pos("BTC-USD")]


def test_sentinel_skips_bracketed_positions_until_handed_over() -> None:
    owned = {"ETH-USD"}
    view = SentinelPositions(Book(), lambda s: s in owned)
    assert [p.symbol for p in view.open_positions()] == ["BTC-USD"]
    owned.clear()
    assert [p.symbol for p in view.open_positions()] == ["ETH-USD", "BTC-USD"]
    # With no passive product at all (any_owned False) the inner list passes through unfiltered.
    owned.add("ETH-USD")
    products: set[str] = set()
    gated = SentinelPositions(Book(), lambda s: s in owned and s in products, lambda: bool(products))
    assert [p.symbol for p in gated.open_positions()] == ["ETH-USD", "BTC-USD"]
    products.add("ETH-USD")
    assert [p.symbol for p in gated.open_positions()] == ["BTC-USD"]


def test_stop_overrun_when_the_bid_is_under_the_stop_limits_limit() -> None:
    from webhook.passive.bracket import stop_overrun

    prices = BracketPrices(D("101.85"), D("98.33"))  # stop-limit limit = 98.33 × 0.95 = 93.4135
    assert not stop_overrun(D("98"), prices) and not stop_overrun(D("93.42"), prices)
    assert stop_overrun(D("93.41"), prices) and stop_overrun(D("80"), prices)

"""EXIT_PNL_BASIS: thresholds measured from the break-even price are net P&L (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from core.enums import ExitReason
from core.settings import load_settings
from market_data.exit_policy import decide_exit
from market_data.pnl_basis import BasisPosition, PnlBasis, basis_price
from market_data.trailing_stop import TrailingParams, advance, start_trailing

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MAKER, TAKER = D("0.006"), D("0.012")


def test_selling_at_the_net_basis_price_with_the_taker_fee_nets_exactly_zero() -> None:
    entry, size = D("100"), D("2")
    cost = entry * size * (1 + MAKER)  # a post-only buy: maker fee
    b = basis_price(entry, cost / size, PnlBasis.NET, TAKER)
    assert b * size * (1 - TAKER) - cost == 0
    assert basis_price(entry, cost / size, PnlBasis.PRICE, TAKER) == entry


def test_net_basis_take_profit_is_a_profit_after_fees_and_price_basis_is_not_always() -> None:
    settings = load_settings()
    entry, size = D("100"), D("1")
    cost = entry * (1 + TAKER)
    b = basis_price(entry, cost, PnlBasis.NET, TAKER)
    tp_quote = entry * D("1.0625")  # +6.25 % on price: a take profit on the price basis
    on_price = decide_exit(BasisPosition("X-USD", size, entry, None, entry, cost), tp_quote, None, None, settings,
                           now=T0)
    on_net = decide_exit(BasisPosition("X-USD", size, b, None, entry, cost), tp_quote, None, None, settings, now=T0)
    assert on_price is not None and on_price.reason is ExitReason.TAKE_PROFIT
    assert on_net is None  # net of 2.4 % round-trip fees the gain is only ≈ 3.8 %
    net_tp = b * D("1.063")
    decision = decide_exit(BasisPosition("X-USD", size, b, None, entry, cost), net_tp, None, None, settings, now=T0)
    assert decision is not None and decision.reason is ExitReason.TAKE_PROFIT
    assert net_tp * size * (1 - TAKER) - cost > 0


def test_trailing_breakeven_floor_on_the_net_basis_covers_round_trip_fees() -> None:
    settings = load_settings(trailing_atr_multiplier="10", trailing_max_distance_pct="2")
    params = TrailingParams.from_settings(settings)
    entry = D("100")
    cost = entry * (1 + MAKER)
    b = basis_price(entry, cost, PnlBasis.NET, TAKER)
    stop = start_trailing("X-USD", b, b, None, T0)
    stop = advance(stop, b * D("1.036"), None, T0, params).stop  # activation at +3.5 % over the basis
    assert stop.current_stop is not None and stop.current_stop >= b
    # Selling at the stop (the floor) with the taker fee never loses money.
    assert stop.current_stop * (1 - TAKER) - cost >= 0

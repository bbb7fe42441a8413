"""decide_exit: the fixed priority, table-driven over every pair of simultaneously true conditions."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.enums import ExitReason, TrailingState
from core.settings import TradingSettings
from market_data.exit_policy import ExitOrderKind, decide_exit, level
from market_data.ports import SignalView
from market_data.trailing_stop import TrailingStop

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
S = TradingSettings()  # hard −5, soft −2.5, take profit 6.25
D = Decimal


@dataclass(frozen=True)
class Pos:
    symbol: str = "SOL-USD"
    size: Decimal = Decimal("2")
    avg_entry_price: Decimal = Decimal("100")
    opened_at: datetime | None = None


def sell(fresh: bool = True) -> SignalView:
    age = timedelta(seconds=10) if fresh else timedelta(seconds=S.matrix_max_age_s + 1)
    return SignalView(sell=True, atr=D("1"), as_of=NOW - age)


def trailing(stop: str | None, state: TrailingState = TrailingState.ACTIVE) -> TrailingStop:
    return TrailingStop(symbol="SOL-USD", state=state, entry_price=D("100"), highest_price=D("110"),
                        lowest_price=D("90"), current_stop=None if stop is None else D(stop), atr=D("1"),
                        activated_at=NOW, opened_at=None, last_update_time=NOW)


def decide(quote: str, signal: SignalView | None = None, trail: TrailingStop | None = None):
    return decide_exit(Pos(), D(quote), signal, trail, S, now=NOW)


# (pair, quote, signal, trailing, expected reason, expected order kind)
PAIRS = [
    ("hard+soft", "94", None, None, ExitReason.HARD_STOP, ExitOrderKind.MARKET),
    ("hard+signal", "94", sell(), None, ExitReason.HARD_STOP, ExitOrderKind.MARKET),
    ("hard+trailing", "94", None, trailing("101"), ExitReason.HARD_STOP, ExitOrderKind.MARKET),
    ("soft+signal", "97", sell(), None, ExitReason.SOFT_STOP, ExitOrderKind.LIMIT),
    ("soft+trailing", "97", None, trailing("101"), ExitReason.SOFT_STOP, ExitOrderKind.LIMIT),
    ("tp+signal", "107", sell(), None, ExitReason.TAKE_PROFIT, ExitOrderKind.LIMIT),
    ("tp+trailing", "107", None, trailing("107.5"), ExitReason.TAKE_PROFIT, ExitOrderKind.LIMIT),
    ("signal+trailing", "104", sell(), trailing("104.5"), ExitReason.SIGNAL, ExitOrderKind.LIMIT),
    ("hard+signal+trailing", "90", sell(), trailing("101"), ExitReason.HARD_STOP, ExitOrderKind.MARKET),
    ("tp+signal+trailing", "110", sell(), trailing("110"), ExitReason.TAKE_PROFIT, ExitOrderKind.LIMIT),
]


@pytest.mark.parametrize(("pair", "quote", "signal", "trail", "reason", "kind"), PAIRS, ids=[p[0] for p in PAIRS])
def test_higher_priority_wins(pair: str, quote: str, signal: SignalView | None, trail: TrailingStop | None,
                              reason: ExitReason, kind: ExitOrderKind) -> None:
    decision = decide(quote, signal, trail)
    assert decision is not None, pair
    assert (decision.reason, decision.order_kind) == (reason, kind)
    assert decision.quote_price == D(quote)
    assert (decision.limit_price is None) == (kind is ExitOrderKind.MARKET)


@pytest.mark.parametrize(("quote", "reason", "target"), [
    ("95", ExitReason.HARD_STOP, "95"),  # exactly at the thresholds
    ("97.5", ExitReason.SOFT_STOP, "97.5"),
    ("106.25", ExitReason.TAKE_PROFIT, "106.25"),
])
def test_thresholds_are_inclusive_and_targets_are_the_levels(quote: str, reason: ExitReason, target: str) -> None:
    decision = decide(quote)
    assert decision is not None and decision.reason is reason and decision.target_price == D(target)


def test_signal_exit_only_at_non_negative_pnl() -> None:
    assert decide("99", sell()) is None  # a loss that is not a stop: the signal waits
    at_entry = decide("100", sell())
    assert at_entry is not None and at_entry.reason is ExitReason.SIGNAL and at_entry.target_price == D("100")


def test_stale_signal_is_ignored_and_trailing_still_applies() -> None:
    assert decide("104", sell(fresh=False)) is None
    decision = decide("104", sell(fresh=False), trailing("104.5"))
    assert decision is not None and decision.reason is ExitReason.TRAILING_STOP
    assert decision.target_price == D("104.5")


def test_trailing_alone_and_inactive_trailing() -> None:
    assert decide("103", None, trailing("103")) is not None
    assert decide("103.01", None, trailing("103")) is None
    assert decide("101", None, trailing(None, TrailingState.INACTIVE)) is None
    triggered = decide("105", None, trailing("104", TrailingState.TRIGGERED))
    assert triggered is not None and triggered.reason is ExitReason.TRAILING_STOP


def test_no_condition_no_exit() -> None:
    assert decide("101", SignalView(sell=False, atr=None, as_of=NOW), trailing("99")) is None


def test_stop_loss_and_take_profit_cannot_both_hold() -> None:
    # The pairs hard/soft + take profit are impossible: the thresholds have opposite signs.
    assert S.stop_loss_soft_pct < 0 < S.take_profit_pct
    assert level(D("100"), S.stop_loss_soft_pct) < D("100") < level(D("100"), S.take_profit_pct)


def _expected(quote: Decimal, signal_on: bool, trail_hit: bool) -> ExitReason | None:
    pnl = (quote - 100) / 100 * 100
    conditions = [
        (pnl <= S.stop_loss_hard_pct, ExitReason.HARD_STOP),
        (pnl <= S.stop_loss_soft_pct, ExitReason.SOFT_STOP),
        (pnl >= S.take_profit_pct, ExitReason.TAKE_PROFIT),
        (signal_on and pnl >= 0, ExitReason.SIGNAL),
        (trail_hit, ExitReason.TRAILING_STOP),
    ]
    return next((reason for true, reason in conditions if true), None)


def test_priority_over_a_price_grid() -> None:
    """Every combination of conditions over prices −15 % … +15 %: the first true one by priority wins."""
    quotes = [D(85) + D("0.25") * i for i in range(121)]
    for quote, signal_on, trail_on in itertools.product(quotes, (False, True), (False, True)):
        trail = trailing(str(quote + 1)) if trail_on else None  # a trailing stop above the quote is hit
        decision = decide(str(quote), sell() if signal_on else None, trail)
        assert (decision.reason if decision else None) == _expected(quote, signal_on, trail_on), (quote, signal_on,
                                                                                                  trail_on)


def test_bad_prices_raise_clearly() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        decide("0")


def test_signal_freshness_window() -> None:
    ahead = SignalView(sell=True, atr=None, as_of=NOW + timedelta(seconds=3))  # small clock skew: fresh
    far_ahead = SignalView(sell=True, atr=None, as_of=NOW + timedelta(seconds=60))  # nonsense: ignored
    assert decide("101", ahead) is not None and decide("101", far_ahead) is None

"""quiet_band: every sell price it calls quiet is one at which the sentinel's two decisions do nothing —
advance() returns the very same stop (its common tick) and decide_exit() returns None — checked over
20,000 seeded random positions, stops, signals, settings, prices and times; plus the cases that must
offer no band."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.enums import TrailingState
from core.settings import TradingSettings
from market_data.exit_policy import decide_exit
from market_data.ports import SignalView
from market_data.quiet_band import quiet_band
from market_data.trailing_stop import TrailingParams, TrailingStop, advance

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OPENED = NOW - timedelta(hours=2)
D = Decimal


@dataclass(frozen=True)
class Pos:
    symbol: str = "SOL-USD"
    size: Decimal = Decimal("2")
    avg_entry_price: Decimal = Decimal("100")
    opened_at: datetime | None = OPENED


def stop_for(pos: Pos, state: TrailingState, low: Decimal, high: Decimal, current: Decimal | None,
             atr: Decimal | None) -> TrailingStop:
    return TrailingStop(symbol=pos.symbol, state=state, entry_price=pos.avg_entry_price, highest_price=high,
                        lowest_price=low, current_stop=current, atr=atr,
                        activated_at=NOW if state is TrailingState.ACTIVE else None, opened_at=pos.opened_at,
                        last_update_time=NOW, update_count=3)


def test_a_quiet_price_changes_nothing_and_decides_nothing() -> None:
    rng = random.Random(20261206)
    quiet = 0
    for _ in range(20_000):
        pos = Pos()
        active = rng.random() < 0.5
        low = D(rng.randint(96_000, 100_500)) / 1000
        high = low + D(rng.randint(0, 6_000)) / 1000
        current = low + D(rng.randint(-3_000, 1_000)) / 1000 if active else None
        atr = rng.choice([None, D("0.7"), D("1.3")])
        stop = stop_for(pos, TrailingState.ACTIVE if active else TrailingState.INACTIVE, low, high, current, atr)
        signal = SignalView(sell=rng.random() < 0.2, atr=atr if rng.random() < 0.8 else D("0.9"), as_of=NOW)
        trading = TradingSettings(take_profit_pct=rng.choice([D("2"), D("6.25")]),
                                  stop_loss_soft_pct=rng.choice([D("-2.5"), D("-1")]))
        params = replace(TrailingParams.from_settings(trading), activation_pct=rng.choice([D("1"), D("3.5"), D("9")]),
                         time_activation_s=rng.choice([None, 0.0, 3600.0]))
        price = low + (high - low) * D(rng.randint(-500, 10_500)) / 10_000  # around and inside [low, high]
        band = quiet_band(pos, stop, signal, trading, params)
        if band is None or not band.holds(price):
            continue
        quiet += 1
        now = NOW + timedelta(seconds=rng.randint(0, 20_000))  # the band holds whatever the time
        assert advance(stop, price, signal.atr, now, params).stop is stop, (stop, price, signal, params)
        assert decide_exit(pos, price, signal, stop, trading, now=now) is None, (stop, price, signal, params)
    assert quiet > 4_000  # the property was exercised, not skipped


def test_a_typical_band_lies_between_the_low_and_the_high() -> None:
    pos = Pos()
    stop = stop_for(pos, TrailingState.INACTIVE, D("98"), D("101"), None, D("0.7"))
    band = quiet_band(pos, stop, SignalView(sell=False, atr=D("0.7"), as_of=NOW), TradingSettings(),
                      TrailingParams.from_settings(TradingSettings()))
    assert band is not None
    assert band.holds(D("99.5")) and band.holds(D("100.9"))
    assert not band.holds(D("98")) and not band.holds(D("101"))  # a new low or high changes the stop


def test_no_band_where_time_or_news_alone_changes_the_outcome() -> None:
    pos = Pos()
    trading = TradingSettings()
    params = TrailingParams.from_settings(trading)
    stop = stop_for(pos, TrailingState.INACTIVE, D("98"), D("101"), None, D("0.7"))
    quiet = SignalView(sell=False, atr=D("0.7"), as_of=NOW)
    assert quiet_band(pos, stop, quiet, trading, params) is not None
    assert quiet_band(pos, stop, replace(quiet, sell=True), trading, params) is None  # a signal exit ages
    assert quiet_band(pos, stop, replace(quiet, atr=D("0.9")), trading, params) is None  # a new ATR is recorded
    assert quiet_band(pos, None, quiet, trading, params) is None  # the first evaluation creates the stop
    assert quiet_band(replace(pos, avg_entry_price=D("99")), stop, quiet, trading, params) is None  # new position
    assert quiet_band(replace(pos, size=D("0")), stop, quiet, trading, params) is None
    triggered = replace(stop, state=TrailingState.TRIGGERED)
    assert quiet_band(pos, triggered, quiet, trading, params) is None
    # Time-based activation: above the entry, age alone may activate the stop, so the band ends there.
    timed = quiet_band(pos, stop, quiet, trading, replace(params, time_activation_s=60.0))
    assert timed is not None and timed.holds(D("99.9")) and not timed.holds(D("100.5"))

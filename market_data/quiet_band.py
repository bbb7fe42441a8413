"""The sell prices at which the sentinel's evaluation of a position would decide nothing and change
nothing: no exit (decide_exit), and the trailing stop's "common tick" (advance returns the same stop:
no new high or low, no activation, no hit, no ATR change).

A replay uses it to skip evaluating price points inside the band (replay/driver.py); the shortcut-free
reference run evaluates every point and must produce the same report. The band is only offered where
time alone cannot change the outcome between two evaluations: no sell signal (its freshness ages), and
no time-based trailing activation above the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.money import pct_change
from core.settings import TradingSettings
from market_data.ports import OpenPosition, SignalView
from market_data.trailing_stop import TrailingParams, TrailingState, TrailingStop


@dataclass(frozen=True, slots=True)
class QuietBand:
    """Open bounds: a sell price p is quiet when price_above < p < price_below and
    pnl_above < pct_change(p, entry) < pnl_below (the same arithmetic decide_exit and should_activate use)."""

    entry: Decimal
    price_above: Decimal
    price_below: Decimal
    pnl_above: Decimal
    pnl_below: Decimal | None  # None: no upper P&L bound

    def holds(self, price: Decimal) -> bool:
        if not self.price_above < price < self.price_below:
            return False
        pnl = pct_change(price, self.entry)
        return self.pnl_above < pnl and (self.pnl_below is None or pnl < self.pnl_below)


def quiet_band(position: OpenPosition, stop: TrailingStop | None, signal: SignalView | None,
               settings: TradingSettings, params: TrailingParams) -> QuietBand | None:
    """The band for `position` guarded by `stop`, or None when no price can be called quiet."""
    entry = position.avg_entry_price
    if position.size <= 0 or entry <= 0 or stop is None or stop.entry_price != entry:
        return None
    if position.opened_at is not None and stop.opened_at is not None and stop.opened_at != position.opened_at:
        return None  # a new position: the next evaluation starts a fresh stop
    if signal is not None and signal.sell:
        return None  # a signal exit depends on the signal's age
    atr = signal.atr if signal is not None and signal.atr is not None and signal.atr > 0 else None
    if atr is not None and atr != stop.atr:
        return None  # the next evaluation records the new ATR
    if stop.lowest_price is None:
        return None
    price_above, price_below = stop.lowest_price, stop.highest_price
    pnl_above = max(settings.stop_loss_hard_pct, settings.stop_loss_soft_pct)
    pnl_below: Decimal | None = settings.take_profit_pct
    if stop.state is TrailingState.ACTIVE:
        if stop.current_stop is None:
            return None
        price_above = max(price_above, stop.current_stop)
    elif stop.state is TrailingState.INACTIVE:
        pnl_below = params.activation_pct if pnl_below is None else min(pnl_below, params.activation_pct)
        if params.time_activation_s is not None and stop.opened_at is not None:
            price_below = min(price_below, entry)  # above the entry, age alone may activate it
    else:
        return None  # triggered: an exit is being decided
    if not price_above < price_below:
        return None
    return QuietBand(entry=entry, price_above=price_above, price_below=price_below, pnl_above=pnl_above,
                     pnl_below=pnl_below)

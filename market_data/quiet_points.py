"""What the sentinel would do with a quote, answered without doing it: the quiet band of a position
(market_data/quiet_band.py) and the sweep's memo. A replay uses these to skip evaluations that would
change nothing (replay/driver.py); the live daemon's sweep uses the memo the same way.

A mixin of PositionMonitor: it reads the monitor's state, declared here for the type checker.
"""

from __future__ import annotations

from decimal import Decimal

from core.clock import Clock
from core.settings import Settings
from market_data.exit_tracker import ExitTracker
from market_data.market_cache import CachedQuote, MarketCache
from market_data.ports import OpenPosition, PositionSource, SignalSource, SignalView, base_asset
from market_data.protective_stop import ProtectiveStopManager
from market_data.quiet_band import QuietBand, quiet_band
from market_data.trailing_book import TrailingBook
from market_data.trailing_stop import TrailingParams

Memo = tuple[CachedQuote, SignalView | None, Decimal, Decimal]  # the last evaluation's quote, signal, entry, size


class QuietPoints:
    _settings: Settings
    _cache: MarketCache
    _positions: PositionSource
    _signals: SignalSource
    _clock: Clock
    _protective: ProtectiveStopManager | None
    _params: TrailingParams
    _hodl: frozenset[str]
    _exits: ExitTracker
    _trailing: TrailingBook
    _memo: dict[str, Memo]
    _seen: set[str]
    _no_quote_since: dict[str, float]
    _quiet_basis: dict[str, tuple[Decimal, Decimal]]

    def quiet_band(self, symbol: str) -> QuietBand | None:
        """Sell prices at which on_quote for `symbol` would do nothing now (market_data/quiet_band.py);
        None while anything else (an exit in flight or backing off, HODL, protective stops) is in play."""
        if (symbol in self._exits or self._protective is not None or symbol in self._no_quote_since
                or symbol not in self._seen or (self._hodl and base_asset(symbol) in self._hodl)):
            return None
        for position in self._positions.open_positions():  # as on_quote sees it (its cost basis)
            if position.symbol == symbol:
                self._quiet_basis[symbol] = (position.avg_entry_price, position.size)
                return quiet_band(position, self._trailing.get(symbol), self._signals.signal(symbol),
                                  self._settings, self._params)
        return None

    def on_quiet_quote(self, quote: CachedQuote) -> None:
        """All on_quote would have done with a quote inside the band quiet_band just gave (position unchanged
        since): remember it, so the next sweep sees it as evaluated."""
        symbol = quote.symbol
        self._seen.add(symbol)
        entry, size = self._quiet_basis[symbol]
        self._memo[symbol] = (quote, self._signals.signal(symbol), entry, size)

    def sweep_evaluates(self, symbol: str) -> bool:
        """Whether a sweep now would evaluate `symbol`'s position (its last evaluation is not current)."""
        for position in self._positions.open_positions():
            if position.symbol == symbol:
                return not self._evaluated_already(position, self._cache.get(symbol), self._clock.monotonic(),
                                                   self._settings.quote_max_age_s)
        return False

    def _evaluated_already(self, position: OpenPosition, quote: CachedQuote | None, now_mono: float,
                           max_age: float) -> bool:
        """Evaluated on this very quote, position and signal, not too old, and time alone changes nothing."""
        symbol = position.symbol
        memo = self._memo.get(symbol)
        return (memo is not None and quote is memo[0] and now_mono - quote.received_mono <= max_age
                and position.avg_entry_price == memo[2] and position.size == memo[3]
                and self._signals.signal(symbol) == memo[1] and not self._time_sensitive(symbol))

    def _time_sensitive(self, symbol: str) -> bool:
        """Inputs unchanged, yet the outcome may change with time: retries and time-based activation."""
        if symbol in self._exits:
            return True
        if self._params.time_activation_s is None:
            return False
        stop = self._trailing.get(symbol)
        return stop is None or not stop.is_active


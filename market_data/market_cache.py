"""The latest quote per symbol, stamped with when WE received it.

Staleness is judged by receive time (monotonic), never by the exchange's timestamp: a feed that
stalls keeps old exchange timestamps and old receive times alike, while clock skew between us and
the exchange cannot make a fresh quote look stale. Listeners hear about every update, in order, on
the caller's task; they must be quick and must not raise (a raising listener is logged and skipped).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.logging import get_logger
from market_data.ticker_frames import TickerUpdate

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CachedQuote:
    symbol: str
    price: Decimal  # last trade
    best_bid: Decimal | None
    best_ask: Decimal | None
    exchange_time: datetime | None
    received_mono: float  # monotonic seconds at receipt (for ages)
    received_at: datetime  # wall clock at receipt (for logs and the database)

    @property
    def sell_price(self) -> Decimal:
        """What a sell could get now: the best bid, else the last trade."""
        return self.best_bid if self.best_bid is not None and self.best_bid > 0 else self.price

    def age(self, now_mono: float) -> float:
        return max(0.0, now_mono - self.received_mono)


QuoteListener = Callable[[CachedQuote], None]


class MarketCache:
    def __init__(self) -> None:
        self._quotes: dict[str, CachedQuote] = {}
        self._listeners: list[QuoteListener] = []

    def add_listener(self, listener: QuoteListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: QuoteListener) -> None:
        self._listeners.remove(listener)

    def update(self, symbol: str, price: Decimal, *, received_mono: float, received_at: datetime,
               best_bid: Decimal | None = None, best_ask: Decimal | None = None,
               exchange_time: datetime | None = None, notify: bool = True) -> CachedQuote | None:
        """Store a quote and tell the listeners. Non-positive prices are refused (logged, None).

        `notify=False` stores it without telling them: for a caller that knows what they would do with
        it (a replay's quiet price point, where the sentinel would decide and change nothing)."""
        if price <= 0:
            log.warning("quote_refused", symbol=symbol, price=str(price), why="non-positive price")
            return None
        previous = self._quotes.get(symbol)
        if (previous is not None and exchange_time is not None and previous.exchange_time is not None
                and exchange_time < previous.exchange_time):
            # An older ticker arriving late (e.g. a snapshot after an update) must not roll the price back.
            return None
        quote = CachedQuote(symbol=symbol, price=price, best_bid=best_bid, best_ask=best_ask,
                            exchange_time=exchange_time, received_mono=received_mono, received_at=received_at)
        self._quotes[symbol] = quote
        if not notify:
            return quote
        for listener in self._listeners:
            try:
                listener(quote)
            except Exception:
                log.exception("quote_listener_failed", symbol=symbol)
        return quote

    def on_ticker(self, ticker: TickerUpdate, *, received_mono: float, received_at: datetime) -> CachedQuote | None:
        return self.update(ticker.symbol, ticker.price, received_mono=received_mono, received_at=received_at,
                           best_bid=ticker.best_bid, best_ask=ticker.best_ask, exchange_time=ticker.time)

    def get(self, symbol: str) -> CachedQuote | None:
        return self._quotes.get(symbol)

    def age(self, symbol: str, now_mono: float) -> float | None:
        """Seconds since the last quote of `symbol` was received; None when there is none."""
        quote = self._quotes.get(symbol)
        return None if quote is None else quote.age(now_mono)

    def symbols(self) -> list[str]:
        return list(self._quotes)

    def __len__(self) -> int:
        return len(self._quotes)

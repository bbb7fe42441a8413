"""The book top, fetched through the exchange port and reused for a second or two.

Working orders check the book every poll and retries re-price from it; a short cache keeps that
from costing one REST call each time, while `fresh=True` forces a new read (after a post-only
rejection the cached top is known to be wrong).
"""

from __future__ import annotations

from core.clock import Clock
from exchange.port import ExchangePort
from webhook.working_orders.types import BookTop


class BookCache:
    def __init__(self, exchange: ExchangePort, clock: Clock, ttl_s: float) -> None:
        self._exchange = exchange
        self._clock = clock
        self._ttl = ttl_s
        self._tops: dict[str, tuple[float, BookTop]] = {}
        self.fetches = 0

    async def top(self, symbol: str, *, fresh: bool = False) -> BookTop | None:
        now = self._clock.monotonic()
        cached = self._tops.get(symbol)
        if cached is not None and not fresh and now - cached[0] <= self._ttl:
            return cached[1]
        quotes = await self._exchange.get_best_bid_ask([symbol])
        self.fetches += 1
        quote = next((q for q in quotes if q.product_id == symbol), None)
        if quote is None or quote.bid <= 0 or quote.ask <= 0:
            return None
        top = BookTop(quote.bid, quote.ask)
        self._tops[symbol] = (now, top)
        return top

    def forget(self, symbol: str) -> None:
        self._tops.pop(symbol, None)

"""The I/O shell around `sizing.size_entry`: reads the live quote, product rules, holdings, open buys
and account value for one entry. Every read has a timeout; a failed read refuses the entry.

- quote: the market cache decides freshness (the stale-data guard); its best ask is used, or, when
  the ticker carried none, the exchange's current best ask;
- holdings: the exchange's balance of the base asset (what the account really holds, bought by the
  daemon or not);
- open buys: this daemon's open buy orders on the symbol (unfilled part, at their limit price or the
  ask; a quote-sized order at its quote size);
- account value: cash plus positions, as the daemon values them (webhook/positions.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.enums import Side
from core.money import ZERO
from exchange.models import Balance, Product
from exchange.port import ExchangePort
from market_data.market_cache import MarketCache
from shared_data import direct
from shared_data.order_store import OPEN_STATUSES
from webhook.alerts.sizing import Exposure, LiveQuote, ProductRules

READ_TIMEOUT_S = 10.0
# risk.manager.STATE_SQL's rows, then the symbol's open buys (padded with NULLs to the same columns)
_OPEN_BUYS_AND_RISK = (
    "SELECT breaker, tripped, reason, details, tripped_at, NULL, NULL, NULL, NULL FROM risk_state UNION ALL "
    "SELECT NULL, NULL, NULL, NULL, NULL, size, quote_size, filled_size, price FROM trade_records "
    "WHERE symbol = $1 AND side = $2 AND status = ANY($3::varchar[])"
)


@dataclass(frozen=True, slots=True)
class EntryFacts:
    quote: LiveQuote
    product: ProductRules
    exposure: Exposure
    taker_fee_rate: Decimal
    maker_fee_rate: Decimal | None = None  # known when a post-only entry may be sized at it
    # risk_state's rows (risk.manager.STATE_SQL's columns), read with the open buys for the entry check
    risk_rows: Sequence[Sequence[Any]] | None = None


class EntryContext:
    def __init__(self, exchange: ExchangePort, sessions: async_sessionmaker[AsyncSession], cache: MarketCache,
                 clock: Clock, account_value: Callable[[Mapping[str, Balance]], Decimal],
                 product: Callable[[str], Awaitable[Product]],
                 taker_fee_rate: Callable[[], Awaitable[Decimal]],
                 maker_fee_rate: Callable[[], Awaitable[Decimal]] | None = None) -> None:
        self._exchange = exchange
        self._sessions = sessions
        self._cache = cache
        self._clock = clock
        self._account_value = account_value
        self._product = product
        self._taker_fee_rate = taker_fee_rate
        self._maker_fee_rate = maker_fee_rate

    async def gather(self, symbol: str) -> EntryFacts:
        async with asyncio.timeout(READ_TIMEOUT_S):
            product = await self._product(symbol)
            quote = await self._quote(symbol)
            balances = await self._exchange.get_balances()
            base = balances.get(product.base_currency)
            held = base.total if base is not None else ZERO
            account = self._account_value(balances)  # the same balances: one read of them per entry
            fee = await self._taker_fee_rate()
            maker = await self._maker_fee_rate() if self._maker_fee_rate is not None else None
            # Last, so that only computation (sizing) lies between this read and the entry check its
            # breaker rows serve (RiskManager.check_entry's state_rows).
            open_buys, risk_rows = await self._open_buys_and_risk(symbol, quote.best_ask)
        return EntryFacts(quote, ProductRules.of(product), Exposure(held, open_buys, account), fee, maker, risk_rows)

    async def _quote(self, symbol: str) -> LiveQuote:
        cached = self._cache.get(symbol)
        if cached is None:
            return LiveQuote(None, None)
        age = cached.age(self._clock.monotonic())
        ask = cached.best_ask
        if ask is None or ask <= 0:
            quotes = await self._exchange.get_best_bid_ask([symbol])
            ask = quotes[0].ask if quotes and quotes[0].ask > 0 else None
        return LiveQuote(ask, age)

    async def _open_buys_and_risk(self, symbol: str, ask: Decimal | None
                                  ) -> tuple[Decimal, list[tuple[Any, ...]]]:
        # One read standing alone, straight through the driver (shared_data.direct): the open buys, and the
        # breaker rows the entry check reads (risk_state's primary key is never NULL: that tells them apart).
        rows = await direct.fetch(self._sessions, _OPEN_BUYS_AND_RISK, symbol, Side.BUY.value, list(OPEN_STATUSES))
        total = ZERO
        risk_rows: list[tuple[Any, ...]] = []
        for breaker, tripped, reason, details, tripped_at, size, quote_size, filled, price in rows:
            if breaker is not None:
                risk_rows.append((breaker, tripped, reason, details, tripped_at))
            elif quote_size is not None:
                total += quote_size
            elif size is not None:
                at = price if price is not None else (ask or ZERO)
                total += max(ZERO, size - (filled or ZERO)) * at
        return total, risk_rows

"""One product's market: price process, synthetic book, candles, public trade tape, 24h stats."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.money import pct_change, quantize_to
from simulator.engine.book import Book, BookParams, Level, build_book, top_levels, top_prices
from simulator.engine.candles import CandleSeries
from simulator.engine.orders import MarketTrade
from simulator.engine.price_process import PricePoint, PriceProcess
from simulator.engine.products import ProductState

TAPE_LENGTH = 500
_PCT = Decimal("1e-14")  # production reports percentages with ~14 decimals
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class _DayAggregate:
    open: Decimal | None
    high: Decimal | None
    low: Decimal | None
    volume: Decimal
    prev_volume: Decimal


@dataclass(frozen=True, slots=True)
class Stats24h:
    open: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal
    volume_change_pct: Decimal
    price_change_pct: Decimal
    low_52w: Decimal
    high_52w: Decimal


class Market:
    def __init__(self, state: ProductState, process: PriceProcess, price: Decimal, book_params: BookParams,
                 trade_id_seed: int) -> None:
        self.state = state
        self.process = process
        self.book_params = book_params
        self.price = quantize_to(price, state.spec.price_increment)
        self.candles = CandleSeries()
        self.tape: deque[MarketTrade] = deque(maxlen=TAPE_LENGTH)
        self._trade_seq = trade_id_seed
        self._side_rng = random.Random(trade_id_seed)
        self._book: Book | None = None  # built on demand: most ticks only need the top of book
        self._day_cache: tuple[int, _DayAggregate] | None = None
        self.last_time: datetime | None = None

    @property
    def product_id(self) -> str:
        return self.state.spec.product_id

    @property
    def book(self) -> Book:
        if self._book is None:
            spec = self.state.spec
            self._book = build_book(self.price, spec.price_increment, spec.base_increment, self.book_params)
        return self._book

    def rebuild_book(self) -> None:
        """Re-centre the book on the current price (liquidity consumed by takers is restored)."""
        self._book = None

    def _on_grid(self, price: Decimal) -> Decimal:
        return max(quantize_to(price, self.state.spec.price_increment), self.state.spec.price_increment)

    def top_prices_after_jump(self, price: Decimal) -> tuple[Decimal | None, Decimal]:
        """The best bid and ask prices right after jump(price): the book re-centres on every jump."""
        return top_prices(self._on_grid(price), self.state.spec.price_increment, self.book_params)

    def top_prices(self) -> tuple[Decimal | None, Decimal | None]:
        """The prices of top_of_book's levels, without working out their sizes (a quote's prices only)."""
        if self._book is not None:
            bid, ask = self._book.best_bid, self._book.best_ask
            return (bid.price if bid else None, ask.price if ask else None)
        return top_prices(self.price, self.state.spec.price_increment, self.book_params)

    def top_of_book(self) -> tuple[Level | None, Level | None]:
        if self._book is not None:
            return self._book.best_bid, self._book.best_ask
        spec = self.state.spec
        return top_levels(self.price, spec.price_increment, spec.base_increment, self.book_params)

    def _record(self, now: datetime, previous: Decimal, point: PricePoint) -> MarketTrade | None:
        self.candles.add(now, point.price, point.volume)
        self.last_time = now
        if point.volume <= 0:
            return None
        self._trade_seq += 1
        side = "BUY" if point.price < previous or (point.price == previous and self._side_rng.random() < 0.5) \
            else "SELL"
        trade = MarketTrade(str(self._trade_seq), self.product_id, point.price, point.volume, side, now)
        self.tape.append(trade)
        return trade

    def step(self, now: datetime) -> MarketTrade | None:
        """Advance the price process one tick; returns the synthetic public trade."""
        previous = self.price
        point = self.process.next_point(self.price)
        self.price = point.price
        self.rebuild_book()
        return self._record(now, previous, point)

    def jump(self, now: datetime, price: Decimal, volume: Decimal = ZERO) -> MarketTrade | None:
        """Move the price; with a volume, a public trade of that size prints at the new price."""
        previous = self.price
        self.price = self._on_grid(price)
        self.rebuild_book()
        return self._record(now, previous, PricePoint(self.price, volume))

    def record_user_trade(self, now: datetime, price: Decimal, size: Decimal, maker_side: str) -> MarketTrade:
        """A fill of a user order also prints on the public tape and in the candle volume."""
        self._trade_seq += 1
        trade = MarketTrade(str(self._trade_seq), self.product_id, price, size, maker_side, now)
        self.tape.append(trade)
        self.candles.add(now, self.price, size)
        return trade

    def _closed_day(self, minute: int) -> _DayAggregate:
        """Aggregates of the closed minutes of the last 24 h (cached until the minute changes)."""
        if self._day_cache is not None and self._day_cache[0] == minute:
            return self._day_cache[1]
        day = self.candles.window(minute - 86_400, minute - 1)
        prev_day = self.candles.window(minute - 2 * 86_400, minute - 86_400 - 1)
        agg = _DayAggregate(
            open=day[0].open if day else None,
            high=max((b.high for b in day), default=None),
            low=min((b.low for b in day), default=None),
            volume=sum((b.volume for b in day), ZERO),
            prev_volume=sum((b.volume for b in prev_day), ZERO),
        )
        self._day_cache = (minute, agg)
        return agg

    def stats(self, now: datetime) -> Stats24h:
        end = int(now.timestamp())
        minute = end - end % 60
        closed = self._closed_day(minute)
        current = self.candles.bucket(minute)
        highs = [x for x in (closed.high, current.high if current else None, self.price) if x is not None]
        lows = [x for x in (closed.low, current.low if current else None, self.price) if x is not None]
        volume = closed.volume + (current.volume if current else ZERO)
        prev_volume = closed.prev_volume
        open_ = closed.open if closed.open is not None else (current.open if current else self.price)
        extremes = self.candles.extremes() or (self.price, self.price)
        return Stats24h(
            open=open_,
            high=max(highs),
            low=min(lows),
            volume=volume,
            volume_change_pct=(pct_change(volume, prev_volume) if prev_volume > 0 else ZERO).quantize(_PCT),
            price_change_pct=pct_change(self.price, open_).quantize(_PCT),
            low_52w=min(extremes[0], self.price),
            high_52w=max(extremes[1], self.price),
        )

    def recent_trades(self, limit: int, start: datetime | None = None,
                      end: datetime | None = None) -> list[MarketTrade]:
        out = []
        for trade in reversed(self.tape):
            if end is not None and trade.time > end:
                continue
            if start is not None and trade.time < start:
                break
            out.append(trade)
            if len(out) >= limit:
                break
        return out


"""A synthetic order book around the current price, and walking it for taker fills.

The book is rebuilt from the price on every tick; liquidity a taker consumes stays consumed until
then, so two market orders in one tick do not get the same prices.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.money import quantize_down, quantize_to

_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class BookParams:
    levels: int = 50
    spread_bps: Decimal = Decimal("2")  # best ask − best bid, in basis points of the price
    step_bps: Decimal = Decimal("1")  # distance between levels
    level_notional: Decimal = Decimal("25000")  # quote value at the top level; deeper levels hold more


@dataclass(slots=True)
class Level:
    price: Decimal
    size: Decimal


@dataclass(slots=True)
class Book:
    bids: list[Level]  # best (highest) first
    asks: list[Level]  # best (lowest) first

    @property
    def best_bid(self) -> Level | None:
        return next((lv for lv in self.bids if lv.size > 0), None)

    @property
    def best_ask(self) -> Level | None:
        return next((lv for lv in self.asks if lv.size > 0), None)

    def top(self, depth: int | None = None) -> tuple[list[Level], list[Level]]:
        bids = [lv for lv in self.bids if lv.size > 0]
        asks = [lv for lv in self.asks if lv.size > 0]
        return (bids, asks) if depth is None else (bids[:depth], asks[:depth])


def _geometry(price: Decimal, tick: Decimal, params: BookParams) -> tuple[Decimal, Decimal]:
    half = max(tick, quantize_to(price * params.spread_bps / 2 / _BPS, tick))
    step = max(tick, quantize_to(price * params.step_bps / _BPS, tick))
    return half, step


def _weight(i: int) -> Decimal:
    # Deterministic shape: depth grows with distance, with a small periodic ripple.
    return (1 + Decimal(i) / 4) * (1 + Decimal((i * 7) % 5) / 10)


def build_book(price: Decimal, tick: Decimal, base_increment: Decimal, params: BookParams) -> Book:
    half, step = _geometry(price, tick, params)
    bids: list[Level] = []
    asks: list[Level] = []
    for i in range(params.levels):
        weight = _weight(i)
        bid_price = price - half - step * i
        if bid_price > 0:
            bids.append(Level(bid_price, _size_at(bid_price, params.level_notional * weight, base_increment)))
        ask_price = price + half + step * i
        asks.append(Level(ask_price, _size_at(ask_price, params.level_notional * weight, base_increment)))
    return Book(bids, asks)


def top_prices(price: Decimal, tick: Decimal, params: BookParams) -> tuple[Decimal | None, Decimal]:
    """The best bid and ask prices build_book would produce (no sizes: a quote's prices only)."""
    half = max(tick, quantize_to(price * params.spread_bps / 2 / _BPS, tick))
    return (price - half if price > half else None), price + half


def top_levels(price: Decimal, tick: Decimal, base_increment: Decimal,
               params: BookParams) -> tuple[Level | None, Level]:
    """The best bid and ask build_book would produce, without building it (tickers every tick)."""
    half, _step = _geometry(price, tick, params)
    bid_price, ask_price = price - half, price + half
    bid = Level(bid_price, _size_at(bid_price, params.level_notional, base_increment)) if bid_price > 0 else None
    return bid, Level(ask_price, _size_at(ask_price, params.level_notional, base_increment))


def _size_at(price: Decimal, notional: Decimal, base_increment: Decimal) -> Decimal:
    return max(quantize_down(notional / price, base_increment), base_increment)


def walk_base(levels: list[Level], size: Decimal, limit: Decimal | None, buying: bool) -> list[tuple[Decimal, Decimal]]:
    """Take up to `size` base from the levels (best first), not past `limit`; consumes liquidity."""
    fills: list[tuple[Decimal, Decimal]] = []
    remaining = size
    for lv in levels:
        if remaining <= 0:
            break
        if lv.size <= 0:
            continue
        if limit is not None and ((buying and lv.price > limit) or (not buying and lv.price < limit)):
            break
        take = min(lv.size, remaining)
        lv.size -= take
        remaining -= take
        fills.append((lv.price, take))
    return fills


def walk_quote(levels: list[Level], value: Decimal, size_step: Decimal) -> list[tuple[Decimal, Decimal]]:
    """Take base worth up to `value` of quote (best first); sizes on `size_step`; consumes liquidity."""
    fills: list[tuple[Decimal, Decimal]] = []
    remaining = value
    for lv in levels:
        if lv.size <= 0:
            continue
        take = min(lv.size, quantize_down(remaining / lv.price, size_step))
        if take <= 0:
            break
        lv.size -= take
        remaining -= take * lv.price
        fills.append((lv.price, take))
    return fills


def peek_cost(levels: list[Level], size: Decimal) -> Decimal | None:
    """Quote cost of taking `size` base without consuming; None when the book is too thin."""
    cost = Decimal(0)
    remaining = size
    for lv in levels:
        if remaining <= 0:
            break
        take = min(lv.size, remaining)
        cost += take * lv.price
        remaining -= take
    return cost if remaining <= 0 else None

"""What a fill would cost right now, from the simulator's own book, without consuming liquidity.

Previews (POST /orders/preview, /orders/edit_preview) use this so their fees, totals and slippage
are exactly what `MatchingEngine._take` would produce against the same book. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from simulator.engine.book import Book, Level, walk_base, walk_quote
from simulator.engine.orders import OrderSpec

ZERO = Decimal(0)
QUOTE_FILL_SIZE_STEP = Decimal("1e-12")  # same step as the engine's quote-sized market buys


@dataclass(frozen=True, slots=True)
class FillQuote:
    base_size: Decimal  # base that would trade (taker part) plus what would rest
    quote_size: Decimal  # quote value of base_size at the fill/limit prices
    commission: Decimal
    order_total: Decimal  # buys: value + commission; sells: value − commission
    average_price: Decimal  # of the taker part (0 when nothing crosses)
    slippage: Decimal  # fraction of the best price the average moves away from it (0 when nothing crosses)
    best_bid: Decimal | None
    best_ask: Decimal | None
    liquid: bool  # False when the book cannot take a market order of this size


def _copy(levels: list[Level]) -> list[Level]:
    return [Level(lv.price, lv.size) for lv in levels if lv.size > 0]


def quote_fill(spec: OrderSpec, side: str, book: Book, maker_rate: Decimal, taker_rate: Decimal,
               base_increment: Decimal) -> FillQuote:
    buying = side == "BUY"
    levels = _copy(book.asks if buying else book.bids)
    bid, ask = book.best_bid, book.best_ask
    best = levels[0].price if levels else None
    taker: list[tuple[Decimal, Decimal]] = []
    rest_size, rest_price = ZERO, ZERO
    commission_override: Decimal | None = None
    liquid = True
    if spec.is_market and spec.quote_size is not None and buying:
        budget = spec.quote_size / (1 + taker_rate)
        taker = walk_quote(levels, budget, QUOTE_FILL_SIZE_STEP)
        spent = sum((p * s for p, s in taker), ZERO)
        commission_override = spec.quote_size - spent if taker else ZERO  # size_inclusive_of_fees, as a fill
        liquid = bool(taker) and budget - spent <= taker[-1][0] * QUOTE_FILL_SIZE_STEP
    elif spec.is_market and spec.quote_size is not None:
        taker = walk_quote(levels, spec.quote_size, base_increment)
        liquid = bool(taker)
    elif spec.is_market:
        size = spec.base_size or ZERO
        taker = walk_base(levels, size, None, buying)
        liquid = sum((s for _, s in taker), ZERO) >= size
    else:
        size = spec.base_size or ZERO
        limit = spec.limit_price or ZERO
        if spec.order_type == "LIMIT" and not spec.post_only:
            taker = walk_base(levels, size, limit, buying)
        rest_size, rest_price = size - sum((s for _, s in taker), ZERO), limit
    taker_base = sum((s for _, s in taker), ZERO)
    taker_value = sum((p * s for p, s in taker), ZERO)
    rest_value = rest_size * rest_price
    # Stop-limits and brackets cross the book when they fire: taker fee on their limit value.
    rest_rate = taker_rate if spec.order_type in ("STOP_LIMIT", "BRACKET") else maker_rate
    if commission_override is not None:
        commission = commission_override
    else:
        commission = taker_value * taker_rate + rest_value * rest_rate
    value = taker_value + rest_value
    average = taker_value / taker_base if taker_base > 0 else ZERO
    slippage = ZERO
    if taker_base > 0 and best is not None and best > 0:
        slippage = (average - best) / best if buying else (best - average) / best
    total = value + commission if buying else value - commission
    return FillQuote(base_size=taker_base + rest_size, quote_size=value, commission=commission, order_total=total,
                     average_price=average, slippage=slippage, best_bid=bid.price if bid else None,
                     best_ask=ask.price if ask else None, liquid=liquid)

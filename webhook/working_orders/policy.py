"""Pure decisions of working orders: prices, re-price / TTL / escalation, retry delays.

No I/O and no clock reads: every function takes the values it decides on (the order as the
exchange reports it, the book top, `now`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from core.enums import OrderStatus, Side
from core.money import quantize_down, quantize_to
from webhook.working_orders.types import BookTop, EntryOrderType, EntryParams, ExitParams, WorkingOrder


@dataclass(frozen=True, slots=True)
class Wait:
    why: str = ""


@dataclass(frozen=True, slots=True)
class Reprice:
    price: Decimal
    why: str


@dataclass(frozen=True, slots=True)
class CancelRest:
    """Entry TTL reached: cancel what is left (a filled part stays a position)."""


@dataclass(frozen=True, slots=True)
class Escalate:
    """Exit: cancel the resting limit and sell the rest at market."""

    why: str  # "hard_stop_reached" / "timeout"


@dataclass(frozen=True, slots=True)
class Finish:
    """The live child reached a final state and nothing is left to work."""


Action = Wait | Reprice | CancelRest | Escalate | Finish


def entry_limit_price(order_type: EntryOrderType, side: Side, top: BookTop, tick: Decimal) -> Decimal | None:
    """The limit an entry is sent at: post-only joins its own side, limit takes the other side."""
    if order_type is EntryOrderType.MARKET:
        return None
    if order_type is EntryOrderType.LIMIT:
        if side is Side.BUY:
            return quantize_to(top.ask, tick, ROUND_CEILING)
        return quantize_to(top.bid, tick, ROUND_FLOOR)
    if side is Side.BUY:
        price = quantize_to(top.bid, tick, ROUND_FLOOR)
        return price if price < top.ask else quantize_to(top.ask - tick, tick, ROUND_FLOOR)
    price = quantize_to(top.ask, tick, ROUND_CEILING)
    return price if price > top.bid else quantize_to(top.bid + tick, tick, ROUND_CEILING)


def capped_entry_price(price: Decimal | None, ceiling: Decimal | None, side: Side,
                       tick: Decimal) -> Decimal | None:
    """A buy's limit, never above the price its size and caps were checked at (None: no cap)."""
    if price is None or ceiling is None or side is not Side.BUY:
        return price
    return min(price, quantize_to(ceiling, tick, ROUND_FLOOR))


def exit_limit_price(bid: Decimal, offset: Decimal, tick: Decimal) -> Decimal:
    """A resting sell just above the bid: bid × (1 + offset), on the tick, strictly above the bid
    (a sell at the bid would take liquidity and pay the taker fee)."""
    price = quantize_to(bid * (1 + offset), tick, ROUND_CEILING)
    return price if price > bid else bid + tick


def base_size_for_quote(notional: Decimal, price: Decimal, fee_rate: Decimal, increment: Decimal) -> Decimal:
    """Base units a quote budget buys at `price` with the fee on top, on the product's increment,
    so an exit can later sell exactly what was bought (no sub-increment dust)."""
    if price <= 0:
        raise ValueError("price must be positive")
    return quantize_down(notional / (price * (1 + fee_rate)), increment)


def entry_red_day(change_24h_pct: Decimal | None) -> bool:
    """The original's momentum filter: a product whose 24 h change is negative is on a red day."""
    return change_24h_pct is not None and change_24h_pct < 0


def decide_entry(wo: WorkingOrder, status: OrderStatus, top: BookTop | None, now: datetime,
                 params: EntryParams) -> Action:
    """What a working entry does next, given its live child's status and the book."""
    if status.is_terminal:
        return Finish()
    if wo.deadline_at is not None and now >= wo.deadline_at:
        return CancelRest()
    if wo.order_type is not EntryOrderType.POST_ONLY or top is None or wo.limit_price is None:
        return Wait("not re-priced")
    best = capped_entry_price(entry_limit_price(wo.order_type, wo.side, top, params.price_increment),
                              wo.price_ceiling, wo.side, params.price_increment)
    moved_away = best is not None and (best > wo.limit_price if wo.side is Side.BUY else best < wo.limit_price)
    if not moved_away:
        return Wait("at the best price" if best is None or best != wo.price_ceiling else "at the price ceiling")
    if wo.reprice_count >= params.max_reprices:
        return Wait("re-price budget spent; resting until the TTL")
    assert best is not None
    seen = top.bid if wo.side is Side.BUY else top.ask
    return Reprice(best, f"best {'bid' if wo.side is Side.BUY else 'ask'} moved away to {seen}")


def decide_exit(wo: WorkingOrder, status: OrderStatus, top: BookTop | None, now: datetime,
                params: ExitParams) -> Action:
    """What a resting exit does next: escalate on the hard stop or the timeout, else follow the bid."""
    if status.is_terminal:
        return Finish()
    if wo.escalated:
        return Wait("escalated: waiting for the market order")
    if top is not None and wo.hard_stop_price is not None and top.bid <= wo.hard_stop_price:
        return Escalate("hard_stop_reached")
    if wo.deadline_at is not None and now >= wo.deadline_at:
        return Escalate("timeout")
    if top is None or wo.limit_price is None:
        return Wait("no book")
    target = exit_limit_price(top.bid, params.limit_offset, params.price_increment)
    if target == wo.limit_price:
        return Wait("at the target price")
    if wo.reprice_count >= params.max_reprices:
        return Wait("re-price budget spent; escalates at its deadline")
    return Reprice(target, f"bid now {top.bid}")


def backoff_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Bounded exponential backoff with full jitter in [d/2, d], d = min(cap, base × 2^attempt)."""
    delay = min(cap_s, base_s * 2 ** max(0, attempt))
    r = (rng or random).random()
    return delay * (0.5 + r / 2)

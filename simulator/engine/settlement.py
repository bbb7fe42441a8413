"""Money movement of a fill: fees in quote, holds consumed and released exactly. Pure over its arguments."""

from __future__ import annotations

from decimal import Decimal

from simulator.engine.accounts import Ledger
from simulator.engine.orders import SimOrder

ZERO = Decimal(0)


def settle_fill(order: SimOrder, ledger: Ledger, base: str, quote: str, price: Decimal, size: Decimal,
                fee_rate: Decimal, fee_override: Decimal | None = None) -> tuple[Decimal, Decimal]:
    """Apply one fill to the order and the balances; returns (value, fee)."""
    value = price * size
    fee = fee_override if fee_override is not None else value * fee_rate
    if order.is_buy:
        cost = value + fee
        if cost > order.hold_remaining:
            # Never happens for limit-priced buys (hold covers the limit plus the taker fee); for market
            # buys the caller sizes fills from the hold. Top up from available rather than go negative.
            extra = cost - order.hold_remaining
            ledger.place_hold(quote, extra)
            order.hold_remaining += extra
        ledger.spend_hold(quote, cost)
        order.hold_remaining -= cost
        ledger.credit(base, size)
    else:
        ledger.spend_hold(base, size)
        order.hold_remaining -= size
        ledger.credit(quote, value - fee)
    order.filled_size += size
    order.filled_value += value
    order.total_fees += fee
    order.number_of_fills += 1
    if order.is_buy and order.per_base_hold is not None and order.spec.base_size is not None:
        # Keep exactly (unfilled size × per-unit hold) reserved; the rest goes back to available.
        target = (order.spec.base_size - order.filled_size) * order.per_base_hold
        excess = order.hold_remaining - target
        if excess > 0:
            ledger.release_hold(quote, excess)
            order.hold_remaining -= excess
    return value, fee


def release_remaining_hold(order: SimOrder, ledger: Ledger) -> None:
    if order.hold_remaining > 0:
        ledger.release_hold(order.hold_currency, order.hold_remaining)
    order.hold_remaining = ZERO

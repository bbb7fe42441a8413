"""Pure price and size arithmetic for orders: increments, post-only prices, exit targets."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from core.enums import Side
from core.money import ZERO, quantize_down, quantize_to
from exchange.models import Balance, Product


def take_profit_price(entry: Decimal, take_profit_pct: Decimal) -> Decimal:
    """Price at which a long position has gained take_profit_pct (> 0) percent."""
    if take_profit_pct <= 0:
        raise ValueError("take_profit_pct must be positive")
    return entry * (1 + take_profit_pct / 100)


def stop_loss_price(entry: Decimal, stop_loss_pct: Decimal) -> Decimal:
    """Price at which a long position has lost |stop_loss_pct| percent (stop_loss_pct < 0)."""
    if stop_loss_pct >= 0:
        raise ValueError("stop_loss_pct must be negative")
    return entry * (1 + stop_loss_pct / 100)


def post_only_price(side: Side, bid: Decimal, ask: Decimal, tick: Decimal) -> Decimal:
    """Best maker price: join the bid (buys) or the ask (sells), never crossing the spread."""
    if side is Side.BUY:
        price = quantize_to(bid, tick, ROUND_FLOOR)
        return price if price < ask else quantize_to(ask - tick, tick, ROUND_FLOOR)
    price = quantize_to(ask, tick, ROUND_CEILING)
    return price if price > bid else quantize_to(bid + tick, tick, ROUND_CEILING)


@dataclass(frozen=True, slots=True)
class SizedOrder:
    base_size: Decimal | None
    quote_size: Decimal | None
    limit_price: Decimal | None


class OrderRejected(ValueError):
    """The order cannot be placed as asked (size, balance, product state); nothing was sent."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def size_order(
    *, product: Product, side: Side, base_size: Decimal | None, quote_size: Decimal | None,
    limit_price: Decimal | None, reference_price: Decimal, balances: dict[str, Balance], taker_fee_rate: Decimal,
) -> SizedOrder:
    """Adjust to the product's increments and check min/max and balances.

    Buys are checked against the quote balance including fees; sells against the *available-to-trade*
    base balance (held funds are not sellable).
    """
    if not product.tradable:
        raise OrderRejected("PRODUCT_NOT_TRADABLE", f"{product.product_id} is {product.status}")
    price = quantize_to(limit_price, product.price_increment) if limit_price is not None else None
    if price is not None and price <= 0:
        raise OrderRejected("INVALID_PRICE", "price rounds to zero")
    quote_bal = balances.get(product.quote_currency, Balance(product.quote_currency, ZERO, ZERO)).available
    base_bal = balances.get(product.base_currency, Balance(product.base_currency, ZERO, ZERO)).available

    if quote_size is not None:  # market buy by quote amount (fees included in the amount)
        q = quantize_down(quote_size, product.quote_increment)
        if q < product.quote_min_size:
            raise OrderRejected("SIZE_TOO_SMALL", f"quote {q} < min {product.quote_min_size}")
        if q > product.quote_max_size:
            raise OrderRejected("SIZE_TOO_LARGE", f"quote {q} > max {product.quote_max_size}")
        if q > quote_bal:
            raise OrderRejected("INSUFFICIENT_FUND", f"need {q} {product.quote_currency}, available {quote_bal}")
        return SizedOrder(None, q, price)

    assert base_size is not None
    if side is Side.SELL and base_size > base_bal:
        base_size = base_bal  # never try to sell what is held or already gone
    b = quantize_down(base_size, product.base_increment)
    if b <= 0 or b < product.base_min_size:
        raise OrderRejected("SIZE_TOO_SMALL", f"base {b} < min {product.base_min_size}")
    if b > product.base_max_size:
        raise OrderRejected("SIZE_TOO_LARGE", f"base {b} > max {product.base_max_size}")
    notional = b * (price if price is not None else reference_price)
    if notional < product.quote_min_size:
        raise OrderRejected("SIZE_TOO_SMALL", f"notional {notional} < min {product.quote_min_size}")
    if side is Side.BUY:
        need = notional * (1 + taker_fee_rate)
        if need > quote_bal:
            raise OrderRejected("INSUFFICIENT_FUND", f"need {need} {product.quote_currency}, available {quote_bal}")
    return SizedOrder(b, None, price)

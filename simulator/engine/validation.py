"""Create-order validation, in the documented order (first failure wins). Pure."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from simulator.engine.book import Book, peek_cost
from simulator.engine.orders import OrderSpec, Rejection
from simulator.engine.products import ProductState

UNKNOWN_PREVIEW = "UNKNOWN_PREVIEW_FAILURE_REASON"


def _rej(error: str, preview: str, message: str) -> Rejection:
    return Rejection(error, preview, message)


def check_product(product: ProductState | None, spec_is_market: bool | None) -> Rejection | None:
    """Step 1: the product exists and accepts new orders."""
    if product is None:
        return _rej("INVALID_PRODUCT_ID", UNKNOWN_PREVIEW, "Invalid product_id")
    f = product.flags
    if f.status != "online" or f.is_disabled or f.view_only:
        return _rej("UNTRADABLE_PRODUCT", UNKNOWN_PREVIEW, "Product is not tradable")
    if f.trading_disabled or f.cancel_only:
        return _rej("ORDER_ENTRY_DISABLED", UNKNOWN_PREVIEW, "Order entry is disabled for this product")
    if spec_is_market and f.limit_only:
        return _rej("ORDER_ENTRY_DISABLED", UNKNOWN_PREVIEW, "Only limit orders are allowed for this product")
    return None


def _multiple(value: Decimal, step: Decimal) -> bool:
    return step <= 0 or value % step == 0


def check_precision(spec: OrderSpec, product: ProductState) -> Rejection | None:
    """Step 3: sizes and prices on the product's increments."""
    s = product.spec
    if spec.base_size is not None and not _multiple(spec.base_size, s.base_increment):
        return _rej("INVALID_SIZE_PRECISION", "PREVIEW_INVALID_SIZE_PRECISION", "Too many decimals in order size")
    if spec.quote_size is not None and not _multiple(spec.quote_size, s.quote_increment):
        return _rej("INVALID_SIZE_PRECISION", "PREVIEW_INVALID_QUOTE_SIZE_PRECISION",
                    "Too many decimals in order quote size")
    for price in (spec.limit_price, spec.stop_price):
        if price is not None and not _multiple(price, s.price_increment):
            return _rej("INVALID_PRICE_PRECISION", "PREVIEW_INVALID_PRICE_PRECISION",
                        "Too many decimals in order price")
    return None


def check_sizes(spec: OrderSpec, side: str, product: ProductState, book: Book) -> Rejection | None:
    """Step 4: base and quote sizes within the product's limits."""
    s = product.spec
    if spec.base_size is not None:
        if spec.base_size < s.base_min_size:
            return _rej("UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL", "Order size is too small")
        if spec.base_size > s.base_max_size:
            return _rej("UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE", "Order size is too large")
    notional: Decimal | None = spec.quote_size
    if notional is None and spec.base_size is not None:
        ref = spec.limit_price
        if ref is None:
            top = book.best_ask if side == "BUY" else book.best_bid
            ref = top.price if top is not None else None
        notional = spec.base_size * ref if ref is not None else None
    if notional is not None:
        if notional < s.quote_min_size:
            return _rej("UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL", "Order value is too small")
        if notional > s.quote_max_size:
            return _rej("UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_QUOTE_SIZE_TOO_LARGE", "Order value is too large")
    return None


def check_prices(spec: OrderSpec, side: str, product: ProductState, book: Book, last_price: Decimal,
                 now: datetime) -> Rejection | None:
    """Step 5: post-only crossing, stop/bracket prices on the right side, GTD end time in the future."""
    buying = side == "BUY"
    bid, ask = book.best_bid, book.best_ask
    limit = spec.limit_price
    post_only = spec.post_only or product.flags.post_only
    if spec.order_type == "LIMIT" and limit is not None and post_only and (
        (buying and ask is not None and limit >= ask.price) or (not buying and bid is not None and limit <= bid.price)
    ):
        return _rej("INVALID_LIMIT_PRICE_POST_ONLY", "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY",
                    "Limit price would cross the book for a post-only order")
    if product.flags.post_only and spec.order_type == "LIMIT" and spec.time_in_force in (
            "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"):
        return _rej("ORDER_ENTRY_DISABLED", UNKNOWN_PREVIEW, "Only post-only orders are allowed for this product")
    if spec.order_type == "STOP_LIMIT" and spec.stop_price is not None:
        up = spec.stop_direction == "STOP_DIRECTION_STOP_UP"
        if (up and spec.stop_price <= last_price) or (not up and spec.stop_price >= last_price):
            return _rej("UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_STOP_PRICE", "Stop price would trigger immediately")
    if spec.order_type == "BRACKET" and spec.stop_price is not None and limit is not None:
        if (buying and limit >= spec.stop_price) or (not buying and limit <= spec.stop_price):
            return _rej("INVALID_BRACKET_PRICES", UNKNOWN_PREVIEW, "Invalid bracket prices")
        crosses = (buying and ask is not None and limit >= ask.price) or (
            not buying and bid is not None and limit <= bid.price)
        if crosses:
            return _rej("INVALID_BRACKET_LIMIT_PRICE", UNKNOWN_PREVIEW, "Bracket limit price would cross the book")
        if (buying and spec.stop_price <= last_price) or (not buying and spec.stop_price >= last_price):
            return _rej("INVALID_BRACKET_STOP_TRIGGER_PRICE", UNKNOWN_PREVIEW,
                        "Bracket stop trigger price would trigger immediately")
    if spec.end_time is not None and spec.end_time <= now:
        return _rej("UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_END_TIME", "End time must be in the future")
    return None


def buy_hold_per_base(spec: OrderSpec, taker_fee_rate: Decimal, bracket_slippage: Decimal) -> Decimal | None:
    """Quote held per base unit of a limit-priced buy: the highest price it may pay, plus the taker fee."""
    if spec.limit_price is None:
        return None
    top = spec.limit_price
    if spec.order_type == "BRACKET" and spec.stop_price is not None:
        top = max(top, spec.stop_price * (1 + bracket_slippage))
    return top * (1 + taker_fee_rate)


def required_funds(spec: OrderSpec, side: str, book: Book, taker_fee_rate: Decimal,
                   bracket_slippage: Decimal) -> tuple[str, Decimal] | None:
    """("quote"|"base", amount) an order needs available; None when a market order meets an empty book."""
    if side == "SELL":
        if spec.base_size is not None:
            return ("base", spec.base_size)
        bid = book.best_bid
        assert spec.quote_size is not None
        return ("base", spec.quote_size / bid.price) if bid is not None else None
    if spec.quote_size is not None:
        return ("quote", spec.quote_size)
    assert spec.base_size is not None
    per_base = buy_hold_per_base(spec, taker_fee_rate, bracket_slippage)
    if per_base is not None:
        return ("quote", spec.base_size * per_base)
    cost = peek_cost(book.asks, spec.base_size)
    return ("quote", cost * (1 + taker_fee_rate)) if cost is not None else None


def check_funds(need: tuple[str, Decimal] | None, quote_available: Decimal,
                base_available: Decimal) -> Rejection | None:
    """Step 6."""
    if need is None:
        return _rej("INVALID_NO_LIQUIDITY", "PREVIEW_INVALID_NO_LIQUIDITY", "Not enough liquidity")
    which, amount = need
    have = quote_available if which == "quote" else base_available
    if amount > have:
        return _rej("INSUFFICIENT_FUND", "PREVIEW_INSUFFICIENT_FUND", "Insufficient balance in source account")
    return None

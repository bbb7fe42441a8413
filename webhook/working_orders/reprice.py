"""Moving and ending a working order's live child.

`reprice` is the one place a resting order's price changes. Today it is cancel-replace; when the
exchange port offers `edit_order` (issue #21) a GTC limit is edited in place here instead (same
order id, never off the book) and nothing else changes for the callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.enums import OrderStatus
from core.logging import get_logger
from exchange.models import Order, OrderKind
from exchange.port import ExchangeError
from webhook.working_orders.context import WorkContext
from webhook.working_orders.policy import backoff_delay
from webhook.working_orders.types import Step, StepKind, WorkingOrder
from webhook.working_orders.waits import wait

log = get_logger(__name__)

CANCEL_POLLS = 40


@dataclass(frozen=True, slots=True)
class RepriceOutcome:
    moved: bool
    filled_meanwhile: bool = False  # the child filled completely before it could be moved
    error: str | None = None


async def observe(ctx: WorkContext, wo: WorkingOrder, order: Order) -> None:
    """Record fills of the live child as soon as they are seen: a partial fill is a position at once."""
    if order.filled_size > wo.child_filled or order.status.is_terminal:
        await ctx.settle(order.order_id)
    if order.filled_size > wo.child_filled:
        ctx.note(wo, Step(ctx.clock.now(), StepKind.FILLED, {
            "order_id": order.order_id, "filled": format(order.filled_size, "f"),
            "average_price": None if order.average_filled_price is None else format(order.average_filled_price, "f")}))
        wo.child_filled = order.filled_size


async def cancel_child(ctx: WorkContext, wo: WorkingOrder) -> Order | None:
    """Cancel the live child and wait (bounded, via the clock) for its final state; its fills are
    recorded and counted. Returns the final order (None if it never became final in time)."""
    if wo.order_id is None:
        return None
    order_id = wo.order_id
    try:
        await ctx.exchange.cancel_orders([order_id])
    except ExchangeError as exc:
        log.warning("working_order_cancel_failed", working_order_id=wo.id, order_id=order_id, error=str(exc))
    final: Order | None = None
    for attempt in range(CANCEL_POLLS):
        try:
            order = await ctx.exchange.get_order(order_id)
        except ExchangeError as exc:
            log.warning("working_order_poll_failed", order_id=order_id, error=str(exc))
            order = None
        if order is not None:
            await observe(ctx, wo, order)
            if order.status.is_terminal:
                final = order
                break
        await wait(ctx.clock, backoff_delay(attempt, 0.05, 1.0))
    if final is None:
        return None
    wo.filled_before += final.filled_size
    wo.child_filled = Decimal(0)
    wo.order_id = None
    return final


async def reprice(ctx: WorkContext, wo: WorkingOrder, new_price: Decimal, why: str) -> RepriceOutcome:
    """Move the live child's limit to `new_price` for what is left unfilled."""
    old_price, old_id = wo.limit_price, wo.order_id
    final = await cancel_child(ctx, wo)
    if final is None:
        return RepriceOutcome(False, error="CANCEL_NOT_CONFIRMED")
    if final.status is OrderStatus.FILLED or wo.remaining <= 0:
        return RepriceOutcome(False, filled_meanwhile=True)
    product = await ctx.product(wo.symbol)
    size = wo.remaining - wo.remaining % product.base_increment
    if size < product.base_min_size or size <= 0:
        return RepriceOutcome(False, filled_meanwhile=True)  # what is left cannot be ordered: done
    wo.reprice_count += 1
    sent = await ctx.placer.send(wo, kind=OrderKind.LIMIT_GTC, size=size, price=new_price,
                                 post_only=wo.posts_only, tick=product.price_increment)
    if not sent.ok and not sent.unsure:
        wo.reprice_count -= 1
        return RepriceOutcome(False, error=f"{sent.error}: {sent.detail or ''}")
    ctx.note(wo, Step(ctx.clock.now(), StepKind.REPRICED, {
        "from_price": None if old_price is None else format(old_price, "f"),
        "to_price": format(wo.limit_price or new_price, "f"), "old_order_id": old_id, "order_id": wo.order_id,
        "size": format(size, "f"), "why": why, "reprice": wo.reprice_count}))
    return RepriceOutcome(True)

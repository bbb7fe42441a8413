"""Working entries: a buy placed per ENTRY_ORDER_TYPE, re-priced as the bid moves away (post-only),
its filled part a position at once, the rest cancelled at ENTRY_ORDER_TTL_S."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from exchange.models import OrderKind
from exchange.port import ExchangeError
from webhook.working_orders.context import WorkContext
from webhook.working_orders.policy import (
    CancelRest,
    EntryParams,
    Finish,
    Reprice,
    capped_entry_price,
    decide_entry,
    entry_limit_price,
)
from webhook.working_orders.reprice import cancel_child, observe, reprice
from webhook.working_orders.types import BookTop, EntryOrderType, Step, StepKind, WorkingOrder, WorkingState


def params(ctx: WorkContext, tick: Decimal) -> EntryParams:
    return EntryParams(ttl_s=ctx.settings.entry_order_ttl_s, max_reprices=ctx.settings.entry_max_reprices,
                       price_increment=tick)


def deadline(ctx: WorkContext, wo: WorkingOrder) -> None:
    wo.deadline_at = wo.started_at + timedelta(seconds=ctx.settings.entry_order_ttl_s)


async def place_first(ctx: WorkContext, wo: WorkingOrder, top: BookTop) -> tuple[bool, str | None]:
    """Send the entry's first child; (ok, error)."""
    product = await ctx.product(wo.symbol)
    price = capped_entry_price(entry_limit_price(wo.order_type, wo.side, top, product.price_increment),
                               wo.price_ceiling, wo.side, product.price_increment)
    kind = OrderKind.MARKET if wo.order_type is EntryOrderType.MARKET else OrderKind.LIMIT_GTC
    sent = await ctx.placer.send(wo, kind=kind, size=wo.target_size, price=price, post_only=wo.posts_only,
                                 tick=product.price_increment)
    if sent.unsure:  # it may rest on the exchange: the working order lives on, in doubt about it
        await ctx.save(wo)
        return True, None
    if not sent.ok:
        wo.state = WorkingState.FAILED
        await ctx.save(wo, Step(ctx.clock.now(), StepKind.FAILED, {"error": sent.error, "detail": sent.detail}))
        return False, f"{sent.error}: {sent.detail or ''}"
    await ctx.save(wo, Step(ctx.clock.now(), StepKind.PLACED, {
        "order_id": wo.order_id, "client_order_id": wo.client_order_id, "order_type": wo.order_type.value,
        "price": None if wo.limit_price is None else format(wo.limit_price, "f"),
        "size": format(wo.target_size, "f"), "bid": format(top.bid, "f"), "ask": format(top.ask, "f")}))
    return True, None


async def step(ctx: WorkContext, wo: WorkingOrder) -> None:
    """One look at a working entry: record fills, then re-price, cancel at the TTL, or finish."""
    if wo.order_id is None:  # recovered without a live child (a crash before the first send)
        await _finish(ctx, wo, "no live order")
        return
    try:
        order = await ctx.exchange.get_order(wo.order_id)
    except ExchangeError:
        return  # the next poll tries again; the reconciler covers a longer outage
    await observe(ctx, wo, order)
    product = await ctx.product(wo.symbol)
    top = await ctx.books.top(wo.symbol) if not order.status.is_terminal else None
    action = decide_entry(wo, order.status, top, ctx.clock.now(), params(ctx, product.price_increment))
    if isinstance(action, Finish):
        wo.filled_before += order.filled_size
        wo.child_filled, wo.order_id = Decimal(0), None
        await _finish(ctx, wo, f"order {order.status.value.lower()}")
    elif isinstance(action, CancelRest):
        final = await cancel_child(ctx, wo)
        ctx.note(wo, Step(ctx.clock.now(), StepKind.TTL_CANCELLED, {
            "ttl_s": ctx.settings.entry_order_ttl_s, "filled": format(wo.filled_size, "f"),
            "confirmed": final is not None}))
        if final is None:
            await ctx.save(wo)  # cancel not confirmed yet: the next step looks again
            return
        await _finish(ctx, wo, "ttl")
    elif isinstance(action, Reprice):
        outcome = await reprice(ctx, wo, action.price, action.why)
        if wo.unsure_coid is not None:
            await ctx.save(wo)  # the new child may rest: settled on the next look
        elif outcome.filled_meanwhile or (wo.order_id is None and wo.remaining <= 0):
            await _finish(ctx, wo, "filled while re-pricing")
        elif wo.order_id is None:
            await _finish(ctx, wo, f"re-price failed: {outcome.error}", failed=True)
        else:
            await ctx.save(wo)
    elif ctx.pending_steps.get(wo.id):
        await ctx.save(wo)


async def _finish(ctx: WorkContext, wo: WorkingOrder, why: str, failed: bool = False) -> None:
    if wo.filled_size >= wo.target_size:
        wo.state = WorkingState.FILLED
    elif wo.filled_size > 0:
        wo.state = WorkingState.PARTIAL
    else:
        wo.state = WorkingState.FAILED if failed else WorkingState.CANCELLED
    await ctx.save(wo, Step(ctx.clock.now(), StepKind.FINISHED, {
        "why": why, "filled": format(wo.filled_size, "f"), "target": format(wo.target_size, "f")}))


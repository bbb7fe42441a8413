"""Working exits: soft stop, take profit, signal and trailing exits rest as a sell limit just above
the bid (bid × (1 + EXIT_LIMIT_OFFSET)), follow the bid, and become a market order when still
unfilled after EXIT_ESCALATE_S or as soon as the bid reaches the hard stop. (The hard stop itself
never rests: the sentinel sends it as a market order.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from core.money import quantize_down
from exchange.models import OrderKind
from exchange.port import ExchangeError
from webhook.working_orders.context import WorkContext
from webhook.working_orders.policy import Escalate, ExitParams, Finish, Reprice, decide_exit, exit_limit_price
from webhook.working_orders.reprice import cancel_child, observe, reprice
from webhook.working_orders.types import BookTop, Step, StepKind, WorkingOrder, WorkingState

ExitDone = Callable[[str, bool], None]  # (symbol, filled anything)


def params(ctx: WorkContext, tick: Decimal) -> ExitParams:
    return ExitParams(limit_offset=ctx.settings.exit_limit_offset, max_reprices=ctx.settings.exit_max_reprices,
                      price_increment=tick)


def deadline(ctx: WorkContext, wo: WorkingOrder) -> None:
    wo.deadline_at = wo.started_at + timedelta(seconds=ctx.settings.exit_escalate_s)


def escalates_at_once(wo: WorkingOrder, top: BookTop) -> bool:
    """The bid is at the hard stop already: the exit starts as a market order (or as nothing, for dust)."""
    return wo.hard_stop_price is not None and top.bid <= wo.hard_stop_price


async def place_first(ctx: WorkContext, wo: WorkingOrder, top: BookTop) -> tuple[bool, str | None]:
    product = await ctx.product(wo.symbol)
    if escalates_at_once(wo, top):
        return await _escalate(ctx, wo, "hard_stop_reached", first=True)
    price = exit_limit_price(top.bid, ctx.settings.exit_limit_offset, product.price_increment)
    sent = await ctx.placer.send(wo, kind=OrderKind.LIMIT_GTC, size=wo.target_size, price=price, post_only=False,
                                 tick=product.price_increment)
    if sent.unsure:  # it may rest on the exchange: the working order lives on, in doubt about it
        await ctx.save(wo)
        return True, None
    if not sent.ok:
        wo.state = WorkingState.FAILED
        await ctx.save(wo, Step(ctx.clock.now(), StepKind.FAILED, {"error": sent.error, "detail": sent.detail}))
        return False, f"{sent.error}: {sent.detail or ''}"
    await ctx.save(wo, Step(ctx.clock.now(), StepKind.PLACED, {
        "order_id": wo.order_id, "client_order_id": wo.client_order_id, "price": format(price, "f"),
        "size": format(wo.target_size, "f"), "bid": format(top.bid, "f"),
        "hard_stop": None if wo.hard_stop_price is None else format(wo.hard_stop_price, "f")}))
    return True, None


async def step(ctx: WorkContext, wo: WorkingOrder, done: ExitDone | None) -> None:
    if wo.order_id is None:  # recovered without a live child (a crash before the first send)
        await _finish(ctx, wo, "no live order", done)
        return
    try:
        order = await ctx.exchange.get_order(wo.order_id)
    except ExchangeError:
        return
    await observe(ctx, wo, order)
    product = await ctx.product(wo.symbol)
    # A fresh book every look: the hard-stop check must not act on a cached bid while the price falls.
    top = await ctx.books.top(wo.symbol, fresh=True) if not order.status.is_terminal else None
    action = decide_exit(wo, order.status, top, ctx.clock.now(), params(ctx, product.price_increment))
    if isinstance(action, Finish):
        wo.filled_before += order.filled_size
        wo.child_filled, wo.order_id = Decimal(0), None
        await _finish(ctx, wo, f"order {order.status.value.lower()}", done)
    elif isinstance(action, Escalate):
        ok, _error = await _escalate(ctx, wo, action.why)
        if wo.unsure_coid is None and (not ok or wo.order_id is None):
            await _finish(ctx, wo, f"escalation: {action.why}", done)
    elif isinstance(action, Reprice):
        outcome = await reprice(ctx, wo, action.price, action.why)
        if wo.unsure_coid is not None:
            await ctx.save(wo)  # the new child may rest: settled on the next look
        elif wo.order_id is None:
            await _finish(ctx, wo, "filled while re-pricing" if outcome.filled_meanwhile
                          else f"re-price failed: {outcome.error}", done)
        else:
            await ctx.save(wo)
    elif ctx.pending_steps.get(wo.id):
        await ctx.save(wo)


async def escalate_now(ctx: WorkContext, wo: WorkingOrder, why: str, done: ExitDone | None) -> None:
    """Escalate on request (the sentinel decided a hard stop while this exit rests)."""
    if wo.escalated or wo.state.is_final or wo.unsure_coid is not None:
        return  # (in doubt about a child: the desk settles it first, never a second sell beside it)
    ok, _error = await _escalate(ctx, wo, why)
    if wo.unsure_coid is None and (not ok or wo.order_id is None):
        await _finish(ctx, wo, f"escalation: {why}", done)


async def _escalate(ctx: WorkContext, wo: WorkingOrder, why: str, first: bool = False) -> tuple[bool, str | None]:
    """Cancel the resting limit (its fills count) and sell what is left at market."""
    if not first:
        final = await cancel_child(ctx, wo)
        if final is None:
            await ctx.save(wo)
            return True, None  # not confirmed yet; the next step escalates again
    product = await ctx.product(wo.symbol)
    size = quantize_down(wo.remaining, product.base_increment)
    wo.escalated = True
    if size <= 0 or size < product.base_min_size:
        ctx.note(wo, Step(ctx.clock.now(), StepKind.ESCALATED, {"why": why, "size": "0"}))
        return True, None
    wo.state = WorkingState.ESCALATED
    sent = await ctx.placer.send(wo, kind=OrderKind.MARKET, size=size, price=None, post_only=False,
                                 tick=product.price_increment)
    ctx.note(wo, Step(ctx.clock.now(), StepKind.ESCALATED, {
        "why": why, "size": format(size, "f"), "order_id": wo.order_id if sent.ok else None,
        "error": sent.error}))
    if sent.unsure:  # the market child may have executed: settled on the next look, never sent twice
        await ctx.save(wo)
        return True, None
    if not sent.ok:
        wo.order_id = None
        return False, f"{sent.error}: {sent.detail or ''}"
    await ctx.save(wo)
    return True, None


async def _finish(ctx: WorkContext, wo: WorkingOrder, why: str, done: ExitDone | None) -> None:
    if wo.filled_size >= wo.target_size:
        wo.state = WorkingState.FILLED
    elif wo.filled_size > 0:
        wo.state = WorkingState.PARTIAL
    else:
        wo.state = WorkingState.FAILED
    await ctx.save(wo, Step(ctx.clock.now(), StepKind.FINISHED, {
        "why": why, "filled": format(wo.filled_size, "f"), "target": format(wo.target_size, "f"),
        "escalated": wo.escalated}))
    if done is not None:
        done(wo.symbol, wo.filled_size > 0)

"""A child in doubt: its send got no answer, so it may rest on the exchange. The working order keeps
it (state UNSURE) and asks the exchange, by client_order_id, until its fate is known — then manages
the order it turned out to be, or goes on without it. Nobody else re-sends or drops such a child
(OrderManager.recover_unsent leaves the children of a live working order to the desk)."""

from __future__ import annotations

from decimal import Decimal

from shared_data import order_store
from webhook.working_orders.context import WorkContext
from webhook.working_orders.types import Step, StepKind, WorkingOrder, WorkingState


async def settle(ctx: WorkContext, wo: WorkingOrder) -> bool:
    """True when the child's fate is known: `wo` then works it as its live child, or has none."""
    coid = wo.unsure_coid
    if coid is None:
        return True
    result = await ctx.orders.settle_unsent(coid)
    if result.error == "OUTCOME_UNKNOWN" or (result.ok and not result.order_id):
        return False  # still cannot tell: asked again on the next look
    if wo.order_id is not None:  # recovered pointing at the previous child (terminal before this one was sent)
        wo.filled_before += wo.child_filled
    if result.ok and result.order_id:
        async with ctx.sessions() as session:  # its own limit (a restart knows only the previous child's)
            row = await order_store.find_by_client_order_id(session, coid)
        ctx.placer.adopt(wo, coid, result.order_id, row.price if row is not None else wo.limit_price)
    else:
        wo.unsure_coid, wo.order_id = None, None
        wo.child_filled = Decimal(0)
    wo.state = WorkingState.ESCALATED if wo.escalated else WorkingState.WORKING
    ctx.note(wo, Step(ctx.clock.now(), StepKind.UNSURE_SETTLED, {
        "client_order_id": coid, "order_id": result.order_id, "error": result.error}))
    await ctx.save(wo)
    return True

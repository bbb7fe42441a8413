"""Sends one child order of a working order: recorded first, idempotent id, bounded jittered retries.

- Transport failure with unknown outcome: the same client_order_id is sent again (the exchange
  answers with the existing order), so a retry can never double an order.
- Transport failure the exchange certainly did not process: a new child id after a backoff.
- Post-only rejection (the book moved into our price): the price is recomputed from a *fresh* book
  top, never re-sent blindly at the same price.
- Any other business rejection (funds, size, product state): no retry; the caller records it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.logging import get_logger
from exchange.models import OrderKind, OrderRequest
from shared_data import order_store
from webhook.order_intent import client_order_id
from webhook.order_manager import OrderManager, PlaceResult
from webhook.working_orders import store
from webhook.working_orders.book_cache import BookCache
from webhook.working_orders.policy import backoff_delay, capped_entry_price, entry_limit_price
from webhook.working_orders.types import EntryOrderType, Purpose, Step, StepKind, WorkingOrder, WorkingState
from webhook.working_orders.waits import wait

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int
    base_s: float
    cap_s: float


@dataclass(frozen=True, slots=True)
class ChildSent:
    ok: bool
    order_id: str | None = None
    client_order_id: str | None = None
    error: str | None = None
    detail: str | None = None
    unsure: bool = False  # the send's outcome is unknown: `wo` is in doubt about this child


class NotRecorded(Exception):
    """A new working order was not recorded, so its first child was not sent: it was recorded before (a
    replayed intent), or it is an entry beside an open order of its symbol and side."""

    def __init__(self, outcome: store.Inserted) -> None:
        super().__init__(outcome)
        self.started, self.open_order = outcome.started, outcome.open_order


class ChildPlacer:
    def __init__(self, orders: OrderManager, sessions: async_sessionmaker[AsyncSession], books: BookCache,
                 clock: Clock, retry: RetryPolicy, record_step: Callable[[WorkingOrder, Step], object],
                 rng: random.Random | None = None, claim: Callable[[str], object] | None = None) -> None:
        """`claim(id)`: called with each child's client_order_id before it is sent, and with its order
        id as soon as known — the fill path may see the order before the answer arrives."""
        self._claim = claim or (lambda _id: None)
        self._orders = orders
        self._sessions = sessions
        self._books = books
        self._clock = clock
        self._retry = retry
        self._record_step = record_step
        self._rng = rng or random.Random()

    async def send(self, wo: WorkingOrder, *, kind: OrderKind, size: Decimal, price: Decimal | None,
                   post_only: bool, tick: Decimal) -> ChildSent:
        """Place the next child of `wo` for `size`; on success `wo` points at it, and the caller's next
        statement must be its save (WorkContext.save), which also marks the child sent."""
        last = ChildSent(False, error="NOT_ATTEMPTED")
        for attempt in range(self._retry.max_retries + 1):
            coid = client_order_id(wo.intent_key, wo.children)
            wo.children += 1
            request = OrderRequest(client_order_id=coid, product_id=wo.symbol, side=wo.side, kind=kind,
                                   base_size=size, limit_price=price, post_only=post_only)
            await self._record(wo, request, self._clock.now())
            self._claim(coid)
            # An accepted child is marked sent by the caller's save of `wo` (store.save), its next statement.
            result = await self._orders.send_recorded(request, caller_marks_sent=True)
            while result.error == "OUTCOME_UNKNOWN" and attempt < self._retry.max_retries:
                attempt += 1  # same id again: the exchange answers with the order if it exists
                await self._backoff(wo, attempt, coid, "OUTCOME_UNKNOWN")
                result = await self._orders.send_recorded(request, resend=True, caller_marks_sent=True)
            if result.ok and result.order_id:
                self.adopt(wo, coid, result.order_id, price)
                return ChildSent(True, result.order_id, coid)
            if result.error == "OUTCOME_UNKNOWN":
                # The child may rest on the exchange: it stays this working order's, in doubt, until
                # the exchange tells its fate (never a second child beside it, never dropped).
                wo.unsure_coid, wo.client_order_id, wo.order_id, wo.limit_price = coid, coid, None, price
                wo.state = WorkingState.UNSURE
                self._record_step(wo, Step(self._clock.now(), StepKind.OUTCOME_UNKNOWN, {
                    "client_order_id": coid, "detail": result.detail}))
                return ChildSent(False, None, coid, result.error, result.detail, unsure=True)
            last = ChildSent(False, None, coid, result.error, result.detail)
            if _is_post_only_rejection(result):
                wo.post_only_rejections += 1
                top = await self._books.top(wo.symbol, fresh=True)
                # Re-priced from the fresh book, but never above the price the entry's caps were checked at.
                new_price = capped_entry_price(entry_limit_price(EntryOrderType.POST_ONLY, wo.side, top, tick),
                                               wo.price_ceiling, wo.side, tick) if top else None
                self._record_step(wo, Step(self._clock.now(), StepKind.POST_ONLY_REJECTED, {
                    "client_order_id": coid, "price": _s(price), "new_price": _s(new_price),
                    "bid": _s(top.bid if top else None), "ask": _s(top.ask if top else None)}))
                if new_price is None:
                    break
                price = new_price
                await self._backoff(wo, attempt, coid, "POST_ONLY", record=False)
                continue
            if result.error == "EXCHANGE_UNAVAILABLE":
                await self._backoff(wo, attempt, coid, result.error)
                continue
            break  # a business rejection a retry will not fix
        return last

    def adopt(self, wo: WorkingOrder, coid: str, order_id: str, price: Decimal | None) -> None:
        """`wo`'s live child is now this exchange order."""
        self._claim(order_id)
        wo.order_id, wo.client_order_id, wo.limit_price = order_id, coid, price
        wo.child_filled, wo.unsure_coid = Decimal(0), None
        if order_id not in wo.child_ids:
            wo.child_ids.append(order_id)

    async def _record(self, wo: WorkingOrder, request: OrderRequest, now: datetime) -> None:
        order_type = "MARKET" if request.kind is OrderKind.MARKET else "LIMIT"
        trigger = {**wo.trigger, "working_order_id": wo.id, "post_only": request.post_only}
        if not wo.stored:  # a new working order: its row and this first child's, together
            outcome = await store.insert_with_child(
                self._sessions, wo, now, client_order_id=request.client_order_id, order_type=order_type,
                price=request.limit_price, size=request.base_size, trigger=trigger, order_time=now,
                refuse_beside_open=wo.purpose is Purpose.ENTRY)
            if not outcome.written:
                raise NotRecorded(outcome)
            wo.stored = True
            return
        await order_store.record_child_intent(
            self._sessions, client_order_id=request.client_order_id, symbol=wo.symbol, side=wo.side,
            order_type=order_type, price=request.limit_price, size=request.base_size, source=wo.source,
            trigger=trigger, exit_reason=wo.exit_reason, exit_target_price=wo.exit_target_price,
            exit_quote_price=wo.exit_quote_price, order_time=now, working_order_id=wo.id,
            amend_count=wo.reprice_count, escalated=wo.escalated)

    async def _backoff(self, wo: WorkingOrder, attempt: int, coid: str, why: str, record: bool = True) -> None:
        delay = backoff_delay(attempt, self._retry.base_s, self._retry.cap_s, self._rng)
        if record:
            self._record_step(wo, Step(self._clock.now(), StepKind.PLACE_RETRY,
                                       {"client_order_id": coid, "error": why, "delay_s": round(delay, 3)}))
        log.info("working_order_retry", working_order_id=wo.id, error=why, attempt=attempt, delay_s=delay)
        await wait(self._clock, delay)


def _is_post_only_rejection(result: PlaceResult) -> bool:
    text = f"{result.error or ''} {result.detail or ''}".upper()
    return "POST_ONLY" in text


def _s(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")

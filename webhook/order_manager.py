"""The one entry point that turns an OrderIntent into an exchange order, exactly once.

Steps: same-side open-order check → product/balance validation and increments → post-only pricing
from the book → record the row (status NEW, deterministic client_order_id) → create_order → record
the answer. A crash between the two writes leaves a NEW row that `recover_unsent` settles on start:
re-sending the same client_order_id returns the existing order instead of creating a second one.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, SystemClock
from core.enums import OrderStatus, Side
from core.logging import get_logger
from core.metrics import ORDER_REJECTIONS, ORDERS
from core.settings import Settings
from exchange.models import FeeTier, Order, OrderKind, OrderRequest, OrderResult, Product
from exchange.port import ExchangeError, ExchangePort, ExchangeUnavailable
from shared_data import order_store
from shared_data.db import read_session, single_statement, unit_of_work
from shared_data.models import TradeRecord
from webhook.leadership.fence import LeaderFence, NotLeader
from webhook.order_intent import IntentKind, OrderIntent, client_order_id
from webhook.preview_gate import PreviewGate
from webhook.pricing import OrderRejected, SizedOrder, post_only_price, size_order

log = get_logger(__name__)

PRODUCT_CACHE_TTL_S = 60.0
UNSENT_MAX_AGE_S = 120.0  # a recorded, unanswered order younger than this is re-sent; older ones only looked up
# Working-order states that still own their children (webhook/working_orders/types.py).
LIVE_WORKING_STATES = frozenset({"working", "escalated", "unsure"})


@dataclass(frozen=True, slots=True)
class PlaceResult:
    ok: bool
    client_order_id: str
    order_id: str | None = None
    error: str | None = None
    detail: str | None = None
    duplicate: bool = False  # this intent had been placed before; nothing new was sent


class OrderManager:
    def __init__(self, exchange: ExchangePort, sessions: async_sessionmaker[AsyncSession], settings: Settings,
                 clock: Clock | None = None, on_unknown_outcome: Callable[[], object] | None = None,
                 fence: LeaderFence | None = None) -> None:
        """`on_unknown_outcome` is called when a send may or may not have reached the exchange (the
        daemon wakes the reconciler, which re-sends the same client_order_id to settle it).
        `fence`: the leadership gate (issue #24); None means this process is the only writer."""
        self._fence = fence
        self._exchange = exchange
        self._on_unknown = on_unknown_outcome
        self._sessions = sessions
        self._settings = settings
        self._clock = clock or SystemClock()
        self._products: dict[str, tuple[float, Product]] = {}
        self._fees: FeeTier | None = None
        self._previews = PreviewGate(exchange, sessions, settings)  # market orders above PREVIEW_ABOVE_USD
        # Serialises placement per (symbol, side) so the same-side check and the insert are atomic here.
        self._locks: dict[tuple[str, Side], asyncio.Lock] = {}

    async def product(self, symbol: str) -> Product:
        cached = self._products.get(symbol)
        now = self._clock.monotonic()
        if cached and now - cached[0] < PRODUCT_CACHE_TTL_S:
            return cached[1]
        product = await self._exchange.get_product(symbol)
        self._products[symbol] = (now, product)
        return product

    async def fee_tier(self) -> FeeTier:
        """The account's fee rates, read once: entry sizing and the desk's quote → base conversion use
        the same figures, so what is sent is what the caps were checked on."""
        if self._fees is None:
            self._fees = await self._exchange.get_fee_tier()
        return self._fees

    async def taker_fee_rate(self) -> Decimal:
        return (await self.fee_tier()).taker_rate

    async def maker_fee_rate(self) -> Decimal:
        return (await self.fee_tier()).maker_rate

    async def place(self, intent: OrderIntent) -> PlaceResult:
        lock = self._locks.setdefault((intent.symbol, intent.side), asyncio.Lock())
        async with lock:
            return await self._place_locked(intent)

    async def _place_locked(self, intent: OrderIntent) -> PlaceResult:
        base_coid = client_order_id(intent.intent_key)
        async with read_session(self._sessions) as session:
            existing, open_order = await order_store.intent_check(session, base_coid, intent.symbol, intent.side)
        if existing is not None:
            order_id, status = existing
            log.info("order_intent_duplicate", client_order_id=base_coid, status=status)
            return PlaceResult(ok=status != OrderStatus.REJECTED.value, client_order_id=base_coid,
                               order_id=order_id, duplicate=True)
        if open_order:
            return PlaceResult(False, base_coid, error="OPEN_ORDER_SAME_SIDE",
                               detail=f"an open {intent.side.value} order exists for {intent.symbol}")
        attempts = self._settings.post_only_max_attempts if intent.kind is IntentKind.POST_ONLY else 1
        result = PlaceResult(False, base_coid, error="NOT_ATTEMPTED")
        for attempt in range(attempts):
            coid = base_coid if attempt == 0 else client_order_id(intent.intent_key, attempt)
            try:
                sized = await self._size(intent)
            except OrderRejected as exc:
                ORDER_REJECTIONS.labels(error=exc.code).inc()
                log.warning("order_rejected_locally", symbol=intent.symbol, side=intent.side.value, error=exc.code,
                            detail=exc.detail, source=intent.source.value)
                return PlaceResult(False, coid, error=exc.code, detail=exc.detail)
            result = await self._send(intent, sized, coid)
            if result.ok or result.error is None or "POST_ONLY" not in result.error.upper():
                return result
            # Post-only would have crossed: re-price from a fresh quote after a short jittered backoff.
            await asyncio.sleep(min(2.0, 0.1 * 2**attempt) * (0.5 + random.random()))
        return result

    async def _size(self, intent: OrderIntent) -> SizedOrder:
        product = await self.product(intent.symbol)
        quote = (await self._exchange.get_best_bid_ask([intent.symbol]))[0]
        balances = await self._exchange.get_balances()
        limit = intent.limit_price
        if intent.kind is IntentKind.POST_ONLY:
            limit = post_only_price(intent.side, quote.bid, quote.ask, product.price_increment)
        reference = quote.ask if intent.side is Side.BUY else quote.bid
        return size_order(
            product=product, side=intent.side, base_size=intent.base_size, quote_size=intent.quote_size,
            limit_price=limit if intent.kind is not IntentKind.MARKET else None, reference_price=reference,
            balances=balances, taker_fee_rate=await self.taker_fee_rate(),
        )

    async def _send(self, intent: OrderIntent, sized: SizedOrder, coid: str) -> PlaceResult:
        kind = OrderKind.MARKET if intent.kind is IntentKind.MARKET else OrderKind.LIMIT_GTC
        try:
            # Without a fence the row is the transaction's one statement: it commits by itself.
            async with (unit_of_work if self._fence is not None else single_statement)(self._sessions) as session:
                await self._check_leader_epoch(session)
                fresh = await order_store.record_intent(
                    session, client_order_id=coid, symbol=intent.symbol, side=intent.side,
                    order_type="MARKET" if kind is OrderKind.MARKET else "LIMIT", price=sized.limit_price,
                    size=sized.base_size, quote_size=sized.quote_size, source=intent.source,
                    trigger=intent.trigger, exit_reason=intent.exit_reason, exit_target_price=intent.exit_target_price,
                    exit_quote_price=intent.exit_quote_price, order_time=self._clock.now(),
                )
        except NotLeader as exc:
            return self._not_leader(coid, intent.symbol, exc)
        if not fresh:
            return PlaceResult(True, coid, duplicate=True)
        request = OrderRequest(
            client_order_id=coid, product_id=intent.symbol, side=intent.side, kind=kind, base_size=sized.base_size,
            quote_size=sized.quote_size, limit_price=sized.limit_price,
            post_only=intent.kind is IntentKind.POST_ONLY,
        )
        blocked = await self._preview_blocks(request, sized, intent)
        if blocked is not None:
            return blocked
        return await self.send_recorded(request, epoch_checked=True)

    async def _preview_blocks(self, request: OrderRequest, sized: SizedOrder,
                              intent: OrderIntent) -> PlaceResult | None:
        """Preview a large market order; a refused one is marked rejected and not sent (hard stops are sent)."""
        notional = sized.quote_size
        if notional is None:
            price = (await self.product(request.product_id)).price or Decimal(0)
            notional = (sized.base_size or Decimal(0)) * price
        verdict = await self._previews.check(request, notional, intent.exit_reason)
        if verdict is None or verdict.send:
            return None
        async with unit_of_work(self._sessions) as session:
            await order_store.mark_rejected(session, request.client_order_id, f"PREVIEW_BLOCKED: {verdict.reason}")
        ORDER_REJECTIONS.labels(error="PREVIEW_BLOCKED").inc()
        log.warning("order_not_sent_after_preview", client_order_id=request.client_order_id,
                    symbol=request.product_id, reason=verdict.reason)
        return PlaceResult(False, request.client_order_id, error="PREVIEW_BLOCKED", detail=verdict.reason)

    async def _check_leader_epoch(self, session: AsyncSession) -> None:
        """The fencing hook (issue #24): inside the transaction that writes the order row, before any
        exchange call. Raises NotLeader when another process leads; the row is then rolled back."""
        if self._fence is not None:
            await self._fence.check(session)

    async def ensure_leader(self) -> None:
        """For exchange writes that record no row first (cancels): raises NotLeader if not leading."""
        if self._fence is not None:
            await self._fence.check_alone(self._sessions)

    def _not_leader(self, coid: str, symbol: str, exc: NotLeader) -> PlaceResult:
        ORDER_REJECTIONS.labels(error="NOT_LEADER").inc()
        log.warning("order_fenced", client_order_id=coid, symbol=symbol, detail=str(exc))
        return PlaceResult(False, coid, error="NOT_LEADER", detail=str(exc))

    async def send_recorded(self, request: OrderRequest, *, epoch_checked: bool = False,
                            resend: bool = False, caller_marks_sent: bool = False) -> PlaceResult:
        """Send an order whose row is already recorded, and record the answer. `epoch_checked`: the
        caller checked the leader epoch in the transaction that wrote the row (`_send` does).
        `resend`: an earlier send of this client_order_id may have reached the exchange, so a re-send
        the exchange certainly did not process proves nothing: the row stays NEW (outcome unknown).
        `caller_marks_sent`: an accepted order's row is marked sent by the caller's next statement
        (the working-order desk's save does it with the child's link); refusals are recorded here."""
        coid = request.client_order_id
        if not epoch_checked:  # e.g. a re-send of a recorded row: check the epoch just before it
            try:
                await self.ensure_leader()
            except NotLeader as exc:
                return self._not_leader(coid, request.product_id, exc)
        try:
            answer: OrderResult = await self._exchange.create_order(request)
        except ExchangeUnavailable as exc:
            ORDER_REJECTIONS.labels(error="TRANSPORT").inc()
            if exc.not_processed and not resend:  # every attempt was refused before processing: nothing exists
                async with unit_of_work(self._sessions) as session:
                    await order_store.mark_rejected(session, coid, f"NOT_SENT: {exc}")
                log.error("order_not_sent", client_order_id=coid, symbol=request.product_id, error=str(exc))
                return PlaceResult(False, coid, error="EXCHANGE_UNAVAILABLE", detail=str(exc))
            # Unknown outcome: the row stays NEW; the reconciler re-sends the same id to settle it.
            log.error("order_outcome_unknown", client_order_id=coid, symbol=request.product_id, error=str(exc))
            if self._on_unknown is not None:
                self._on_unknown()
            return PlaceResult(False, coid, error="OUTCOME_UNKNOWN", detail=f"{exc}; reconciliation will settle it")
        except ExchangeError as exc:
            ORDER_REJECTIONS.labels(error="EXCHANGE_ERROR").inc()
            async with unit_of_work(self._sessions) as session:
                await order_store.mark_rejected(session, coid, f"EXCHANGE_ERROR: {exc}")
            log.error("order_send_failed", client_order_id=coid, symbol=request.product_id, error=str(exc))
            return PlaceResult(False, coid, error="EXCHANGE_ERROR", detail=str(exc))
        if answer.success and answer.order_id:
            if not caller_marks_sent:
                await order_store.mark_sent_alone(self._sessions, coid, answer.order_id)
        else:
            async with single_statement(self._sessions) as session:
                await order_store.mark_rejected(session, coid, f"{answer.error}: {answer.message or ''}")
        if answer.success and answer.order_id:
            ORDERS.labels(state="sent").inc()
            log.info("order_placed", client_order_id=coid, order_id=answer.order_id, symbol=request.product_id,
                     side=request.side.value, kind=request.kind.value, base_size=request.base_size,
                     quote_size=request.quote_size, limit_price=request.limit_price)
            return PlaceResult(True, coid, order_id=answer.order_id)
        error = answer.failure_reason or answer.error or "UNKNOWN"
        ORDER_REJECTIONS.labels(error=error).inc()
        log.warning("order_rejected", client_order_id=coid, symbol=request.product_id, error=error,
                    message=answer.message)
        return PlaceResult(False, coid, error=error, detail=answer.message)

    async def _find_on_exchange(self, symbol: str, client_order_id: str, max_pages: int = 4) -> Order | None:
        """The exchange's order with this client_order_id among the product's recent orders, if any."""
        cursor: str | None = None
        for _ in range(max_pages):
            page = await self._exchange.list_orders(product_id=symbol, cursor=cursor)
            for order in page.items:
                if order.client_order_id == client_order_id:
                    return order
            if not page.has_next or not page.cursor:
                return None
            cursor = page.cursor
        return None

    async def settle_unsent(self, coid: str, max_age_s: float = UNSENT_MAX_AGE_S) -> PlaceResult:
        """The fate of a recorded order whose send outcome is unknown, from the exchange, by its
        client_order_id: a young one is re-sent with the same id (the exchange answers with the
        existing order if the first send got through), an old one is only looked up. Rejected only
        when the exchange does not have it; OUTCOME_UNKNOWN while that cannot be told yet."""
        async with self._sessions() as session:
            row = await order_store.find_by_client_order_id(session, coid)
        if row is None:
            return PlaceResult(False, coid, error="UNKNOWN_ORDER", detail="no recorded row")
        if row.status != OrderStatus.NEW.value:  # settled already (by a send answer or the fill path)
            sent = not row.order_id.startswith(order_store.PLACEHOLDER_PREFIX)
            return PlaceResult(row.status != OrderStatus.REJECTED.value, coid,
                               order_id=row.order_id if sent else None,
                               error=None if row.status != OrderStatus.REJECTED.value else "REJECTED",
                               detail=row.reject_reason)
        if (self._clock.now() - row.order_time).total_seconds() <= max_age_s:
            return await self.send_recorded(_request_of(row, coid), resend=True)
        # Too old to send now — but the first send may have got through: never call an order
        # rejected that the exchange has (the reconciler records its state and fills).
        try:
            found = await self._find_on_exchange(row.symbol, coid)
        except ExchangeError as exc:
            return PlaceResult(False, coid, error="OUTCOME_UNKNOWN", detail=f"look-up failed: {exc}")
        if found is not None:
            async with unit_of_work(self._sessions) as session:
                await order_store.mark_sent(session, coid, found.order_id)
            return PlaceResult(True, coid, order_id=found.order_id)
        async with unit_of_work(self._sessions) as session:
            await order_store.mark_rejected(session, coid, "STALE_UNSENT: not re-sent")
        return PlaceResult(False, coid, error="STALE_UNSENT", detail="not on the exchange; not re-sent")

    async def recover_unsent(self, max_age_s: float = UNSENT_MAX_AGE_S) -> int:
        """Settle rows left NEW by a crash between recording and the exchange's answer.

        Young rows are re-sent with the same client_order_id (the exchange answers with the existing
        order if the first send got through); old ones are marked rejected unless the exchange has
        them. A working order's child is its desk's business while that working order lives (the
        desk settles it and manages the order it turns out to be); a child of a working order that
        ended is never re-sent — if the exchange has it, it is cancelled, as nobody manages it.
        """
        now = self._clock.now()
        async with unit_of_work(self._sessions) as session:
            # Rows younger than a moment may still be in flight; re-sending them would be harmless
            # (same id) but noisy.
            rows = await order_store.stale_intents(session, now - timedelta(seconds=2))
            owners = await order_store.working_order_states(
                session, [r.client_order_id for r in rows if r.client_order_id])
        settled = 0
        for row in rows:
            if row.client_order_id is None:
                continue
            owner = owners.get(row.client_order_id)
            if owner is not None and owner in LIVE_WORKING_STATES:
                continue  # the desk settles it
            if owner is not None:
                await self._settle_orphan(row, row.client_order_id, (now - row.order_time).total_seconds() > max_age_s)
                settled += 1
                continue
            result = await self.settle_unsent(row.client_order_id, max_age_s)
            log.info("order_recovered", client_order_id=row.client_order_id, ok=result.ok, order_id=result.order_id,
                     error=result.error)
            settled += 1
        return settled

    async def _settle_orphan(self, row: TradeRecord, coid: str, old: bool) -> None:
        """A child of a working order that ended: looked up only; one the exchange has is cancelled."""
        found = await self._find_on_exchange(row.symbol, coid)
        if found is None:
            if old:  # never on the exchange; young ones may still be in flight: looked at again later
                async with unit_of_work(self._sessions) as session:
                    await order_store.mark_rejected(session, coid, "STALE_UNSENT: its working order ended")
            return
        async with unit_of_work(self._sessions) as session:
            await order_store.mark_sent(session, coid, found.order_id)
        if not found.status.is_terminal:
            await self.ensure_leader()
            await self._exchange.cancel_orders([found.order_id])
        log.warning("orphan_child_settled", client_order_id=coid, order_id=found.order_id,
                    status=found.status.value, cancelled=not found.status.is_terminal)


def _request_of(row: TradeRecord, coid: str) -> OrderRequest:
    """The order a recorded row describes, to re-send with its own client_order_id."""
    kind = OrderKind.MARKET if row.order_type == "MARKET" else OrderKind.LIMIT_GTC
    # A passive bracket (issue #20) is re-sent as the bracket it was, stop included.
    stop = (row.trigger or {}).get("bracket_stop") if row.order_type == "BRACKET" else None
    if stop is not None:
        kind = OrderKind.BRACKET_GTC
    return OrderRequest(
        client_order_id=coid, product_id=row.symbol, side=Side(row.side), kind=kind,
        base_size=row.size, quote_size=row.quote_size, limit_price=row.price,
        stop_price=None if stop is None else Decimal(stop),
        # A working order's post-only child stays post-only when re-sent (issue #19 records it).
        post_only=bool((row.trigger or {}).get("post_only")),
    )

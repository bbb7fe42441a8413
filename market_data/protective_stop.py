"""Optional exchange-side stop-limit order that mirrors a position's trailing stop.

If the daemon dies, the exchange still holds a stop. Moves are in-place edits (`edit_order`: same
order id, the order never leaves the book, unprotected window 0); only when the exchange refuses
an edit (reason recorded) does a move fall back to cancel-and-replace, whose window between the
cancel and the replacement's acceptance is measured. Every move lands in `MoveLog`
(market_data/stop_moves.py: Prometheus histograms by method, /health/trailing_stop). Moves are rate
limited (`decide_move`, pure): at least `protective_stop_min_interval_s` between moves and at least
`protective_stop_min_improvement_pct` improvement, unless the move is at least
`protective_stop_bypass_pct` — in degraded mode only such bypass moves are made. No orphans: a
failed cancel never leads to a second order, and `sweep_orphans` cancels any of our stop orders the
manager does not track.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from core.clock import Clock, SystemClock
from core.enums import OrderStatus, Side
from core.logging import get_logger
from core.metrics import TRAILING_ERRORS
from core.money import fmt, pct_change, quantize_down
from core.settings import TradingSettings
from exchange.models import EditRequest, OrderKind, OrderRequest, Product
from exchange.port import ExchangeError, ExchangePort
from market_data.stop_events import TrailingEventKind
from market_data.stop_moves import MoveLog, MoveMethod, MoveRecord
from market_data.trailing_stop import HUNDRED

log = get_logger(__name__)

CLIENT_ID_PREFIX = "bt-ps-"  # marks our protective stops among open orders
LIMIT_OFFSET_PCT = Decimal("0.5")  # the stop-limit's limit sits this far below its stop, so it can fill in a fall
EXCHANGE_CALL_TIMEOUT_S = 30.0
# Cancel failures (reference §3.8) that mean the order is not, or soon will not be, on the book.
GONE_FAILURES = frozenset({"UNKNOWN_CANCEL_ORDER", "DUPLICATE_CANCEL_REQUEST"})
FILLED_FAILURE = "ORDER_IS_FULLY_FILLED"


@dataclass(frozen=True, slots=True)
class ProtectiveParams:
    min_interval_s: float
    min_improvement_pct: Decimal
    bypass_pct: Decimal

    @classmethod
    def from_settings(cls, settings: TradingSettings) -> ProtectiveParams:
        return cls(min_interval_s=settings.protective_stop_min_interval_s,
                   min_improvement_pct=settings.protective_stop_min_improvement_pct,
                   bypass_pct=settings.protective_stop_bypass_pct)


@dataclass(frozen=True, slots=True)
class MoveDecision:
    move: bool
    why: str


def decide_move(placed_stop: Decimal | None, new_stop: Decimal, last_moved_at: datetime | None, now: datetime,
                params: ProtectiveParams, *, size_changed: bool = False, degraded: bool = False) -> MoveDecision:
    """Whether to move the exchange stop at `placed_stop` to `new_stop`.

    Degraded mode (exchange failing) makes only moves that improve by the bypass threshold: fewer calls.
    """
    if placed_stop is None:
        return MoveDecision(True, "no protective stop yet")
    if size_changed:
        return MoveDecision(True, "position size changed")
    if new_stop <= placed_stop:
        return MoveDecision(False, "not higher than the placed stop")
    improvement = pct_change(new_stop, placed_stop)
    if improvement >= params.bypass_pct:
        return MoveDecision(True, f"improvement {improvement:.3f}% ≥ bypass {params.bypass_pct}%")
    if degraded:
        return MoveDecision(False, f"degraded: improvement {improvement:.3f}% < bypass {params.bypass_pct}%")
    if last_moved_at is not None and (now - last_moved_at).total_seconds() < params.min_interval_s:
        return MoveDecision(False, f"moved less than {params.min_interval_s}s ago")
    if improvement < params.min_improvement_pct:
        return MoveDecision(False, f"improvement {improvement:.3f}% < {params.min_improvement_pct}%")
    return MoveDecision(True, f"improvement {improvement:.3f}%")


@dataclass(frozen=True, slots=True)
class ProtectiveOrder:
    order_id: str
    client_order_id: str
    stop_price: Decimal
    limit_price: Decimal
    size: Decimal
    placed_at: datetime


def client_order_id(symbol: str, stop_price: Decimal, size: Decimal, replaces: str = "") -> str:
    """Deterministic, so a retried placement of the same stop cannot double it. `replaces` (the id of a
    stop that was lost) makes the replacement of a lost stop a new order: the exchange answers a reused
    client id with the old, cancelled order."""
    seed = f"{symbol}|{fmt(stop_price)}|{fmt(size)}" + (f"|{replaces}" if replaces else "")
    digest = hashlib.sha256(seed.encode()).hexdigest()[:24]
    return f"{CLIENT_ID_PREFIX}{symbol}-{digest}"


def limit_price_for(stop: Decimal, product: Product) -> Decimal:
    """The stop-limit's limit: LIMIT_OFFSET_PCT below its stop, on the product's price increment."""
    return quantize_down(stop * (HUNDRED - LIMIT_OFFSET_PCT) / HUNDRED, product.price_increment)


ChangeListener = Callable[[str, ProtectiveOrder | None], None]
EditOutcome = Literal["edited", "refused", "unknown"]
# (symbol, kind, order id, stop before, stop after, detail): the history of the exchange-side stop
EventListener = Callable[[str, TrailingEventKind, str | None, Decimal | None, Decimal | None, str | None], None]


class ProtectiveStopManager:
    def __init__(self, exchange: ExchangePort, settings: TradingSettings, clock: Clock | None = None,
                 on_change: ChangeListener | None = None, degraded: Callable[[], bool] | None = None,
                 use_edits: bool = True) -> None:
        """`degraded` tells whether the daemon is in degraded mode (only bypass moves then);
        `use_edits=False` forces cancel-and-replace (the benchmark's reference)."""
        self._exchange = exchange
        self._degraded = degraded or (lambda: False)
        self._use_edits = use_edits
        self.moves = MoveLog()
        self._params = ProtectiveParams.from_settings(settings)
        self._clock = clock or SystemClock()
        self._on_change = on_change
        self._on_event: EventListener | None = None
        self._orders: dict[str, ProtectiveOrder] = {}
        self._products: dict[str, Product] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._lost: dict[str, str] = {}  # symbol → id of its last lost stop (salts the next client id)

    def set_listener(self, on_change: ChangeListener | None) -> None:
        """Who hears about placed/removed stops (the monitor, to persist them on the trailing row)."""
        self._on_change = on_change

    def set_event_listener(self, on_event: EventListener | None) -> None:
        self._on_event = on_event

    def adopt(self, symbol: str, order: ProtectiveOrder) -> None:
        """Track an order restored from the database."""
        self._orders[symbol] = order

    def order(self, symbol: str) -> ProtectiveOrder | None:
        return self._orders.get(symbol)

    def forget(self, symbol: str) -> None:
        """Stop tracking (the exit executor cancels conflicting sells, ours included)."""
        if self._orders.pop(symbol, None) is not None:
            self._changed(symbol, None)

    def lost(self, symbol: str, order_id: str) -> None:
        """The tracked stop ended without us (cancelled by someone else, or it fired): forget it, and
        make the next placement a new order."""
        current = self._orders.get(symbol)
        if current is not None and current.order_id == order_id:
            self._lost[symbol] = order_id
            self.forget(symbol)

    def needs_move(self, symbol: str, stop_price: Decimal, size: Decimal, now: datetime) -> MoveDecision:
        current = self._orders.get(symbol)
        if current is None:
            return decide_move(None, stop_price, None, now, self._params)
        return decide_move(current.stop_price, stop_price, current.placed_at, now, self._params,
                           size_changed=size != current.size, degraded=self._degraded())

    async def sync(self, symbol: str, size: Decimal, stop_price: Decimal) -> ProtectiveOrder | None:
        """Make the exchange stop match (`size`, `stop_price`) if the rate limit allows."""
        async with self._lock(symbol):
            product = await self._product(symbol)
            qsize = quantize_down(size, product.base_increment)
            qstop = quantize_down(stop_price, product.price_increment)
            if qsize < product.base_min_size or qstop <= 0:
                log.info("protective_stop_skipped", symbol=symbol, size=str(qsize), why="below minimum size")
                return self._orders.get(symbol)
            decision = self.needs_move(symbol, qstop, qsize, self._clock.now())
            if not decision.move:
                return self._orders.get(symbol)
            current = self._orders.get(symbol)
            decided_at = self._clock.monotonic()
            refusal: str | None = None
            if current is not None and self._use_edits:
                outcome, refusal = await self._edit(symbol, current, qsize, qstop, product)
                if outcome == "edited":
                    moved = self._orders[symbol]
                    self._record(symbol, "edit", moved, 0.0, decided_at, None)
                    log.info("protective_stop_moved", symbol=symbol, stop=fmt(qstop), method="edit",
                             unprotected_s=0.0, why=decision.why)
                    self._event(symbol, TrailingEventKind.EXCHANGE_STOP_EDITED, moved.order_id, current.stop_price,
                                qstop, f"{decision.why}; in place, unprotected 0s")
                    return moved
                if outcome == "unknown":
                    return current  # the edit may have landed: never cancel-replace on top of it; retried next sync
            cancelled_at: float | None = None
            if current is not None:
                cancel = await self._cancel(symbol, current)
                if cancel == "kept":
                    return current  # unsure whether it still rests: never place a second one
                if cancel == "filled":
                    return None
                cancelled_at = self._clock.monotonic()
            placed = await self._place(symbol, qsize, qstop, product)
            before = None if current is None else current.stop_price
            if cancelled_at is None:
                if placed is not None:
                    log.info("protective_stop_placed", symbol=symbol, stop=fmt(qstop), size=fmt(qsize))
                    self._event(symbol, TrailingEventKind.EXCHANGE_STOP_PLACED, placed.order_id, before, qstop,
                                decision.why)
            elif placed is None:
                # Cancelled but not replaced: the next sync places a new one (no rate limit without an order).
                log.warning("protective_stop_unprotected", symbol=symbol, stop=fmt(qstop))
                self._event(symbol, TrailingEventKind.WARNING, None, before, qstop,
                            "exchange stop cancelled but not replaced: unprotected until the next sync")
            else:
                window = self._clock.monotonic() - cancelled_at
                self._record(symbol, "cancel_replace", placed, window, decided_at, refusal)
                log.info("protective_stop_moved", symbol=symbol, stop=fmt(qstop), method="cancel_replace",
                         unprotected_s=round(window, 4), refusal=refusal, why=decision.why)
                self._event(symbol, TrailingEventKind.EXCHANGE_STOP_REPLACED, placed.order_id, before, qstop,
                            f"{decision.why}; unprotected {window:.3f}s"
                            + ("" if refusal is None else f"; edit refused: {refusal}"))
            return placed

    async def _edit(self, symbol: str, current: ProtectiveOrder, size: Decimal, stop: Decimal,
                    product: Product) -> tuple[EditOutcome, str | None]:
        """Move the resting stop in place. 'refused' (with the reason) lets the caller cancel-replace."""
        limit = limit_price_for(stop, product)
        request = EditRequest(order_id=current.order_id, size=size, price=limit, stop_price=stop)
        try:
            async with asyncio.timeout(EXCHANGE_CALL_TIMEOUT_S):
                result = await self._exchange.edit_order(request)
        except (ExchangeError, TimeoutError) as exc:
            TRAILING_ERRORS.inc()
            log.warning("protective_stop_edit_failed", symbol=symbol, order_id=current.order_id, error=repr(exc))
            return "unknown", None
        if not result.success:
            log.warning("protective_stop_edit_refused", symbol=symbol, order_id=current.order_id,
                        reason=result.reason, preview_reason=result.preview_reason)
            return "refused", result.reason or "UNKNOWN_EDIT_ORDER_FAILURE_REASON"
        moved = ProtectiveOrder(order_id=current.order_id, client_order_id=current.client_order_id, stop_price=stop,
                                limit_price=limit, size=size, placed_at=self._clock.now())
        self._orders[symbol] = moved
        self._changed(symbol, moved)
        return "edited", None

    def _record(self, symbol: str, method: MoveMethod, order: ProtectiveOrder, window: float, decided_at: float,
                refusal: str | None) -> None:
        self.moves.add(MoveRecord(symbol=symbol, method=method, order_id=order.order_id, stop_price=order.stop_price,
                                  unprotected_s=window, latency_s=self._clock.monotonic() - decided_at,
                                  at=self._clock.now(), refusal=refusal))

    async def remove(self, symbol: str, why: str) -> bool:
        """Cancel the tracked stop of `symbol`. True when nothing of ours rests on the book any more."""
        async with self._lock(symbol):
            current = self._orders.get(symbol)
            if current is None:
                return True
            outcome = await self._cancel(symbol, current)
            log.info("protective_stop_removed", symbol=symbol, order_id=current.order_id, why=why, outcome=outcome)
            return outcome != "kept"

    async def sweep_orphans(self, open_symbols: Iterable[str]) -> list[str]:
        """Cancel open stop orders of ours that are untracked or belong to a closed position."""
        wanted = set(open_symbols)
        tracked = {o.order_id for s, o in self._orders.items() if s in wanted}
        orphans: list[str] = []
        cursor: str | None = None
        while True:
            async with asyncio.timeout(EXCHANGE_CALL_TIMEOUT_S):
                page = await self._exchange.list_orders(statuses=[OrderStatus.OPEN.value], cursor=cursor)
            orphans += [o.order_id for o in page.items
                        if o.client_order_id.startswith(CLIENT_ID_PREFIX) and o.order_id not in tracked]
            if not page.has_next or not page.cursor:
                break
            cursor = page.cursor
        if orphans:
            async with asyncio.timeout(EXCHANGE_CALL_TIMEOUT_S):
                results = await self._exchange.cancel_orders(orphans)
            log.warning("protective_stop_orphans_cancelled", order_ids=orphans,
                        failed=[r.order_id for r in results if not r.success])
        for symbol in [s for s in self._orders if s not in wanted]:
            self.forget(symbol)
        return orphans

    async def _cancel(self, symbol: str, current: ProtectiveOrder) -> str:
        """'gone' (cancelled or not on the book), 'filled' (the stop fired) or 'kept' (unknown: still there)."""
        try:
            async with asyncio.timeout(EXCHANGE_CALL_TIMEOUT_S):
                results = await self._exchange.cancel_orders([current.order_id])
        except (ExchangeError, TimeoutError) as exc:
            TRAILING_ERRORS.inc()
            log.warning("protective_stop_cancel_failed", symbol=symbol, order_id=current.order_id, error=repr(exc))
            self._event(symbol, TrailingEventKind.EXCHANGE_STOP_FAILED, current.order_id, current.stop_price, None,
                        f"cancel failed: {exc!r}")
            return "kept"
        result = results[0] if results else None
        reason = (result.failure_reason or "") if result is not None else "NO_RESULT"
        if result is not None and result.success:
            outcome = "gone"
        elif reason == FILLED_FAILURE:
            outcome = "filled"
            log.info("protective_stop_filled", symbol=symbol, order_id=current.order_id)
        elif reason in GONE_FAILURES:
            outcome = "gone"
        else:
            TRAILING_ERRORS.inc()
            log.warning("protective_stop_cancel_refused", symbol=symbol, order_id=current.order_id, reason=reason)
            self._event(symbol, TrailingEventKind.EXCHANGE_STOP_FAILED, current.order_id, current.stop_price, None,
                        f"cancel refused: {reason}")
            return "kept"
        self._orders.pop(symbol, None)
        self._changed(symbol, None)
        return outcome

    async def _place(self, symbol: str, size: Decimal, stop: Decimal, product: Product) -> ProtectiveOrder | None:
        limit = limit_price_for(stop, product)
        coid = client_order_id(symbol, stop, size, self._lost.get(symbol, ""))
        request = OrderRequest(client_order_id=coid, product_id=symbol, side=Side.SELL, kind=OrderKind.STOP_LIMIT_GTC,
                               base_size=size, limit_price=limit, stop_price=stop,
                               stop_direction="STOP_DIRECTION_STOP_DOWN")
        try:
            async with asyncio.timeout(EXCHANGE_CALL_TIMEOUT_S):
                result = await self._exchange.create_order(request)
        except (ExchangeError, TimeoutError) as exc:
            # It may or may not rest on the book: the deterministic id and sweep_orphans cover both.
            TRAILING_ERRORS.inc()
            log.warning("protective_stop_place_failed", symbol=symbol, error=repr(exc))
            self._event(symbol, TrailingEventKind.EXCHANGE_STOP_FAILED, None, None, stop, f"place failed: {exc!r}")
            return None
        if not result.success or not result.order_id:
            TRAILING_ERRORS.inc()
            log.warning("protective_stop_rejected", symbol=symbol, error=result.error,
                        failure_reason=result.failure_reason)
            self._event(symbol, TrailingEventKind.EXCHANGE_STOP_FAILED, None, None, stop,
                        f"rejected: {result.error} {result.failure_reason or ''}".strip())
            return None
        order = ProtectiveOrder(order_id=result.order_id, client_order_id=coid, stop_price=stop, limit_price=limit,
                                size=size, placed_at=self._clock.now())
        self._orders[symbol] = order
        self._changed(symbol, order)
        return order

    async def _product(self, symbol: str) -> Product:
        product = self._products.get(symbol)
        if product is None:
            async with asyncio.timeout(EXCHANGE_CALL_TIMEOUT_S):
                product = await self._exchange.get_product(symbol)
            self._products[symbol] = product
        return product

    def _lock(self, symbol: str) -> asyncio.Lock:
        return self._locks.setdefault(symbol, asyncio.Lock())

    def _event(self, symbol: str, kind: TrailingEventKind, order_id: str | None, before: Decimal | None,
               after: Decimal | None, detail: str | None) -> None:
        if self._on_event is not None:
            self._on_event(symbol, kind, order_id, before, after, detail)

    def _changed(self, symbol: str, order: ProtectiveOrder | None) -> None:
        if self._on_change is not None:
            self._on_change(symbol, order)

"""The sentinel's ExitExecutor: cancel conflicting sells, size from available balance, place the exit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, SystemClock, format_rfc3339
from core.enums import ExitReason, OrderSource, Side
from core.logging import get_logger
from core.metrics import EXITS
from exchange.port import ExchangeError, ExchangePort
from market_data.exit_policy import ExitDecision
from market_data.ports import ExitSubmission, OpenPosition
from shared_data import direct
from shared_data.order_store import OPEN_STATUSES, PLACEHOLDER_PREFIX
from webhook.order_intent import IntentKind, OrderIntent
from webhook.order_manager import OrderManager, PlaceResult

log = get_logger(__name__)

CANCEL_WAIT_S = 3.0
# The symbol's open sells the exchange knows (a placeholder key was never sent); the statuses are our constants.
_OPEN_SELLS = (
    "SELECT order_id FROM trade_records WHERE symbol = $1 AND side = $2 AND status IN ("
    + ", ".join(f"'{s}'" for s in OPEN_STATUSES) + f") AND order_id NOT LIKE '{PLACEHOLDER_PREFIX}%'")


class WorkingExitView(Protocol):
    @property
    def order_id(self) -> str | None: ...


class RestingExits(Protocol):
    async def start_exit(self, *, symbol: str, size: Decimal, intent_key: str, reason: ExitReason,
                         target_price: Decimal, quote_price: Decimal, hard_stop_price: Decimal | None,
                         trigger: dict[str, object]) -> PlaceResult: ...

    def hard_stop_price(self, entry_price: Decimal) -> Decimal | None: ...

    async def escalate_exit(self, symbol: str, why: str) -> PlaceResult | None: ...

    def working_exit(self, symbol: str) -> WorkingExitView | None: ...

    @property
    def rests_exits(self) -> bool: ...


class OrderExitExecutor:
    def __init__(self, orders: OrderManager, exchange: ExchangePort, sessions: async_sessionmaker[AsyncSession],
                 settle_order: Callable[[str], Awaitable[object]], clock: Clock | None = None,
                 resting: RestingExits | None = None) -> None:
        """`settle_order(order_id)` records an order's current state and fills (the fill processor).
        `resting`: the working-order desk; non-market exits then rest above the bid (issue #19)."""
        self._orders = orders
        self._resting = resting
        self._settle = settle_order
        self._exchange = exchange
        self._sessions = sessions
        self._clock = clock or SystemClock()

    async def submit_exit(self, position: OpenPosition, decision: ExitDecision) -> ExitSubmission:
        if self._resting is not None and decision.is_market:
            # A resting exit of this position is escalated by its owner, not raced by a second sell.
            escalated = await self._resting.escalate_exit(position.symbol, decision.reason.value)
            if escalated is not None:
                return ExitSubmission(escalated.ok, order_id=escalated.order_id, error=escalated.error)
        elif self._resting is not None and self._resting.working_exit(position.symbol) is not None:
            # Already resting (re-priced, escalated on its own deadline): a softer re-decision adds nothing.
            live = self._resting.working_exit(position.symbol)
            return ExitSubmission(True, order_id=live.order_id if live is not None else None)
        try:
            await self._cancel_open_sells(position.symbol)
        except ExchangeError as exc:
            return ExitSubmission(False, error=f"CANCEL_FAILED: {exc}")
        opened = format_rfc3339(position.opened_at) if position.opened_at else "unknown"
        # Unique per decision, stable for retries of this decision: never doubles, never blocks a later exit.
        key = f"exit:{position.symbol}:{opened}:{decision.reason.value}:{format_rfc3339(self._clock.now())}"
        trigger: dict[str, object] = {"why": decision.why, "pnl_pct": format(decision.pnl_pct, "f")}
        if self._resting is not None and self._resting.rests_exits and not decision.is_market:
            result = await self._resting.start_exit(
                symbol=position.symbol, size=position.size, intent_key=key, reason=decision.reason,
                target_price=decision.target_price, quote_price=decision.quote_price,
                hard_stop_price=self._resting.hard_stop_price(position.avg_entry_price), trigger=trigger)
            if result.ok:
                EXITS.labels(reason=decision.reason.value).inc()
                return ExitSubmission(True, order_id=result.order_id)
            return ExitSubmission(False, error=f"{result.error}: {result.detail or ''}")
        kind = IntentKind.MARKET if decision.is_market else IntentKind.LIMIT
        intent = OrderIntent(
            position.symbol, Side.SELL, kind, OrderSource.WEBHOOK, key, base_size=position.size,
            limit_price=decision.limit_price if kind is IntentKind.LIMIT else None, exit_reason=decision.reason,
            exit_target_price=decision.target_price, exit_quote_price=decision.quote_price,
            trigger={"why": decision.why, "pnl_pct": format(decision.pnl_pct, "f")},
        )
        result = await self._orders.place(intent)
        if result.ok:
            EXITS.labels(reason=decision.reason.value).inc()
            return ExitSubmission(True, order_id=result.order_id)
        return ExitSubmission(False, error=f"{result.error}: {result.detail or ''}")

    async def _cancel_open_sells(self, symbol: str) -> None:
        # One read per exit decision, so through the driver (shared_data.direct): a third of the ORM's CPU.
        ids = [r[0] for r in await direct.fetch(self._sessions, _OPEN_SELLS, symbol, Side.SELL.value)]
        if not ids:
            return
        await self._orders.ensure_leader()  # a cancel is an exchange write too (issue #24)
        results = await self._exchange.cancel_orders(ids)
        log.info("exit_cancelled_conflicting_sells", symbol=symbol, order_ids=ids,
                 results=[(r.order_id, r.success, r.failure_reason) for r in results])
        # Wait (bounded) for the cancels to release the held base balance, and record each cancelled
        # order's final state and fills, so the same-side check and the balance see the truth.
        deadline = asyncio.get_running_loop().time() + CANCEL_WAIT_S
        pending = set(ids)
        while pending and asyncio.get_running_loop().time() < deadline:
            for order_id in list(pending):
                order = await self._exchange.get_order(order_id)
                if order.status.is_terminal:
                    await self._settle(order_id)
                    pending.discard(order_id)
            if pending:
                await asyncio.sleep(0.1)

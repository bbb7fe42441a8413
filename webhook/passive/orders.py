"""The passive manager's exchange calls: every order recorded before it is sent (idempotent id),
bounded retries with the same id while the outcome is unknown, and the exit reason written once the
bracket's leg is known."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.enums import ExitReason, OrderSource, Side
from core.logging import get_logger
from exchange.models import OrderKind, OrderRequest
from shared_data import order_store
from shared_data.db import unit_of_work
from shared_data.models import TradeRecord
from webhook.order_manager import OrderManager, PlaceResult
from webhook.working_orders.policy import backoff_delay
from webhook.working_orders.waits import wait

log = get_logger(__name__)

UNKNOWN_RETRIES = 3


class PassiveOrders:
    def __init__(self, orders: OrderManager, sessions: async_sessionmaker[AsyncSession], clock: Clock,
                 backoff_base_s: float, backoff_max_s: float, rng: random.Random | None = None) -> None:
        self._orders = orders
        self._sessions = sessions
        self._clock = clock
        self._base, self._cap = backoff_base_s, backoff_max_s
        self._rng = rng or random.Random()

    async def send(self, request: OrderRequest, *, order_type: str, trigger: dict[str, Any],
                   exit_target: Decimal | None = None) -> PlaceResult:
        async with unit_of_work(self._sessions) as session:
            await order_store.record_intent(
                session, client_order_id=request.client_order_id, symbol=request.product_id, side=request.side,
                order_type=order_type, price=request.limit_price, size=request.base_size, quote_size=None,
                source=OrderSource.WEBHOOK, trigger=trigger, exit_reason=None, exit_target_price=exit_target,
                exit_quote_price=None, order_time=self._clock.now())
        result = await self._orders.send_recorded(request)
        attempt = 0
        while result.error == "OUTCOME_UNKNOWN" and attempt < UNKNOWN_RETRIES:
            attempt += 1  # the same client_order_id: the exchange answers with the order if it exists
            await wait(self._clock, backoff_delay(attempt, self._base, self._cap, self._rng))
            result = await self._orders.send_recorded(request)
        return result

    async def quote(self, symbol: str, side: Side, coid: str, price: Decimal, size: Decimal) -> PlaceResult:
        request = OrderRequest(client_order_id=coid, product_id=symbol, side=side, kind=OrderKind.LIMIT_GTC,
                               base_size=size, limit_price=price, post_only=True)
        return await self.send(request, order_type="LIMIT",
                               trigger={"passive": "quote", "post_only": True, "side": side.value})

    async def bracket(self, symbol: str, coid: str, size: Decimal, take_profit: Decimal, stop_trigger: Decimal,
                      buy_order_id: str, entry_price: Decimal) -> PlaceResult:
        request = OrderRequest(client_order_id=coid, product_id=symbol, side=Side.SELL, kind=OrderKind.BRACKET_GTC,
                               base_size=size, limit_price=take_profit, stop_price=stop_trigger)
        return await self.send(request, order_type="BRACKET", exit_target=take_profit, trigger={
            "passive": "bracket", "buy_order_id": buy_order_id, "entry_price": format(entry_price, "f"),
            "take_profit": format(take_profit, "f"),
            "bracket_stop": format(stop_trigger, "f")})

    async def record_exit_reason(self, order_id: str, reason: ExitReason, target: Decimal,
                                 quote: Decimal | None) -> None:
        """The bracket's sell row gets the leg that filled (performance report, exits_by_reason)."""
        async with unit_of_work(self._sessions) as session:
            await session.execute(update(TradeRecord).where(TradeRecord.order_id == order_id).values(
                exit_reason=reason.value, exit_target_price=target, exit_quote_price=quote))

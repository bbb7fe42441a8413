"""What every working-order step needs: the exchange, the placer, the book, the clock, the store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.logging import get_logger
from core.settings import Settings
from exchange.models import Product
from exchange.port import ExchangePort
from webhook.order_manager import OrderManager
from webhook.working_orders import store
from webhook.working_orders.book_cache import BookCache
from webhook.working_orders.placer import ChildPlacer
from webhook.working_orders.types import Purpose, Step, WorkingOrder

log = get_logger(__name__)


@dataclass
class WorkContext:
    exchange: ExchangePort
    orders: OrderManager
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    clock: Clock
    books: BookCache
    placer: ChildPlacer
    settle: Callable[[str], Awaitable[object]]  # record an order's state and new fills (the fill processor)
    pending_steps: dict[str, list[Step]] = field(default_factory=dict)

    async def product(self, symbol: str) -> Product:
        return await self.orders.product(symbol)

    def note(self, wo: WorkingOrder, step: Step) -> None:
        """Queue a step; `save` writes it with the state it led to."""
        self.pending_steps.setdefault(wo.id, []).append(step)

    async def save(self, wo: WorkingOrder, step: Step | None = None) -> None:
        steps = self.pending_steps.pop(wo.id, [])
        if step is not None:
            steps.append(step)
        now = self.clock.now()
        # One statement: the state, every queued step in order, and the link of the current child; for an
        # exit that ends having sold something, also its realized P&L (the breakers count it once, then).
        counted = wo.purpose is Purpose.EXIT and wo.state.is_final and wo.filled_size > 0
        pnl = await store.save(self.sessions, wo, steps, now, link=wo.client_order_id, realized_pnl=counted)
        if counted:
            wo.realized_pnl = pnl
        for s in steps:
            log.info("working_order_step", working_order_id=wo.id, symbol=wo.symbol, purpose=wo.purpose.value,
                     step=s.kind.value, state=wo.state.value, reprices=wo.reprice_count,
                     filled_size=format(wo.filled_size, "f"), detail=s.detail)

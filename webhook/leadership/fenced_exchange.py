"""Exchange writes that record no order row first (cancels, edits, protective stops) pass the same
leader-epoch check as an order: a paused or partitioned old leader that wakes up must not cancel,
move or place anything behind the new leader's back (issue #24). Reads pass straight through.

Orders placed through the order manager are checked inside the transaction that writes their row;
this wrapper is for the components that call the port directly (working-order re-prices, passive
quotes and brackets, protective stops).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from exchange.models import CancelResult, EditRequest, EditResult, OrderRequest, OrderResult


class FencedWrites:
    def __init__(self, inner: Any, ensure_leader: Callable[[], Awaitable[None]]) -> None:
        self._inner = inner
        self._ensure_leader = ensure_leader  # raises NotLeader when another process leads

    def __getattr__(self, name: str) -> Any:  # reads (and anything not a write) go straight through
        return getattr(self._inner, name)

    async def create_order(self, request: OrderRequest) -> OrderResult:
        await self._ensure_leader()
        result: OrderResult = await self._inner.create_order(request)
        return result

    async def edit_order(self, request: EditRequest) -> EditResult:
        await self._ensure_leader()
        result: EditResult = await self._inner.edit_order(request)
        return result

    async def cancel_orders(self, order_ids: Sequence[str]) -> list[CancelResult]:
        await self._ensure_leader()
        result: list[CancelResult] = await self._inner.cancel_orders(order_ids)
        return result

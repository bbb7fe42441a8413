"""An ExchangePort that reports every call's outcome, per call family, to an observer (degraded mode).

Failures are what says the exchange is unwell: timeouts, transport errors, 5xx/429 beyond the
adapter's retries (`ExchangeUnavailable`, `TimeoutError`) and malformed answers. Business rejections,
404s and our own bad requests are answers, so they count as successes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from exchange.models import (
    Balance,
    CancelResult,
    Candle,
    EditRequest,
    EditResult,
    FeeTier,
    Fill,
    KeyPermissions,
    Order,
    OrderRequest,
    OrderResult,
    Page,
    PreviewResult,
    Product,
    Quote,
)
from exchange.port import ExchangeBadRequest, ExchangeError, ExchangeNotFound, ExchangePort

T = TypeVar("T")

FAMILY_OF: dict[str, str] = {
    "create_order": "orders", "cancel_orders": "orders", "edit_order": "orders", "preview_order": "orders",
    "get_order": "orders", "list_orders": "orders", "list_fills": "orders", "fetch_all_fills": "orders",
    "get_products": "market", "get_product": "market", "get_best_bid_ask": "market", "get_candles": "market",
    "get_balances": "account", "get_fee_tier": "account", "get_key_permissions": "account",
    "get_server_time": "account",
}


class CallObserver(Protocol):
    def observe_failure(self, family: str, error: str) -> None: ...

    def observe_success(self, family: str) -> None: ...


class MonitoredExchange:
    def __init__(self, inner: Any, observer: CallObserver) -> None:
        self._inner = inner
        self._observer = observer

    @property
    def inner(self) -> Any:
        return self._inner

    async def _watch(self, op: str, call: Callable[[], Awaitable[T]]) -> T:
        family = FAMILY_OF.get(op, "orders")
        try:
            result = await call()
        except (ExchangeNotFound, ExchangeBadRequest):
            self._observer.observe_success(family)
            raise
        except (ExchangeError, TimeoutError) as exc:
            self._observer.observe_failure(family, f"{op}: {type(exc).__name__}: {exc}"[:300])
            raise
        self._observer.observe_success(family)
        return result

    def __getattr__(self, name: str) -> Any:
        # Adapter extras outside the port (e.g. fetch_all_fills) pass through, watched when they are calls.
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        async def watched(*args: Any, **kwargs: Any) -> Any:
            return await self._watch(name, lambda: attr(*args, **kwargs))

        return watched

    async def get_products(self) -> list[Product]:
        return await self._watch("get_products", self._inner.get_products)

    async def get_product(self, product_id: str) -> Product:
        return await self._watch("get_product", lambda: self._inner.get_product(product_id))

    async def get_balances(self) -> dict[str, Balance]:
        return await self._watch("get_balances", self._inner.get_balances)

    async def get_best_bid_ask(self, product_ids: Sequence[str]) -> list[Quote]:
        return await self._watch("get_best_bid_ask", lambda: self._inner.get_best_bid_ask(product_ids))

    async def get_candles(self, product_id: str, start: datetime, end: datetime, granularity: str) -> list[Candle]:
        return await self._watch("get_candles", lambda: self._inner.get_candles(product_id, start, end, granularity))

    async def create_order(self, request: OrderRequest) -> OrderResult:
        return await self._watch("create_order", lambda: self._inner.create_order(request))

    async def cancel_orders(self, order_ids: Sequence[str]) -> list[CancelResult]:
        return await self._watch("cancel_orders", lambda: self._inner.cancel_orders(order_ids))

    async def edit_order(self, request: EditRequest) -> EditResult:
        return await self._watch("edit_order", lambda: self._inner.edit_order(request))

    async def preview_order(self, request: OrderRequest) -> PreviewResult:
        return await self._watch("preview_order", lambda: self._inner.preview_order(request))

    async def get_order(self, order_id: str) -> Order:
        return await self._watch("get_order", lambda: self._inner.get_order(order_id))

    async def list_orders(self, product_id: str | None = None, statuses: Sequence[str] = (),
                          cursor: str | None = None, limit: int = 250) -> Page[Order]:
        return await self._watch("list_orders", lambda: self._inner.list_orders(product_id, statuses, cursor, limit))

    async def list_fills(self, order_ids: Sequence[str] = (), product_id: str | None = None,
                         start: datetime | None = None, cursor: str | None = None,
                         limit: int = 250) -> Page[Fill]:
        return await self._watch("list_fills",
                                 lambda: self._inner.list_fills(order_ids, product_id, start, cursor, limit))

    async def get_fee_tier(self) -> FeeTier:
        return await self._watch("get_fee_tier", self._inner.get_fee_tier)

    async def get_key_permissions(self) -> KeyPermissions:
        return await self._watch("get_key_permissions", self._inner.get_key_permissions)

    async def get_server_time(self) -> datetime:
        return await self._watch("get_server_time", self._inner.get_server_time)


if TYPE_CHECKING:
    def _conforms_to_port(adapter: MonitoredExchange) -> ExchangePort:
        return adapter

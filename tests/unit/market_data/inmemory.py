"""Small in-memory implementations of the sentinel's ports (and the slice of ExchangePort the
protective stop uses), for tests. Real implementations with real behaviour, not mocks."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from core.enums import OrderStatus, Side
from exchange.models import CancelResult, EditRequest, EditResult, Order, OrderRequest, OrderResult, Page, Product
from exchange.port import ExchangeUnavailable
from market_data.exit_policy import ExitDecision
from market_data.ports import ExitSubmission, OpenPosition, SignalView


@dataclass
class Position:
    symbol: str
    size: Decimal
    avg_entry_price: Decimal
    opened_at: datetime | None = None


class Positions:
    def __init__(self, *positions: Position) -> None:
        self.items: list[Position] = list(positions)

    def open_positions(self) -> Sequence[Position]:
        return self.items

    def close(self, symbol: str) -> None:
        self.items = [p for p in self.items if p.symbol != symbol]


class Signals:
    def __init__(self) -> None:
        self.views: dict[str, SignalView] = {}

    def signal(self, symbol: str) -> SignalView | None:
        return self.views.get(symbol)


@dataclass
class ExitCall:
    symbol: str
    size: Decimal
    decision: ExitDecision


class ListExecutor:
    """Records every exit; answers from a script of outcomes (default: success)."""

    def __init__(self, outcomes: Sequence[ExitSubmission | Exception] = (), gate: asyncio.Event | None = None) -> None:
        self.calls: list[ExitCall] = []
        self._outcomes = list(outcomes)
        self._gate = gate  # when set, submissions wait for it (an exit "in flight")

    async def submit_exit(self, position: OpenPosition, decision: ExitDecision) -> ExitSubmission:
        self.calls.append(ExitCall(position.symbol, position.size, decision))
        if self._gate is not None:
            await self._gate.wait()
        outcome = self._outcomes.pop(0) if self._outcomes else ExitSubmission(ok=True, order_id=f"o{len(self.calls)}")
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class ListNotifier:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    async def notify(self, topic: str, message: str) -> None:
        self.messages.append((topic, message))

    def topics(self) -> list[str]:
        return [t for t, _ in self.messages]


def product(symbol: str = "SOL-USD") -> Product:
    return Product(product_id=symbol, base_currency=symbol.split("-")[0], quote_currency="USD", price=Decimal("100"),
                   base_increment=Decimal("0.001"), quote_increment=Decimal("0.01"), price_increment=Decimal("0.01"),
                   base_min_size=Decimal("0.001"), base_max_size=Decimal("10000"), quote_min_size=Decimal("1"),
                   quote_max_size=Decimal("1000000"), volume_24h=Decimal("1000"), price_change_24h_pct=Decimal("0"),
                   status="online")


@dataclass
class BookOrder:
    request: OrderRequest
    order_id: str
    status: OrderStatus = OrderStatus.OPEN


@dataclass
class StopBook:
    """An exchange holding stop orders: create / cancel / list, with scripted failures."""

    orders: dict[str, BookOrder] = field(default_factory=dict)
    cancel_failure: str | None = None  # failure_reason of the next cancels
    cancel_raises: bool = False
    create_raises: bool = False
    create_rejects: bool = False
    edit_refuses: str | None = None  # edit_failure_reason of the next edits
    edit_raises: bool = False
    log: list[str] = field(default_factory=list)
    edits: dict[str, int] = field(default_factory=dict)  # order id → edits applied

    async def get_product(self, product_id: str) -> Product:
        return product(product_id)

    async def create_order(self, request: OrderRequest) -> OrderResult:
        self.log.append(f"create {request.client_order_id}")
        if self.create_raises:
            raise ExchangeUnavailable("timeout")
        if self.create_rejects:
            return OrderResult(success=False, client_order_id=request.client_order_id, error="INSUFFICIENT_FUND")
        order_id = f"x{len(self.orders) + 1}"
        self.orders[order_id] = BookOrder(request, order_id)
        return OrderResult(success=True, client_order_id=request.client_order_id, order_id=order_id)

    async def cancel_orders(self, order_ids: Sequence[str]) -> list[CancelResult]:
        self.log.append(f"cancel {','.join(order_ids)}")
        if self.cancel_raises:
            raise ExchangeUnavailable("timeout")
        results = []
        for oid in order_ids:
            order = self.orders.get(oid)
            if self.cancel_failure is not None:
                results.append(CancelResult(oid, False, self.cancel_failure))
            elif order is None or order.status is not OrderStatus.OPEN:
                results.append(CancelResult(oid, False, "UNKNOWN_CANCEL_ORDER"))
            else:
                order.status = OrderStatus.CANCELLED
                results.append(CancelResult(oid, True))
        return results

    async def edit_order(self, request: EditRequest) -> EditResult:
        self.log.append(f"edit {request.order_id}")
        if self.edit_raises:
            raise ExchangeUnavailable("timeout")
        order = self.orders.get(request.order_id)
        if self.edit_refuses is not None:
            return EditResult(False, request.order_id, self.edit_refuses)
        if order is None or order.status is not OrderStatus.OPEN:
            return EditResult(False, request.order_id, "ORDER_NOT_FOUND" if order is None
                              else "ONLY_OPEN_ORDERS_CAN_BE_EDITED")
        order.request = replace(order.request, base_size=request.size, limit_price=request.price,
                                stop_price=request.stop_price or order.request.stop_price)
        self.edits[request.order_id] = self.edits.get(request.order_id, 0) + 1
        return EditResult(True, request.order_id)

    async def list_orders(self, product_id: str | None = None, statuses: Sequence[str] = (),
                          cursor: str | None = None, limit: int = 250) -> Page[Order]:
        items = [self._order(o) for o in self.orders.values()
                 if (not statuses or o.status.value in statuses)
                 and (product_id is None or o.request.product_id == product_id)]
        return Page(items=items)

    def open_orders(self) -> list[BookOrder]:
        return [o for o in self.orders.values() if o.status is OrderStatus.OPEN]

    @staticmethod
    def _order(o: BookOrder) -> Order:
        r = o.request
        return Order(order_id=o.order_id, client_order_id=r.client_order_id, product_id=r.product_id, side=Side.SELL,
                     status=o.status, kind=r.kind, order_type="STOP_LIMIT", base_size=r.base_size, quote_size=None,
                     limit_price=r.limit_price, stop_price=r.stop_price, filled_size=Decimal(0),
                     average_filled_price=None, filled_value=Decimal(0), total_fees=Decimal(0), number_of_fills=0,
                     created_time=datetime(2026, 1, 1, tzinfo=UTC))

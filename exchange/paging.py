"""Every page of a cursor-paged port call, bounded, over any ExchangePort."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from exchange.models import Fill, Order
from exchange.port import ExchangePort

MAX_PAGES = 1000  # a runaway cursor must not loop forever


async def all_fills(exchange: ExchangePort, *, order_ids: Sequence[str] = (), product_id: str | None = None,
                    start: datetime | None = None) -> list[Fill]:
    """All fills matching the filters, deduplicated by trade_id, in the exchange's order."""
    seen: dict[str, Fill] = {}
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await exchange.list_fills(order_ids=order_ids, product_id=product_id, start=start, cursor=cursor)
        for fill in page.items:
            seen.setdefault(fill.trade_id, fill)
        if not page.has_next or not page.cursor:
            break
        cursor = page.cursor
    return list(seen.values())


async def all_orders(exchange: ExchangePort, status: str) -> list[Order]:
    """All orders with one status (Coinbase never combines OPEN with other statuses in one query)."""
    orders: list[Order] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await exchange.list_orders(statuses=[status], cursor=cursor)
        orders.extend(page.items)
        if not page.has_next or not page.cursor:
            break
        cursor = page.cursor
    return orders

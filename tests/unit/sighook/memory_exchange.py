"""A small in-memory ExchangePort serving deterministic candles (no network, no randomness).

Each product's one-minute closes follow a fixed path chosen by `shape` ("wave", "rise", "crash",
"flat"); the exchange clock is set by the test. Buckets at or after the clock's current bucket
are served too (like Coinbase, the bucket in progress is included), so the code under test must
filter them. Order methods refuse: sighook must never call them (and `order_calls` counts tries).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from exchange.models import (
    Balance,
    CancelResult,
    Candle,
    FeeTier,
    Fill,
    KeyPermissions,
    Order,
    OrderRequest,
    OrderResult,
    Page,
    Product,
    Quote,
)
from exchange.port import ExchangeBadRequest, ExchangeNotFound, ExchangeUnavailable

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def product(pid: str, price: str = "100", volume_24h: str = "1000", status: str = "online") -> Product:
    base, quote = pid.split("-")
    return Product(
        product_id=pid, base_currency=base, quote_currency=quote, price=Decimal(price),
        base_increment=Decimal("0.00000001"), quote_increment=Decimal("0.01"), price_increment=Decimal("0.01"),
        base_min_size=Decimal("0.0001"), base_max_size=Decimal("1000"), quote_min_size=Decimal("1"),
        quote_max_size=Decimal("1000000"), volume_24h=Decimal(volume_24h), price_change_24h_pct=Decimal("0"),
        status=status,
    )


def close_at(shape: str, minute: int, base: float) -> float:
    if shape == "wave":
        return base * (1 + 0.01 * math.sin(minute / 7.0) + 0.004 * math.sin(minute / 2.3))
    if shape == "rise":
        return base * (1 + 0.0005 * minute)
    if shape == "crash":  # flat-ish, then a sharp fall over the last minutes before `minute` 0 mod 400
        phase = minute % 400
        return base * (1 + 0.002 * math.sin(minute / 3.0)) * (0.97 ** max(0, phase - 390))
    if shape == "flat":
        return base
    raise ValueError(shape)


@dataclass
class MemoryExchange:
    shapes: dict[str, str]  # product_id → shape
    now: datetime = EPOCH + timedelta(hours=10, seconds=30)
    base_price: float = 100.0
    failing: set[str] = field(default_factory=set)  # get_candles raises ExchangeUnavailable
    broken: set[str] = field(default_factory=set)  # candles with a zero close (bad data)
    extra_products: list[Product] = field(default_factory=list)
    candle_requests: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    order_calls: int = 0

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    async def get_products(self) -> list[Product]:
        price = Decimal(str(self.base_price))
        return [product(pid, str(price)) for pid in self.shapes] + list(self.extra_products)

    async def get_product(self, product_id: str) -> Product:
        for p in await self.get_products():
            if p.product_id == product_id:
                return p
        raise ExchangeNotFound(product_id)

    async def get_candles(self, product_id: str, start: datetime, end: datetime, granularity: str) -> list[Candle]:
        if granularity != "ONE_MINUTE":
            raise ExchangeBadRequest(f"memory exchange serves ONE_MINUTE only, not {granularity}")
        self.candle_requests.append((product_id, start, end))
        if product_id in self.failing:
            raise ExchangeUnavailable(f"{product_id}: injected failure")
        shape = self.shapes.get(product_id)
        if shape is None:
            raise ExchangeNotFound(product_id)
        if (end - start).total_seconds() / 60 > 350:
            raise ExchangeBadRequest("number of candles requested should be less than 350")
        first = math.ceil((start - EPOCH).total_seconds() / 60)
        last = min(math.floor((end - EPOCH).total_seconds() / 60), math.floor((self.now - EPOCH).total_seconds() / 60))
        out = []
        for minute in range(first, last + 1):
            out.append(self._candle(product_id, shape, minute))
        return out

    def _candle(self, pid: str, shape: str, minute: int) -> Candle:
        prev = close_at(shape, minute - 1, self.base_price)
        close = close_at(shape, minute, self.base_price)
        q = Decimal("0.0001")
        o, c = Decimal(repr(prev)).quantize(q), Decimal(repr(close)).quantize(q)
        if pid in self.broken:
            c = Decimal(0)
        hi, lo = max(o, c) + Decimal("0.05"), max(min(o, c) - Decimal("0.05"), q)
        volume = Decimal(10 + (minute * 7919) % 13)
        return Candle(start=EPOCH + timedelta(minutes=minute), open=o, high=hi, low=lo, close=c, volume=volume)

    async def get_server_time(self) -> datetime:
        return self.now

    async def get_balances(self) -> dict[str, Balance]:
        return {}

    async def get_best_bid_ask(self, product_ids: Sequence[str]) -> list[Quote]:
        return []

    async def create_order(self, request: OrderRequest) -> OrderResult:
        self.order_calls += 1
        raise ExchangeBadRequest("the memory exchange does not trade")

    async def cancel_orders(self, order_ids: Sequence[str]) -> list[CancelResult]:
        self.order_calls += 1
        raise ExchangeBadRequest("the memory exchange does not trade")

    async def get_order(self, order_id: str) -> Order:
        raise ExchangeNotFound(order_id)

    async def list_orders(self, product_id: str | None = None, statuses: Sequence[str] = (),
                          cursor: str | None = None, limit: int = 250) -> Page[Order]:
        return Page()

    async def list_fills(self, order_ids: Sequence[str] = (), product_id: str | None = None,
                         start: datetime | None = None, cursor: str | None = None, limit: int = 250) -> Page[Fill]:
        return Page()

    async def get_fee_tier(self) -> FeeTier:
        return FeeTier(Decimal("0.004"), Decimal("0.006"))

    async def get_key_permissions(self) -> KeyPermissions:
        return KeyPermissions(can_view=True, can_trade=False, can_transfer=False)

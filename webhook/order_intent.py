"""What the daemon wants to trade, before any exchange call: a value, not a request."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from core.enums import ExitReason, OrderSource, Side


class IntentKind(StrEnum):
    MARKET = "market"  # market IOC (hard stop, alerts without price)
    LIMIT = "limit"  # marketable or resting limit GTC at a given price
    POST_ONLY = "post_only"  # maker-only limit priced from the book


@dataclass(frozen=True, slots=True)
class OrderIntent:
    symbol: str
    side: Side
    kind: IntentKind
    source: OrderSource
    # What makes this intent unique (alert dedup key, exit of a position at an attempt…); it
    # determines the client_order_id, so a retried or replayed intent can never double an order.
    intent_key: str
    base_size: Decimal | None = None
    quote_size: Decimal | None = None
    limit_price: Decimal | None = None
    exit_reason: ExitReason | None = None
    exit_target_price: Decimal | None = None
    exit_quote_price: Decimal | None = None
    trigger: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.base_size is None) == (self.quote_size is None):
            raise ValueError("an order intent needs exactly one of base_size or quote_size")
        if self.quote_size is not None and self.side is Side.SELL:
            raise ValueError("sells are sized in base units")
        for amount in (self.base_size, self.quote_size, self.limit_price):
            if amount is not None and amount <= 0:
                raise ValueError("sizes and prices must be positive")


def client_order_id(intent_key: str, attempt: int = 0) -> str:
    """Deterministic id (≤ 64 chars): the same intent and attempt always give the same id."""
    digest = hashlib.sha256(intent_key.encode()).hexdigest()[:32]
    return f"bt-{digest}-{attempt}"

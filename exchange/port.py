"""The exchange port: everything the daemon asks of an exchange, as a typed Protocol.

The Coinbase adapter implements it over REST (coinbase-advanced-py) for both live Coinbase and
the bundled simulator. Errors: business rejections come back as values (OrderResult.success=False,
CancelResult.success=False); transport failures that survive the adapter's bounded retries raise
`ExchangeError` subclasses.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

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


class ExchangeError(Exception):
    """A call failed after the adapter's bounded retries."""


class ExchangeUnavailable(ExchangeError):
    """Timeouts, connection errors, 5xx, 429 beyond the retry budget.

    `not_processed` is True when the exchange certainly did not act on the request (it was rate
    limited with 429, which Coinbase answers before processing); otherwise the outcome is unknown.
    """

    def __init__(self, message: str, *, not_processed: bool = False) -> None:
        super().__init__(message)
        self.not_processed = not_processed


class ExchangeAuthError(ExchangeError):
    """401/403 that a fresh token did not fix: stop trading and alert."""


class ExchangeNotFound(ExchangeError):
    """404: unknown product or order."""


class ExchangeBadRequest(ExchangeError):
    """400: our request was wrong (never retried)."""


class ExchangePort(Protocol):
    async def get_products(self) -> list[Product]: ...

    async def get_product(self, product_id: str) -> Product: ...

    async def get_balances(self) -> dict[str, Balance]: ...

    async def get_best_bid_ask(self, product_ids: Sequence[str]) -> list[Quote]: ...

    async def get_candles(self, product_id: str, start: datetime, end: datetime,
                          granularity: str) -> list[Candle]: ...

    async def create_order(self, request: OrderRequest) -> OrderResult: ...

    async def cancel_orders(self, order_ids: Sequence[str]) -> list[CancelResult]: ...

    async def edit_order(self, request: EditRequest) -> EditResult:
        """Change a resting GTC limit / stop-limit / bracket order in place (same order id, never off
        the book). A refusal is a value (success=False, reason); callers that must change the order
        anyway fall back to cancel-and-replace. ExchangeUnavailable: outcome unknown — re-sending the
        same edit is safe (an already applied edit answers success with already_applied=True)."""
        ...

    async def preview_order(self, request: OrderRequest) -> PreviewResult:
        """What `create_order(request)` would cost against the current book (nothing is placed)."""
        ...

    async def get_order(self, order_id: str) -> Order: ...

    async def list_orders(self, product_id: str | None = None, statuses: Sequence[str] = (),
                          cursor: str | None = None, limit: int = 250) -> Page[Order]: ...

    async def list_fills(self, order_ids: Sequence[str] = (), product_id: str | None = None,
                         start: datetime | None = None, cursor: str | None = None,
                         limit: int = 250) -> Page[Fill]: ...

    async def get_fee_tier(self) -> FeeTier: ...

    async def get_key_permissions(self) -> KeyPermissions: ...

    async def get_server_time(self) -> datetime: ...

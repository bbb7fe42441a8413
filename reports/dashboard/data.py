"""What the dashboard needs from the running daemon: the `DashboardData` protocol and its values.

The daemon implements `DashboardData` for live state (positions with their last price, trailing
stop states, breaker and feed health). Everything stored in the database (orders, fills, exits by
reason, realized P&L by day) the dashboard reads itself through `DashboardData.sessions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings


@dataclass(frozen=True)
class TrailingSnapshot:
    state: str  # core.enums.TrailingState value
    current_stop: Decimal | None = None
    highest_price: Decimal | None = None
    atr: Decimal | None = None
    stop_order_id: str | None = None  # the exchange-side protective stop, if any
    activated_at: datetime | None = None


@dataclass(frozen=True)
class PositionSnapshot:
    """One open position as the exit sentinel sees it."""

    symbol: str
    size: Decimal
    entry_price: Decimal  # what the exit thresholds are measured from
    last_price: Decimal | None = None
    quote_age_s: float | None = None  # seconds since the last quote was received
    cost_basis_usd: Decimal | None = None  # fees included; unrealized P&L uses it when given
    opened_at: datetime | None = None
    hodl: bool = False  # the sentinel never sells it
    trailing: TrailingSnapshot | None = None
    open_exit_order_id: str | None = None  # the live exit order, if one is working


@dataclass(frozen=True)
class BreakerStatus:
    name: str
    tripped: bool
    reason: str | None = None
    tripped_at: datetime | None = None


@dataclass(frozen=True)
class FeedStatus:
    name: str  # e.g. "ticker websocket", "user websocket", "rest"
    healthy: bool
    last_message_age_s: float | None = None
    detail: str | None = None


@dataclass(frozen=True)
class HealthSnapshot:
    breakers: Sequence[BreakerStatus] = field(default_factory=tuple)
    feeds: Sequence[FeedStatus] = field(default_factory=tuple)
    entries_halted: bool = False  # true while any breaker stops new entries


class DashboardData(Protocol):
    """Live state for the dashboard; implemented by the webhook daemon (and by tests)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...

    async def positions(self) -> Sequence[PositionSnapshot]: ...

    async def health(self) -> HealthSnapshot: ...

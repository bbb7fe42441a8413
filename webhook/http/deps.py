"""What the HTTP app needs from the rest of the daemon, as protocols and plain values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.settings import Settings
from webhook.alerts.limits import RecordBudget
from webhook.alerts.symbols import SymbolMap


@dataclass(frozen=True)
class HealthReport:
    """A snapshot of the daemon's health, provided by the daemon (see HealthSource)."""

    database_ok: bool
    websocket_connected: bool
    websocket_age_s: float | None  # seconds since the last market-data message (None: never)
    matrix_age_s: float | None  # age of the buy_sell_matrix (None: absent)
    breakers: Mapping[str, bool] = field(default_factory=dict)  # breaker name → tripped
    halted: bool = False
    details: Mapping[str, Any] = field(default_factory=dict)  # anything else worth showing (JSON-able)
    # Emergencies that make the daemon not ready, by name (e.g. "fills_unrecorded:BTC-USD", "crash_loop:reconciler").
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrailingStopHealth:
    active: int
    activations: int
    errors: int
    details: Mapping[str, Any] = field(default_factory=dict)
    # events_last_hour, staleness_limit_s, stale, stops (webhook/trailing_health.py)
    history: Mapping[str, Any] = field(default_factory=dict)


class HealthSource(Protocol):
    async def health(self) -> HealthReport: ...

    async def trailing_stop(self) -> TrailingStopHealth: ...


class AdminActions(Protocol):
    """Halt/resume webhook-originated trading. Each returns the resulting state as a JSON-able mapping."""

    async def halt(self, reason: str) -> Mapping[str, Any]: ...

    async def resume(self) -> Mapping[str, Any]: ...

    async def state(self) -> Mapping[str, Any]: ...


@dataclass
class HttpDeps:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    health: HealthSource
    admin: AdminActions
    symbols: SymbolMap
    clock: Clock
    wake: Callable[[], None]  # wakes the alert worker (AlertWorker.wake)
    # Non-alert rows (unauthorized, invalid, duplicate, rate-limited) written per minute.
    record_budget: RecordBudget = field(default_factory=RecordBudget)
    store_timeout_s: float = 2.0  # TradingView gives up after 3 s
    body_read_timeout_s: float = 5.0
    health_timeout_s: float = 2.0

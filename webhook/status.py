"""The daemon's answers to /health, /health/trailing_stop and the admin endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import utcnow
from core.metrics import TRAILING_ACTIVATIONS, TRAILING_ACTIVE, TRAILING_ERRORS
from exchange.coinbase.ws_feed import WsFeed
from risk.manager import RiskManager, RiskSnapshot
from shared_data.shared_state import SharedStateListener
from webhook.http.deps import HealthReport, TrailingStopHealth
from webhook.trailing_health import TrailingHistoryHealth

DB_PING_TIMEOUT_S = 2.0


def _metric(metric: Any) -> float:
    return float(metric._value.get())


class DaemonHealth:
    def __init__(self, engine: AsyncEngine, market_feed: WsFeed, user_feed: WsFeed, listener: SharedStateListener,
                 risk: RiskManager, monitor: Any, writer: Any, history: TrailingHistoryHealth | None = None, *,
                 degraded: Any = None, protective: Any = None,
                 emergencies: Callable[[], tuple[list[str], dict[str, Any]]] | None = None,
                 leadership: Any = None) -> None:
        """`emergencies` names problems that make the daemon not ready (unrecorded fills, crash loops)."""
        self._leadership = leadership  # issue #24: /health says leader or standby
        self._engine = engine
        self._history = history
        self._feeds = (market_feed, user_feed)
        self._listener = listener
        self._risk = risk
        self._monitor = monitor
        self._writer = writer
        self._degraded = degraded  # risk.degraded.mode.DegradedMode
        self._protective = protective  # market_data.protective_stop.ProtectiveStopManager (when enabled)
        self._emergencies = emergencies

    async def _db_ok(self) -> bool:
        try:
            async with asyncio.timeout(DB_PING_TIMEOUT_S), self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def health(self) -> HealthReport:
        db_ok = await self._db_ok()
        market, user = self._feeds
        now = utcnow()
        age = (now - market.last_message_at).total_seconds() if market.last_message_at else None
        matrix = self._listener.health()
        breakers: dict[str, bool] = {}
        halted = False
        if db_ok:
            snapshot = await self._risk.state()
            breakers = {b.value: s.tripped for b, s in snapshot.breakers.items()}
            halted = snapshot.entries_blocked
        degraded: dict[str, Any] = {}
        if self._degraded is not None:
            degraded = self._degraded.status()
            if db_ok:  # the persisted history (enter/leave events), newest first
                degraded["history"] = await self._degraded.history(5)
        problems, extra = self._emergencies() if self._emergencies is not None else ([], {})
        return HealthReport(
            database_ok=db_ok, websocket_connected=market.connected and user.connected, websocket_age_s=age,
            matrix_age_s=matrix.get("matrix_age_s"), breakers=breakers, halted=halted,
            details={"market_feed": market.connected, "user_feed": user.connected, "matrix": matrix,
                     "sentinel_sweeps": getattr(self._monitor, "sweeps", None),
                     **({"degraded_mode": degraded} if degraded else {}),
                     **({"leadership": self._leadership.status()} if self._leadership is not None else {})} | extra,
            problems=tuple(problems),
        )

    async def risk_state(self) -> RiskSnapshot | None:
        try:
            return await self._risk.state()
        except Exception:
            return None

    async def trailing_stop(self) -> TrailingStopHealth:
        details: dict[str, Any] = {}
        if self._protective is not None:
            details["protective_stop"] = self._protective.moves.summary()
        history = await self._history.report() if self._history is not None else {}
        return TrailingStopHealth(active=int(_metric(TRAILING_ACTIVE)), activations=int(_metric(TRAILING_ACTIVATIONS)),
                                  errors=int(_metric(TRAILING_ERRORS)), details=details, history=history)

    async def degraded_history(self) -> list[dict[str, Any]]:
        return await self._degraded.history() if self._degraded is not None else []


class RiskAdmin:
    """Halt/resume act on the persisted kill switch: entries stop, exits continue."""

    def __init__(self, risk: RiskManager) -> None:
        self._risk = risk

    async def halt(self, reason: str) -> Mapping[str, Any]:
        await self._risk.halt(reason or "halted via admin endpoint")
        return (await self._risk.state()).as_dict()

    async def resume(self) -> Mapping[str, Any]:
        await self._risk.resume()
        return (await self._risk.state()).as_dict()

    async def state(self) -> Mapping[str, Any]:
        return (await self._risk.state()).as_dict()

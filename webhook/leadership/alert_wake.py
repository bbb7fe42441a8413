"""An alert stored by a standby wakes the leader's worker at once (NOTIFY), instead of waiting for
the worker's next poll. The leader listens on its lock connection; a lost notification only costs
the poll interval (the worker polls anyway)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.logging import get_logger

log = get_logger(__name__)

CHANNEL = "bottrader_alert_wake"
NOTIFY_TIMEOUT_S = 2.0


class Leading(Protocol):
    @property
    def is_leader(self) -> bool: ...


class AlertWake:
    def __init__(self, gate: Leading, wake_local: Callable[[], None],
                 sessions: async_sessionmaker[AsyncSession]) -> None:
        self._gate = gate
        self._wake_local = wake_local
        self._sessions = sessions
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self) -> None:
        """The alert endpoint's wake-up (after its commit): our worker if we lead, else the leader's."""
        if self._gate.is_leader:
            self._wake_local()
            return
        task = asyncio.get_running_loop().create_task(self._notify())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self) -> None:
        try:
            async with asyncio.timeout(NOTIFY_TIMEOUT_S), self._sessions() as session, session.begin():
                await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
        except Exception as exc:
            log.warning("alert_wake_notify_failed", error=type(exc).__name__)

    def on_notify(self, *_args: Any) -> None:
        """asyncpg listener on the leader's lock connection."""
        if self._gate.is_leader:
            self._wake_local()

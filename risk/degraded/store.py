"""Persistence of degraded mode: the state row and its event, written in one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from risk.degraded.machine import DegradedState, Transition
from shared_data.db import unit_of_work

SCOPE = "exchange"

_UPSERT = text("""
    INSERT INTO degraded_mode_state (scope, active, family, cause, since, updated_at)
    VALUES (:scope, :active, :family, :cause, :since, :at)
    ON CONFLICT (scope) DO UPDATE SET active = EXCLUDED.active, family = EXCLUDED.family,
        cause = EXCLUDED.cause, since = EXCLUDED.since, updated_at = EXCLUDED.updated_at
""")
_EVENT = text("""
    INSERT INTO degraded_mode_events (scope, event, family, cause, created_at)
    VALUES (:scope, :event, :family, :cause, :at)
""")


class DegradedStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def load(self) -> DegradedState:
        async with self._sessions() as session:
            row = (await session.execute(text(
                "SELECT active, family, cause, since FROM degraded_mode_state WHERE scope = :scope"),
                {"scope": SCOPE})).first()
        if row is None or not row.active:
            return DegradedState()
        return DegradedState(True, row.family, row.cause, row.since)

    async def record(self, transition: Transition, state: DegradedState) -> None:
        async with unit_of_work(self._sessions) as session:
            await session.execute(_UPSERT, {"scope": SCOPE, "active": state.active, "family": state.family,
                                            "cause": state.cause, "since": state.since, "at": transition.at})
            await session.execute(_EVENT, {"scope": SCOPE, "event": transition.event, "family": transition.family,
                                           "cause": transition.cause, "at": transition.at})

    async def history(self, limit: int = 20) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            rows = (await session.execute(text(
                "SELECT event, family, cause, created_at FROM degraded_mode_events WHERE scope = :scope "
                "ORDER BY id DESC LIMIT :limit"), {"scope": SCOPE, "limit": limit})).all()
        return [{"event": r.event, "family": r.family, "cause": r.cause, "at": r.created_at.isoformat()}
                for r in rows]

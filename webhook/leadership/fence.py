"""The fencing check every order placement passes, inside the transaction that writes its row.

A process that is not the leader, or whose epoch is no longer the current one, gets `NotLeader`
and the transaction rolls back: nothing is recorded, nothing is sent. A stale epoch means another
process has taken over: `on_stale` is told at once (the daemon steps down right there).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.logging import get_logger
from shared_data.db import unit_of_work
from webhook.leadership.epoch_store import fenced_epoch

log = get_logger(__name__)


class NotLeader(Exception):
    """This process may not write to the exchange (standby, or a leader that lost its epoch)."""


class LeaderFence:
    def __init__(self, role: str, *, idle_timeout_ms: int, on_stale: Callable[[str], None]) -> None:
        self.role = role
        self.epoch: int | None = None  # set by the gate when this process becomes the leader
        self._idle_timeout_ms = idle_timeout_ms
        self._on_stale = on_stale

    async def check(self, session: AsyncSession) -> None:
        """Raise NotLeader unless this process's epoch is the current one (row share-locked till commit)."""
        mine = self.epoch
        if mine is None:
            raise NotLeader("this process is a standby; the leader places orders")
        current = await fenced_epoch(session, self.role, self._idle_timeout_ms)
        if current != mine:
            reason = f"leader epoch moved from {mine} to {current}: another process has taken over"
            log.error("leader_fenced", role=self.role, my_epoch=mine, current_epoch=current)
            self._on_stale(reason)
            raise NotLeader(reason)

    async def check_alone(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """For exchange writes that record no row first (cancels, re-sends of recorded rows)."""
        async with unit_of_work(sessions) as session:
            await self.check(session)

"""State the leader alone may write besides orders: the trailing-stop rows.

A paused leader that resumes holds an old view of every stop; writing it would move the persisted
stops back under the new leader. Each batch first passes the same epoch check as an order.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from market_data.trailing_stop import TrailingStop
from market_data.trailing_store import EventBatch, TrailingRowStore
from webhook.leadership.fence import LeaderFence


class FencedTrailingRows:
    def __init__(self, store: TrailingRowStore, fence: LeaderFence,
                 sessions: async_sessionmaker[AsyncSession]) -> None:
        self._store = store
        self._fence = fence
        self._sessions = sessions

    async def write(self, saves: Sequence[TrailingStop], deletes: Sequence[str],
                    events: EventBatch | None = None) -> None:
        await self._fence.check_alone(self._sessions)  # NotLeader: the writer keeps the batch and retries
        await self._store.write(saves, deletes, events)

"""Reads of the trailing-stop and exit history, and its retention.

`recent_events` serves the dashboard panel (the (symbol, id) index), `event_counts_since` the
last-hour counts of /health/trailing_stop, `prune_events` the retention loop. Writes happen only
in TrailingStore.write, beside the state.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.logging import get_logger
from shared_data.db import unit_of_work
from shared_data.event_models import ExitEventRow, TrailingStopEventRow

log = get_logger(__name__)

PRUNE_INTERVAL_S = 3600.0
PRUNE_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of a position's history: a trailing-stop or an exit event."""

    id: int
    source: str  # "trailing" or "exit"
    kind: str
    at: datetime
    symbol: str
    state: str | None
    price: Decimal | None
    stop_before: Decimal | None
    stop_after: Decimal | None
    order_id: str | None
    reason: str | None
    detail: str | None
    final_state: dict[str, Any] | None = None


async def recent_events(session: AsyncSession, symbol: str, limit: int) -> list[HistoryEntry]:
    """The last `limit` trailing-stop and exit events of `symbol`, newest first."""
    trailing = (await session.scalars(
        select(TrailingStopEventRow).where(TrailingStopEventRow.symbol == symbol)
        .order_by(TrailingStopEventRow.id.desc()).limit(limit))).all()
    exits = (await session.scalars(
        select(ExitEventRow).where(ExitEventRow.symbol == symbol).order_by(ExitEventRow.id.desc()).limit(limit))).all()
    entries = [HistoryEntry(r.id, "trailing", r.kind, r.at, r.symbol, r.state, r.price, r.stop_before, r.stop_after,
                            r.order_id, None, r.detail, r.final_state) for r in trailing]
    entries += [HistoryEntry(r.id, "exit", r.kind, r.at, r.symbol, None, r.quote_price, None, r.target_price,
                             r.order_id, r.reason, r.detail) for r in exits]
    entries.sort(key=lambda e: (e.at, e.source == "exit", e.id), reverse=True)
    return entries[:limit]


async def event_counts_since(session: AsyncSession, since: datetime) -> dict[str, dict[str, int]]:
    """{"trailing": {kind: n}, "exit": {kind: n}} for events at or after `since`."""
    out: dict[str, dict[str, int]] = {"trailing": {}, "exit": {}}
    for name, table in (("trailing", TrailingStopEventRow), ("exit", ExitEventRow)):
        rows = await session.execute(select(table.kind, func.count()).where(table.at >= since).group_by(table.kind))
        out[name] = {kind: int(n) for kind, n in rows.all()}
    return out


async def prune_events(sessions: async_sessionmaker[AsyncSession], before: datetime) -> int:
    """Delete history older than `before`; returns the number of rows deleted."""
    deleted = 0
    async with unit_of_work(sessions) as session:
        for table in (TrailingStopEventRow, ExitEventRow):
            result = await session.execute(delete(table).where(table.at < before))
            deleted += int(getattr(result, "rowcount", 0) or 0)
    return deleted


class EventRetention:
    """Deletes history past `retention_days`, at start and then hourly."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], retention_days: float, clock: Clock,
                 interval_s: float = PRUNE_INTERVAL_S) -> None:
        self._sessions = sessions
        self._retention = timedelta(days=retention_days)
        self._clock = clock
        self._interval_s = interval_s

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with asyncio.timeout(PRUNE_TIMEOUT_S):
                    deleted = await prune_events(self._sessions, self._clock.now() - self._retention)
                if deleted:
                    log.info("event_history_pruned", rows=deleted, retention_days=self._retention.days)
            except Exception as exc:  # a slow or absent database: try again next hour
                log.warning("event_history_prune_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval_s)

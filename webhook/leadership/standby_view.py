"""A standby's positions stay current for its dashboard and /health: the leader records the fills,
the standby reloads its ledger when the fills table has changed (checked every few seconds)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.logging import get_logger
from fifo_engine.ledger import FifoLedger

log = get_logger(__name__)

# Cheap: an index lookup and a statistics counter, not a count over all fills.
MARKER_SQL = text("""SELECT (SELECT max(trade_time) FROM fills) AS newest,
                            (SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables
                              WHERE relname = 'fills' AND schemaname = current_schema()) AS changes""")
REFRESH_INTERVAL_S = 5.0


class Leading(Protocol):
    @property
    def is_leader(self) -> bool: ...


class Invalidates(Protocol):
    def invalidate(self) -> None: ...


class StandbyView:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Any, ledger: FifoLedger,
                 positions: Invalidates, gate: Leading, interval_s: float = REFRESH_INTERVAL_S) -> None:
        self._sessions = sessions
        self._settings = settings
        self._ledger = ledger
        self._positions = positions
        self._gate = gate
        self._interval_s = interval_s
        self._marker: tuple[Any, ...] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval_s)
            if stop.is_set() or self._gate.is_leader:
                continue  # the leader's own recorder keeps its ledger current
            try:
                await self.refresh()
            except Exception as exc:
                log.warning("standby_view_refresh_failed", error=repr(exc))

    async def refresh(self) -> bool:
        async with self._sessions() as session:
            row = (await session.execute(MARKER_SQL)).one()
            marker = (row.newest, row.changes)
            if marker == self._marker:
                return False
            fresh = await FifoLedger.load(session, self._settings)
        if self._gate.is_leader:  # became leader meanwhile: the takeover owns the ledger now
            return False
        self._ledger.book = fresh.book
        self._positions.invalidate()
        self._marker = marker
        log.info("standby_view_refreshed", positions=sum(1 for p in fresh.positions() if p.is_open))
        return True

"""What a standby does the moment it becomes the leader, before any leader loop starts.

Restore from the database (positions from the fills, breakers, trailing stops), reconcile with the
exchange (bounded by FAILOVER_S), then one sentinel sweep: the first exit decision this leader can
make. Its timing is logged as `leader_first_sweep` (the failover bench reads it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.logging import get_logger
from fifo_engine.ledger import FifoLedger
from market_data.trailing_stop import TrailingStop
from market_data.trailing_store import TrailingStore

log = get_logger(__name__)


class Reconciles(Protocol):
    async def run_once(self, trigger: str = "manual") -> dict[str, int]: ...


class Sweeps(Protocol):
    def restore_trailing(self, stops: Mapping[str, TrailingStop]) -> None: ...

    def sweep(self) -> int: ...


class Positions(Protocol):
    def invalidate(self) -> None: ...

    def open_positions(self) -> list[Any]: ...


class Breakers(Protocol):
    async def load(self) -> object: ...


@dataclass
class TakeoverSteps:
    sessions: async_sessionmaker[AsyncSession]
    settings: Any
    ledger: FifoLedger
    positions: Positions
    risk: Breakers
    reconciler: Reconciles
    trailing_store: TrailingStore
    monitor: Sweeps
    clock: Clock
    acquired_mono: Callable[[], float | None]

    async def __call__(self) -> None:
        started = self.clock.monotonic()
        async with self.sessions() as session:
            fresh = await FifoLedger.load(session, self.settings)
        self.ledger.book = fresh.book  # in place: the recorder and the position book share this ledger
        self.positions.invalidate()
        await self.risk.load()
        restored_at = self.clock.monotonic()
        try:
            async with asyncio.timeout(max(0.5, self.settings.failover_s / 2)):
                stats = await self.reconciler.run_once("takeover")
        except Exception as exc:  # the periodic reconciler runs again right after; exits must not wait
            log.warning("takeover_reconcile_incomplete", error=repr(exc))
            stats = {}
        self.positions.invalidate()
        open_symbols = [p.symbol for p in self.positions.open_positions()]
        stops = await self.trailing_store.restore(open_symbols)
        self.monitor.restore_trailing(stops)
        evaluated = self.monitor.sweep()
        done = self.clock.monotonic()
        acquired = self.acquired_mono()
        log.info("leader_first_sweep", positions=len(open_symbols), evaluated=evaluated, trailing_stops=len(stops),
                 restore_ms=round((restored_at - started) * 1000, 1),
                 reconcile_and_sweep_ms=round((done - restored_at) * 1000, 1),
                 since_lock_ms=None if acquired is None else round((done - acquired) * 1000, 1),
                 at_unix=self.clock.now().timestamp(), reconciled=stats)

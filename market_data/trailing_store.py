"""Persistence of trailing stops in `trailing_stop_state`, and the background writer the sentinel uses.

The sentinel never waits on the database: it hands every changed state to `TrailingWriter`, which
keeps only the latest state per symbol and writes batches in the background. A failed write is kept
and retried with jittered, capped backoff; state is never dropped because the database is slow.

Events (`trailing_stop_events`, `exit_events`) are queued beside the state they describe and written
in the same transaction as it, so history and state never disagree: a batch commits both or neither.
Events are never coalesced; a failed batch puts them back in front of newer ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, SystemClock
from core.enums import TrailingState
from core.logging import get_logger
from core.metrics import EXIT_EVENTS, TRAILING_ACTIVE, TRAILING_ERRORS, TRAILING_EVENTS
from market_data.stop_events import ExitEvent, TrailingEvent, TrailingEventKind, trailing_event
from market_data.trailing_sql import PERSISTED_FIELDS, batch_statement
from market_data.trailing_stop import TrailingStop
from shared_data import direct
from shared_data.models import TrailingStopState

log = get_logger(__name__)

WRITE_TIMEOUT_S = 10.0
BACKOFF_BASE_S = 0.2
BACKOFF_MAX_S = 10.0


def to_row(stop: TrailingStop) -> dict[str, Any]:
    row: dict[str, Any] = {name: getattr(stop, name) for name in PERSISTED_FIELDS}
    row["symbol"] = stop.symbol
    row["state"] = stop.state.value
    return row


def from_row(row: TrailingStopState) -> TrailingStop:
    return TrailingStop(
        symbol=row.symbol, state=TrailingState(row.state), entry_price=row.entry_price,
        highest_price=row.highest_price, lowest_price=row.lowest_price, current_stop=row.current_stop, atr=row.atr,
        activated_at=row.activated_at, opened_at=row.opened_at, last_update_time=row.last_update_time,
        update_count=row.update_count, stop_order_id=row.stop_order_id, stop_order_price=row.stop_order_price,
        stop_order_moved_at=row.stop_order_moved_at,
    )


def final_state(stop: TrailingStop) -> dict[str, Any]:
    """The fields logged when a stop triggers or is removed."""
    return {"symbol": stop.symbol, "state": stop.state.value, "entry_price": str(stop.entry_price),
            "highest_price": str(stop.highest_price), "current_stop": _s(stop.current_stop),
            "activated_at": _s(stop.activated_at), "update_count": stop.update_count,
            "stop_order_id": stop.stop_order_id}


class TrailingStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock | None = None) -> None:
        self._sessions = sessions
        self._clock = clock or SystemClock()

    async def load_all(self) -> dict[str, TrailingStop]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(TrailingStopState))).all()
        return {row.symbol: from_row(row) for row in rows}

    async def save(self, stops: Sequence[TrailingStop]) -> None:
        await self.write(stops, ())

    async def delete(self, symbols: Sequence[str]) -> None:
        await self.write((), symbols)

    async def write(self, saves: Sequence[TrailingStop], deletes: Sequence[str],
                    events: EventBatch | None = None) -> None:
        """Upsert `saves`, delete the rows of `deletes` and append `events`, in one transaction."""
        events = events or EventBatch()
        if not saves and not deletes and not events:
            return
        statement = batch_statement(saves, deletes, events.trailing, events.exits)
        if statement is not None:
            await direct.execute(self._sessions, statement[0], *statement[1])

    async def restore(self, open_symbols: Iterable[str]) -> dict[str, TrailingStop]:
        """Load the stops of open positions; delete (and log) rows whose position is gone."""
        wanted = set(open_symbols)
        stops = await self.load_all()
        gone = sorted(symbol for symbol in stops if symbol not in wanted)
        removed: list[TrailingEvent] = []
        now = self._clock.now()
        for symbol in gone:
            stop = stops.pop(symbol)
            log.info("trailing_stop_removed", why="position gone at start", **final_state(stop))
            removed.append(trailing_event(stop, TrailingEventKind.REMOVED, now, stop_before=stop.current_stop,
                                          detail="position gone at start", final=final_state(stop)))
        await self.write((), gone, EventBatch(tuple(removed)))
        TRAILING_ACTIVE.set(sum(1 for s in stops.values() if s.is_active))
        log.info("trailing_stops_restored", count=len(stops), removed=len(gone))
        return stops


@dataclass(frozen=True, slots=True)
class EventBatch:
    trailing: tuple[TrailingEvent, ...] = ()
    exits: tuple[ExitEvent, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.trailing or self.exits)


class TrailingRowStore(Protocol):
    async def write(self, saves: Sequence[TrailingStop], deletes: Sequence[str],
                    events: EventBatch | None = None) -> None: ...


class TrailingWriter:
    """Coalescing background writer: latest state per symbol wins; None means delete the row."""

    def __init__(self, store: TrailingRowStore) -> None:
        self._store = store
        self._pending: dict[str, TrailingStop | None] = {}
        self._events: list[TrailingEvent] = []
        self._exit_events: list[ExitEvent] = []
        self._dirty = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self.failures = 0

    def save(self, stop: TrailingStop) -> None:
        self._pending[stop.symbol] = stop
        self._dirty.set()

    def delete(self, symbol: str) -> None:
        self._pending[symbol] = None
        self._dirty.set()

    def record(self, event: TrailingEvent) -> None:
        """Queue an event; it is written with the next batch, i.e. with the state it describes."""
        self._events.append(event)
        TRAILING_EVENTS.labels(kind=event.kind.value).inc()
        self._dirty.set()

    def record_exit(self, event: ExitEvent) -> None:
        self._exit_events.append(event)
        EXIT_EVENTS.labels(kind=event.kind.value).inc()
        self._dirty.set()

    @property
    def pending(self) -> int:
        return len(self._pending) + len(self._events) + len(self._exit_events)

    async def run(self, stop: asyncio.Event) -> None:
        """Write whatever is pending until `stop`; then a last flush."""
        attempt = 0
        while not stop.is_set():
            await _wait_either(self._dirty, stop)
            if stop.is_set():
                break
            ok = await self.write_pending()
            attempt = 0 if ok else attempt + 1
            if not ok:
                delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** min(attempt, 10)) * random.uniform(0.5, 1.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
        await self.flush()

    async def flush(self, attempts: int = 3) -> bool:
        """Write everything pending now (shutdown, tests). True when nothing is left."""
        for _ in range(attempts):
            if not self.pending:
                return True
            await self.write_pending()
        return not self.pending

    async def write_pending(self) -> bool:
        """One write of everything pending; on failure it stays pending. True on success."""
        async with self._write_lock:
            batch, self._pending = self._pending, {}
            events = EventBatch(tuple(self._events), tuple(self._exit_events))
            self._events, self._exit_events = [], []
            self._dirty.clear()
            if not batch and not events:
                return True
            saves = [s for s in batch.values() if s is not None]
            deletes = [symbol for symbol, s in batch.items() if s is None]
            try:
                async with asyncio.timeout(WRITE_TIMEOUT_S):
                    await self._store.write(saves, deletes, events)
            except Exception as exc:
                self.failures += 1
                TRAILING_ERRORS.inc()
                log.warning("trailing_write_failed", error=repr(exc), symbols=len(batch),
                            events=len(events.trailing) + len(events.exits))
                self._requeue(batch, events)
                return False
            return True

    def _requeue(self, batch: Mapping[str, TrailingStop | None], events: EventBatch) -> None:
        # Newer states queued while we were writing win over the failed batch; events keep their order.
        for symbol, value in batch.items():
            self._pending.setdefault(symbol, value)
        self._events[:0] = events.trailing
        self._exit_events[:0] = events.exits
        self._dirty.set()


async def _wait_either(first: asyncio.Event, second: asyncio.Event) -> None:
    if first.is_set() or second.is_set():
        return
    tasks = [asyncio.create_task(first.wait()), asyncio.create_task(second.wait())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def _s(value: object) -> str | None:
    return None if value is None else str(value)

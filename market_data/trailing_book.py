"""The sentinel's trailing stops, one per open position: created for a new position, advanced on
every evaluation, counted in the TRAILING_ACTIVE gauge, saved through the background writer (queued,
never awaited) and removed when the position closes. Synchronous and free of I/O, like the sentinel's
evaluation that calls it; each change is recorded in the stop history beside the state it describes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from core.logging import get_logger
from core.metrics import TRAILING_ACTIVATIONS, TRAILING_ACTIVE, TRAILING_CREATED
from core.money import fmt
from market_data.ports import OpenPosition
from market_data.stop_history import StopHistory
from market_data.trailing_stop import TrailingParams, TrailingStop, advance, start_trailing
from market_data.trailing_store import TrailingWriter, final_state

log = get_logger(__name__)


class TrailingBook:
    def __init__(self, params: TrailingParams, writer: TrailingWriter | None, history: StopHistory) -> None:
        self._params = params
        self._writer = writer
        self._history = history
        self._stops: dict[str, TrailingStop] = {}
        self._active_count = 0

    def get(self, symbol: str) -> TrailingStop | None:
        return self._stops.get(symbol)

    def all(self) -> list[TrailingStop]:
        return list(self._stops.values())

    def restore(self, stops: Mapping[str, TrailingStop]) -> None:
        """Hold exactly `stops` (what the database holds now), without saving them back."""
        for symbol in [s for s in self._stops if s not in stops]:
            old = self._stops.pop(symbol)
            if old.is_active:
                self._active_count -= 1
        for stop in stops.values():
            self.put(stop, persist=False)
        TRAILING_ACTIVE.set(self._active_count)

    def update(self, position: OpenPosition, price: Decimal, atr: Decimal | None, now: datetime) -> TrailingStop:
        """The position's stop advanced to `price` (created first for a new position)."""
        symbol = position.symbol
        current = self._stops.get(symbol)
        # A new position (re-entered at the same price after an exit the sweep did not see) must not
        # inherit the last one's stop: it is identified by its entry price *and* when it opened.
        created = current is None or current.entry_price != position.avg_entry_price or (
            position.opened_at is not None and current.opened_at is not None
            and current.opened_at != position.opened_at)
        if current is None or created:
            if current is not None:
                log.info("trailing_stop_removed", why="new position", **final_state(current))
                self._history.removed(current, "new position")
            current = start_trailing(symbol, position.avg_entry_price, price, position.opened_at, now, atr)
            TRAILING_CREATED.inc()
            log.info("trailing_stop_created", symbol=symbol, entry_price=fmt(current.entry_price), price=fmt(price))
            self._history.created(current, price, position.size)
        step = advance(current, price, atr, now, self._params)
        new = step.stop
        self._history.stepped(current, step, price, position.size, now)
        self.put(new, persist=created or step.changed)
        if step.activated:
            TRAILING_ACTIVATIONS.inc()
            log.info("trailing_stop_activated", symbol=symbol, stop=fmt(new.current_stop or price), price=fmt(price))
        if step.triggered:
            log.info("trailing_stop_triggered", price=fmt(price), **final_state(new))
        return new

    def put(self, stop: TrailingStop, *, persist: bool = True) -> None:
        old = self._stops.get(stop.symbol)
        if old is stop:
            return
        delta = int(stop.is_active) - int(old is not None and old.is_active)
        self._stops[stop.symbol] = stop
        if delta:
            self._active_count += delta
            TRAILING_ACTIVE.set(self._active_count)
        if persist and self._writer is not None:
            self._writer.save(stop)

    def closed(self, symbol: str) -> None:
        """The position is closed: its stop is dropped, recorded as removed and deleted from the database."""
        stop = self._stops.pop(symbol, None)
        if stop is None:
            return
        self._active_count -= int(stop.is_active)
        TRAILING_ACTIVE.set(self._active_count)
        log.info("trailing_stop_removed", why="position closed", **final_state(stop))
        self._history.removed(stop, "position closed")
        if self._writer is not None:
            self._writer.delete(symbol)

"""The running degraded mode: hears every exchange call's outcome, persists transitions, nags.

`observe_*` are called synchronously from the monitored exchange (exchange/monitored.py); a
transition is persisted by a background task (state row + event in one transaction), so a slow
database never delays an order. While degraded: `entries_allowed()` is False, protective-stop
moves are limited to the bypass threshold, reconciliation runs `degraded_reconcile_factor` times
less often, and `run` repeats the notification every `degraded_notify_every_s`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from core.clock import Clock, SystemClock
from core.logging import get_logger
from core.metrics import DEGRADED_ACTIVE, DEGRADED_CALL_FAILURES, DEGRADED_TRANSITIONS
from core.settings import Settings
from market_data.ports import Notifier
from risk.degraded.machine import DegradedMachine, DegradedParams, DegradedState, Transition
from risk.degraded.store import DegradedStore

log = get_logger(__name__)
TOPIC = "degraded_mode"


class DegradedMode:
    def __init__(self, settings: Settings, store: DegradedStore | None, notifier: Notifier | None = None,
                 clock: Clock | None = None) -> None:
        self._settings = settings
        self._machine = DegradedMachine(DegradedParams(settings.degraded_error_threshold, settings.degraded_window_s,
                                                       settings.degraded_recovery_successes))
        self._store = store
        self._notifier = notifier
        self._clock = clock or SystemClock()
        self._pending: set[asyncio.Task[None]] = set()
        self.transitions: list[Transition] = []

    async def load(self) -> None:
        if self._store is not None:
            state = await self._store.load()
            self._machine.restore(state)
            DEGRADED_ACTIVE.set(1 if state.active else 0)
            if state.active:
                log.warning("degraded_mode_restored", family=state.family, cause=state.cause)

    # ---- what the monitored exchange reports ---------------------------------------------------------
    def observe_failure(self, family: str, error: str) -> None:
        DEGRADED_CALL_FAILURES.labels(family=family).inc()
        self._apply(self._machine.failure(family, error, self._clock.monotonic(), self._clock.now()))

    def observe_success(self, family: str) -> None:
        self._apply(self._machine.success(family, self._clock.now()))

    def _apply(self, transition: Transition | None) -> None:
        if transition is None:
            return
        self.transitions.append(transition)
        DEGRADED_ACTIVE.set(1 if transition.event == "enter" else 0)
        DEGRADED_TRANSITIONS.labels(event=transition.event).inc()
        log.warning("degraded_mode_" + ("entered" if transition.event == "enter" else "left"),
                    family=transition.family, cause=transition.cause)
        try:
            task = asyncio.get_running_loop().create_task(self._persist_and_tell(transition, self._machine.state))
        except RuntimeError:  # no loop (pure tests): nothing to persist to
            return
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _persist_and_tell(self, transition: Transition, state: DegradedState) -> None:
        if self._store is not None:
            try:
                await self._store.record(transition, state)
            except Exception as exc:  # the state is still right in memory; the next transition writes again
                log.error("degraded_mode_persist_failed", error=repr(exc))
        if self._notifier is not None:
            await self._notifier.notify(TOPIC, self._message(transition))

    @staticmethod
    def _message(t: Transition) -> str:
        if t.event == "enter":
            return f"DEGRADED MODE: no new entries, fewer stop moves, slower reconciliation. Cause: {t.cause}"
        return f"degraded mode ended: {t.cause}"

    # ---- what the daemon asks -------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self._machine.state.active

    def entries_allowed(self) -> bool:
        return not self._machine.state.active

    def reconcile_interval_s(self, base_s: float) -> float:
        return base_s * self._settings.degraded_reconcile_factor if self.active else base_s

    def status(self) -> dict[str, Any]:
        s = self._machine.state
        return {"active": s.active, "family": s.family, "cause": s.cause,
                "since": s.since.isoformat() if s.since else None,
                "recovery_progress": self._machine.recovery_progress,
                "recovery_needed": self._settings.degraded_recovery_successes}

    async def history(self, limit: int = 20) -> list[dict[str, Any]]:
        return await self._store.history(limit) if self._store is not None else []

    async def flush(self) -> None:
        """Wait for pending persistence (tests, shutdown)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Repeat the degraded notification every degraded_notify_every_s while degraded."""
        every = self._settings.degraded_notify_every_s
        while not stop.is_set():
            if self.active and self._notifier is not None:
                s = self._machine.state
                await self._notifier.notify(TOPIC, f"still in DEGRADED MODE since {s.since}: {s.cause}")
            await _wait(stop, every)
        await self.flush()


    async def probe(self, stop: asyncio.Event, call: Callable[[], Awaitable[object]], every_s: float) -> None:
        """While degraded, make one cheap read every `every_s`: an idle daemon makes few exchange calls,
        and without calls the run of successes that ends degraded mode would never come. `call` goes
        through the monitored exchange, so its outcome counts like any other call's."""
        while not stop.is_set():
            if self.active:
                try:
                    await call()
                except Exception as exc:  # counted as a failure by the monitored exchange already
                    log.info("degraded_probe_failed", error=type(exc).__name__)
            await _wait(stop, every_s)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    # The Clock port has no wait yet; this is the same bounded wait the reconciler loop uses.
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass

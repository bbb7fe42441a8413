"""Runs the daemon's long-lived tasks; a task that dies is logged and restarted with backoff."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from core.clock import Clock, SystemClock
from core.logging import get_logger

log = get_logger(__name__)

TaskFactory = Callable[[asyncio.Event], Awaitable[None]]


@dataclass
class _Spec:
    name: str
    factory: TaskFactory
    restarts: int = 0
    crashes: deque[float] = field(default_factory=lambda: deque(maxlen=64))  # monotonic times


class Supervisor:
    def __init__(self, stop: asyncio.Event, *, backoff_base_s: float = 0.5, backoff_max_s: float = 30.0,
                 clock: Clock | None = None, crash_loop_restarts: int = 3, crash_loop_window_s: float = 300.0) -> None:
        self._stop = stop
        self._specs: list[_Spec] = []
        self._base = backoff_base_s
        self._max = backoff_max_s
        self._clock = clock or SystemClock()
        self._loop_restarts = crash_loop_restarts
        self._loop_window_s = crash_loop_window_s

    def crash_looping(self) -> list[str]:
        """Loops restarted at least `crash_loop_restarts` times within the window: a repeating failure."""
        since = self._clock.monotonic() - self._loop_window_s
        return [s.name for s in self._specs if sum(1 for t in s.crashes if t >= since) >= self._loop_restarts]

    def problems(self) -> list[str]:
        return [f"crash_loop:{name}" for name in self.crash_looping()]

    def add(self, name: str, factory: TaskFactory) -> None:
        self._specs.append(_Spec(name, factory))

    def restarts(self) -> dict[str, int]:
        return {s.name: s.restarts for s in self._specs}

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._keep_running(spec), name=spec.name) for spec in self._specs]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _keep_running(self, spec: _Spec) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                await spec.factory(self._stop)
                if self._stop.is_set():
                    return
                log.warning("task_returned_early", task=spec.name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("task_crashed", task=spec.name, restarts=spec.restarts)
            failures += 1
            spec.restarts += 1
            spec.crashes.append(self._clock.monotonic())
            delay = min(self._max, self._base * 2 ** min(failures, 10)) * (0.5 + random.random() / 2)
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
            except TimeoutError:
                pass

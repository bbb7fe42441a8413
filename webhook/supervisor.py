"""Runs the daemon's long-lived tasks; a task that dies is logged and restarted with backoff."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.logging import get_logger

log = get_logger(__name__)

TaskFactory = Callable[[asyncio.Event], Awaitable[None]]


@dataclass
class _Spec:
    name: str
    factory: TaskFactory
    restarts: int = 0


class Supervisor:
    def __init__(self, stop: asyncio.Event, *, backoff_base_s: float = 0.5, backoff_max_s: float = 30.0) -> None:
        self._stop = stop
        self._specs: list[_Spec] = []
        self._base = backoff_base_s
        self._max = backoff_max_s

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
            delay = min(self._max, self._base * 2 ** min(failures, 10)) * (0.5 + random.random() / 2)
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
            except TimeoutError:
                pass

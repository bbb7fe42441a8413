"""Waiting through the Clock port: a clock that can sleep (a virtual clock in a replay) is asked to;
otherwise the wait is on the event loop, still measured by the caller's clock reads."""

from __future__ import annotations

import asyncio
import contextlib

from core.clock import Clock


async def wait(clock: Clock, seconds: float, stop: asyncio.Event | None = None) -> None:
    sleep = getattr(clock, "sleep", None)
    if sleep is not None:
        await sleep(seconds)
        return
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)

"""`python main.py simulator` (the server itself is added by the simulator issue)."""

from __future__ import annotations

import asyncio

from core.logging import get_logger
from core.settings import Settings

log = get_logger(__name__)


async def run_simulator(settings: Settings, stop: asyncio.Event) -> None:
    log.info("simulator_not_built_yet")
    await stop.wait()

"""The sighook process: signals only, never orders. (The cycle is added by the sighook issue.)"""

from __future__ import annotations

import asyncio

from core.logging import get_logger
from core.settings import Settings
from shared_data.db import create_engine

log = get_logger(__name__)


async def run_sighook(settings: Settings, db_url: str, stop: asyncio.Event) -> None:
    engine = create_engine(db_url, pool_size=2)
    try:
        async with engine.connect():
            log.info("sighook_ready")
        await stop.wait()
    finally:
        await engine.dispose()

"""The webhook process: the single executor of orders. (Loops are added by the execution-core issue.)"""

from __future__ import annotations

import asyncio

from core.logging import get_logger
from core.settings import Settings
from shared_data.db import create_engine

log = get_logger(__name__)


async def run_webhook(settings: Settings, db_url: str, stop: asyncio.Event) -> None:
    engine = create_engine(db_url, pool_size=settings.db_pool_size)
    try:
        async with engine.connect():
            log.info("webhook_ready")
        await stop.wait()
    finally:
        await engine.dispose()


async def run_both(settings: Settings, db_url: str, stop: asyncio.Event) -> None:
    from sighook.daemon import run_sighook

    await asyncio.gather(run_webhook(settings, db_url, stop), run_sighook(settings, db_url, stop))

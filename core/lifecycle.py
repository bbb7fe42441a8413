"""Process lifecycle: stop on SIGINT/SIGTERM, an asyncio exception handler that logs."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from core.logging import get_logger

log = get_logger(__name__)


def install_stop_signals(loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Event:
    """Return an event set by the first SIGINT/SIGTERM; the loop keeps running to shut down cleanly."""
    loop = loop or asyncio.get_running_loop()
    stop = asyncio.Event()

    def _on_signal(signame: str) -> None:
        first = not stop.is_set()
        stop.set()  # before logging: a broken log pipe must never keep the process from stopping
        if first:
            log.info("shutdown_requested", signal=signame)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _on_signal, sig.name)
    return stop


def install_exception_handler(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Exceptions nobody awaited are logged with their traceback instead of vanishing."""
    loop = loop or asyncio.get_running_loop()

    def _handler(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        log.error("asyncio_unhandled", message=context.get("message"), exc_info=exc)

    loop.set_exception_handler(_handler)

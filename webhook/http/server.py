"""Serving the app: an AppRunner whose access log never shows a secret in a URL path."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from core.logging import get_logger

log = get_logger("webhook.http.access")


def masked_path(path: str) -> str:
    """`/webhook/<secret>` → `/webhook/***`; query strings are dropped (they may carry tokens)."""
    if path.startswith("/webhook/"):
        return "/webhook/***"
    return path


class RedactingAccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, elapsed: float) -> None:
        log.info("http_access", method=request.method, path=masked_path(request.path), status=response.status,
                 remote=request.remote, ms=round(elapsed * 1000, 2))


@dataclass
class RunningServer:
    runner: web.AppRunner
    port: int

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_server(app: web.Application, host: str, port: int, *, access_log: bool = True,
                       shutdown_timeout_s: float = 5.0) -> RunningServer:
    """Start serving `app` on host:port (port 0 = any free port); returns the bound port."""
    runner = web.AppRunner(
        app,
        access_log_class=RedactingAccessLogger,
        access_log=logging.getLogger("aiohttp.access") if access_log else None,
        shutdown_timeout=shutdown_timeout_s,
        handle_signals=False,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = port
    for addr in runner.addresses:
        if isinstance(addr, tuple) and len(addr) >= 2:
            bound = int(addr[1])
            break
    log.info("http_server_started", host=host, port=bound)
    return RunningServer(runner, bound)


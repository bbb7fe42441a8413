"""Test helpers: a real aiohttp server on 127.0.0.1 that records alert POSTs."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared_data.db import unit_of_work
from shared_data.models import Alert, Fill, PassiveOrder, RiskState, SharedData, TradeRecord
from webhook.http.deps import HealthReport, TrailingStopHealth

SECRET = "sighook-test-secret-0123456789abcdef"


@dataclass
class QuietHealth:
    """HealthSource for the real webhook app in these tests (they never read health)."""

    async def health(self) -> HealthReport:
        return HealthReport(database_ok=True, websocket_connected=False, websocket_age_s=None, matrix_age_s=None)

    async def trailing_stop(self) -> TrailingStopHealth:
        return TrailingStopHealth(active=0, activations=0, errors=0)


@dataclass
class NoAdmin:
    """AdminActions for the real webhook app in these tests (never halted)."""

    async def halt(self, reason: str) -> Mapping[str, Any]:
        return {"halted": False, "refused": reason}

    async def resume(self) -> Mapping[str, Any]:
        return {"halted": False}

    async def state(self) -> Mapping[str, Any]:
        return {"halted": False}


@dataclass
class AlertRecorder:
    """Records every POSTed JSON body; answers with queued statuses (200 once the queue is empty)."""

    statuses: deque[int] = field(default_factory=deque)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> AlertRecorder:
        app = web.Application()
        app.router.add_post("/webhook", self._handle)
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = next(a[1] for a in self.runner.addresses if isinstance(a, tuple))
        self.url = f"http://127.0.0.1:{port}/webhook"
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        self.bodies.append(body)
        status = self.statuses.popleft() if self.statuses else 200
        return web.json_response({"result": "accepted" if status == 200 else "error"}, status=status)

    def ids(self) -> list[str]:
        return [b["id"] for b in self.bodies]


async def clear_tables(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(sessions) as s:
        for model in (Fill, PassiveOrder, RiskState, TradeRecord, Alert, SharedData):
            await s.execute(delete(model))

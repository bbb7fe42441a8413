"""Notifier over real apprise, delivering to a JSON endpoint on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from core.clock import ManualClock
from webhook.http.server import RunningServer, start_server
from webhook.notifications import Notifier, NotifyResult, NotifyTopic


@dataclass
class Inbox:
    received: list[dict[str, Any]] = field(default_factory=list)
    hang: asyncio.Event = field(default_factory=asyncio.Event)  # set: answer; unset: keep the sender waiting
    server: RunningServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        if request.path.endswith("/slow"):
            await self.hang.wait()
        self.received.append({"path": request.path, **body})
        return web.json_response({"ok": True})

    def url(self, path: str = "/notify") -> str:
        assert self.server is not None
        return f"json://127.0.0.1:{self.server.port}{path}?rto=5&cto=2"


@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    box = Inbox()
    app = web.Application()
    app.router.add_post("/{tail:.*}", box.handle)
    box.server = await start_server(app, "127.0.0.1", 0, access_log=False)
    try:
        yield box
    finally:
        box.hang.set()
        await box.server.stop()


async def test_notifications_are_delivered_and_rate_limited_per_topic(inbox: Inbox) -> None:
    clock = ManualClock()
    notifier = Notifier([inbox.url()], min_interval_s=300, clock=clock)
    try:
        with capture_logs() as logs:
            assert await notifier.notify(NotifyTopic.WEBSOCKET_DOWN, "market feed down for 30 s") is NotifyResult.SENT
            assert await notifier.notify(NotifyTopic.WEBSOCKET_DOWN, "still down") is NotifyResult.SUPPRESSED
            # Another topic is not held back by the first.
            assert await notifier.notify(NotifyTopic.BREAKER_TRIPPED, "daily loss limit") is NotifyResult.SENT
            clock.advance(299)
            assert await notifier.notify(NotifyTopic.WEBSOCKET_DOWN, "still down") is NotifyResult.SUPPRESSED
            clock.advance(1)  # the problem lasts: re-sent once per interval
            assert await notifier.notify(NotifyTopic.WEBSOCKET_DOWN, "down for 330 s") is NotifyResult.SENT
            notifier.clear(NotifyTopic.WEBSOCKET_DOWN)  # it recovered; a new outage is news at once
            assert await notifier.notify(NotifyTopic.WEBSOCKET_DOWN, "down again") is NotifyResult.SENT
        messages = [(m["title"], m["message"]) for m in inbox.received]
        assert messages == [
            ("bottrader: websocket_down", "market feed down for 30 s"),
            ("bottrader: breaker_tripped", "daily loss limit"),
            ("bottrader: websocket_down", "down for 330 s"),
            ("bottrader: websocket_down", "down again"),
        ]
        assert inbox.server is not None and logs
        assert "json://" not in repr(logs) and f"127.0.0.1:{inbox.server.port}" not in repr(logs)  # URLs never logged
    finally:
        notifier.close()


async def test_a_hanging_destination_does_not_block_the_caller(inbox: Inbox) -> None:
    notifier = Notifier([inbox.url("/slow")], min_interval_s=0, clock=ManualClock(), send_timeout_s=0.2,
                        max_threads=1)
    try:
        assert await notifier.notify(NotifyTopic.ORDER_FAILED, "order rejected") is NotifyResult.TIMEOUT
        # The stuck thread is not piled onto.
        assert await notifier.notify(NotifyTopic.ORDER_FAILED, "order rejected again") is NotifyResult.BUSY
    finally:
        inbox.hang.set()
        notifier.close()


async def test_without_urls_notifications_are_only_logged() -> None:
    notifier = Notifier([], min_interval_s=60, clock=ManualClock())
    with capture_logs() as logs:
        assert await notifier.notify(NotifyTopic.HODL_LARGE_LOSS, "ETH is 12 % under cost") is NotifyResult.LOGGED
        assert await notifier.notify(NotifyTopic.HODL_LARGE_LOSS, "ETH is 13 % under cost") is NotifyResult.SUPPRESSED
    assert [e["event"] for e in logs] == ["notification"]
    assert logs[0]["topic"] == "hodl_large_loss"


async def test_an_unreachable_destination_fails_without_raising() -> None:
    notifier = Notifier(["json://127.0.0.1:9/nothing?cto=1&rto=1"], min_interval_s=0, clock=ManualClock())
    try:
        assert await notifier.notify("stale_data", "no quotes for BTC-USD") is NotifyResult.FAILED
    finally:
        notifier.close()

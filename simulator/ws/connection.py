"""One WebSocket client: its subscriptions, its sequence numbers and a sender applying send-time faults."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from core.logging import get_logger
from simulator.http.errors import dumps
from simulator.ws.channels import envelope

if TYPE_CHECKING:
    from simulator.context import SimContext

log = get_logger(__name__)
MAX_PENDING = 50_000  # a client this far behind is dropped (1008), as production drops slow consumers


@dataclass(frozen=True, slots=True)
class Outgoing:
    kind: str  # "heartbeat", "user", "data", "ack", "raw"
    channel: str = ""
    events: tuple[dict[str, Any], ...] = ()
    raw: dict[str, Any] | None = None


class Connection:
    def __init__(self, request: web.Request, ws: web.WebSocketResponse, user_endpoint: bool, ctx: SimContext) -> None:
        self.request = request
        self.ws = ws
        path = request.path
        self.path = path
        self.user_endpoint = user_endpoint
        self.ctx = ctx
        self.subs: dict[str, set[str]] = {}
        self.seq = 0
        self.heartbeat_counter = 0
        self.last_sent = time.monotonic()
        self.closed = False
        self.has_subscribed = False
        self._queue: asyncio.Queue[Outgoing] = asyncio.Queue()

    def subscribed(self, channel: str, product_id: str | None = None) -> bool:
        products = self.subs.get(channel)
        if products is None:
            return False
        if product_id is None or (channel == "user" and not products):
            return True
        return product_id in products

    def send(self, out: Outgoing) -> None:
        if self.closed:
            return
        self._queue.put_nowait(out)
        if self._queue.qsize() > MAX_PENDING:
            self.closed = True
            asyncio.get_running_loop().create_task(self.ws.close(code=1008, message=b"slow consumer"))

    def send_raw(self, frame: dict[str, Any]) -> None:
        self.send(Outgoing("raw", raw=frame))

    async def run_sender(self) -> None:
        try:
            while not self.closed:
                out = await self._queue.get()
                if not await self._deliver(out):
                    break
        except (ConnectionResetError, RuntimeError, asyncio.CancelledError):
            pass
        finally:
            self.closed = True

    async def _deliver(self, out: Outgoing) -> bool:
        """Send one message (faults applied); False once the connection is gone."""
        faults, path = self.ctx.faults, self.path
        rule = faults.take("ws_close", path)
        if rule is not None:
            await self.close(int(rule.params.get("code", 1000)), str(rule.params.get("reason", "")))
            return False
        if faults.take("ws_drop", path) is not None:
            self.abort()
            return False
        if out.kind == "heartbeat" and faults.take("ws_stall_heartbeats", path) is not None:
            return True
        if faults.take("ws_stall_all", path) is not None:
            return True
        rule = faults.take("ws_error_frame", path)
        if rule is not None:
            await self.ws.send_str(dumps({"type": "error", "message": rule.params.get("message",
                                                                                     "authentication failure")}))
        if faults.take("ws_unknown_message", path) is not None:
            await self._send_envelope("futures_news", [{"type": "update", "headline": "unknown channel"}])
        if out.raw is not None:
            await self.ws.send_str(dumps(out.raw))
        else:
            await self._send_envelope(out.channel, list(out.events))
            if out.kind == "user" and faults.take("ws_replay", path) is not None:
                await self._send_envelope(out.channel, list(out.events))
        self.last_sent = time.monotonic()
        return True

    async def _send_envelope(self, channel: str, events: list[dict[str, Any]]) -> None:
        rule = self.ctx.faults.take("ws_skip_seq", self.path)
        if rule is not None:
            self.seq += int(rule.params.get("skip", 1))
        with_id = not (self.ctx.config.ws_omit_client_id or self.ctx.faults.take("ws_omit_client_id", self.path))
        now: datetime = self.ctx.now()
        msg = envelope(channel, self.seq, events, now, with_id)
        self.seq += 1
        await self.ws.send_str(dumps(msg))

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=reason.encode())

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        self.closed = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()

"""The WebSocket endpoint handler: subscribe deadline, subscribe/unsubscribe, auth for `user`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from core.logging import get_logger
from simulator.http.auth import AuthFailure
from simulator.ws.channels import AUTH_CHANNELS, MARKET_CHANNELS, USER_ENDPOINT_CHANNELS, subscriptions_event
from simulator.ws.connection import Connection, Outgoing

if TYPE_CHECKING:
    from simulator.context import SimContext

log = get_logger(__name__)
MAX_MESSAGE = 10 * 1024 * 1024
AUTH_FAILURE = {"type": "error", "message": "authentication failure"}


class WsEndpoint:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self._recent_connects: deque[float] = deque()

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/ws", self.market), web.get("/ws/user", self.user), web.get("/", self.market)]

    async def market(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, user_endpoint=False)

    async def user(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, user_endpoint=True)

    def _refuse(self, path: str) -> bool:
        limit = self.ctx.config.ws_max_connections_per_s
        now = time.monotonic()
        while self._recent_connects and now - self._recent_connects[0] > 1.0:
            self._recent_connects.popleft()
        self._recent_connects.append(now)
        if limit is not None and len(self._recent_connects) > limit:
            return True
        return self.ctx.faults.take("ws_refuse", path) is not None

    async def _serve(self, request: web.Request, user_endpoint: bool) -> web.StreamResponse:
        if self._refuse(request.path):
            return web.Response(status=429, text="Too Many Requests\n")
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE, autoping=True)
        await ws.prepare(request)
        hub = self.ctx.hub
        conn = Connection(request, ws, user_endpoint, self.ctx)
        hub.connections.add(conn)
        sender = asyncio.create_task(conn.run_sender())
        deadline = time.monotonic() + self.ctx.config.ws_subscribe_deadline_s
        try:
            while not conn.closed:
                timeout = None if conn.has_subscribed else max(0.0, deadline - time.monotonic())
                try:
                    msg = await ws.receive(timeout=timeout)
                except TimeoutError:
                    await conn.close(1008, "no subscribe received")  # W8: subscribe within 5 s
                    break
                if msg.type == WSMsgType.TEXT:
                    self._on_text(conn, msg.data)
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            conn.closed = True
            hub.connections.discard(conn)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
        return ws

    def _on_text(self, conn: Connection, text: str) -> None:
        try:
            msg: Any = json.loads(text)
        except ValueError:
            conn.send_raw({"type": "error", "message": "malformed JSON"})
            return
        if not isinstance(msg, dict) or msg.get("type") not in ("subscribe", "unsubscribe"):
            conn.send_raw({"type": "error", "message": "unknown message type"})
            return
        channel = msg.get("channel")
        allowed = USER_ENDPOINT_CHANNELS if conn.user_endpoint else MARKET_CHANNELS
        if not isinstance(channel, str) or channel not in allowed:
            conn.send_raw({"type": "error", "message": f"Failed to subscribe: unknown channel {channel!r}"})
            return
        raw_products = msg.get("product_ids") or []
        if not isinstance(raw_products, list) or not all(isinstance(p, str) for p in raw_products):
            conn.send_raw({"type": "error", "message": "product_ids must be a list of strings"})
            return
        products = [p for p in dict.fromkeys(raw_products)]
        unknown = [p for p in products if p not in self.ctx.engine.markets]
        if unknown:
            conn.send_raw({"type": "error", "message": f"Failed to subscribe: unknown product ids {unknown}"})
            return
        if channel in AUTH_CHANNELS and not self._authenticated(msg.get("jwt")):
            conn.send_raw(AUTH_FAILURE)
            return
        if msg["type"] == "subscribe":
            self._subscribe(conn, channel, products)
        else:
            self._unsubscribe(conn, channel, products)

    def _authenticated(self, token: Any) -> bool:
        if not isinstance(token, str) or not token:
            return False
        result = self.ctx.verifier.verify(token, expected_uri=None)
        if isinstance(result, AuthFailure):
            log.info("ws_auth_failed", reason=result.reason)
            return False
        return True

    def _subscribe(self, conn: Connection, channel: str, products: list[str]) -> None:
        if channel in ("heartbeats", "futures_balance_summary"):
            products = []
        elif channel != "user" and not products:
            conn.send_raw({"type": "error", "message": f"Failed to subscribe: {channel} needs product_ids"})
            return
        conn.has_subscribed = True
        current = conn.subs.setdefault(channel, set())
        if channel == "user" and not products:
            current.clear()  # all products
        current.update(products)
        ack = Outgoing("ack", "subscriptions", (subscriptions_event(conn.subs),))
        snapshot_products = products or (sorted(self.ctx.engine.markets) if channel != "user" else [])
        if self.ctx.config.ws_snapshot_before_ack:
            self.ctx.hub.snapshots(conn, channel, snapshot_products)
            conn.send(ack)
        else:
            conn.send(ack)
            self.ctx.hub.snapshots(conn, channel, snapshot_products)

    def _unsubscribe(self, conn: Connection, channel: str, products: list[str]) -> None:
        current = conn.subs.get(channel)
        if current is not None:
            if products and channel not in ("heartbeats", "futures_balance_summary"):
                current.difference_update(products)
                if not current:
                    del conn.subs[channel]
            else:
                del conn.subs[channel]
        conn.send(Outgoing("ack", "subscriptions", (subscriptions_event(conn.subs),)))

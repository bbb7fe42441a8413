"""A scripted Advanced-Trade-shaped WebSocket server on 127.0.0.1 for feed-manager tests.

Each accepted connection runs the next `Script` (the last one repeats): it records the subscribe
messages, then streams heartbeats and tickers with a per-connection sequence_num and ends the
connection the way the script says (close code, abrupt drop, stall, …).
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed


@dataclass
class Script:
    frames: int = 10_000  # data frames before the ending
    ending: str = "none"  # none | close_1000 | close_1001 | close_1011 | drop | stall
    skip_at: int | None = None  # skip this many sequence numbers after frame index skip_at
    skip_by: int = 3
    raw_frames: list[str] = field(default_factory=list)  # sent right after subscribe
    interval_s: float = 0.01


class ScriptedServer:
    def __init__(self, scripts: list[Script]) -> None:
        self.scripts = scripts
        self.connections = 0
        self.subscribes: list[list[dict[str, Any]]] = []
        self._server: Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def __aenter__(self) -> ScriptedServer:
        self._server = await serve(self._handle, "127.0.0.1", 0, compression=None)
        self.port = self._server.sockets[0].getsockname()[1] if self._server.sockets else 0
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        index = self.connections
        self.connections += 1
        script = self.scripts[min(index, len(self.scripts) - 1)]
        subs: list[dict[str, Any]] = []
        self.subscribes.append(subs)
        subscribed = asyncio.Event()
        seq = 0

        async def send(payload: dict[str, Any]) -> None:
            nonlocal seq
            payload = {"client_id": "", "timestamp": "2026-01-01T00:00:00.123456789Z", "sequence_num": seq,
                       **payload}
            seq += 1
            await ws.send(json.dumps(payload))

        async def reader() -> None:
            async for raw in ws:
                subs.append(json.loads(raw))
                subscribed.set()

        read_task = asyncio.create_task(reader())
        try:
            await subscribed.wait()
            for raw in script.raw_frames:
                await ws.send(raw)
            counter = 100
            for i in range(script.frames):
                if script.skip_at is not None and i == script.skip_at:
                    seq += script.skip_by
                if i % 2 == 0:
                    await send({"channel": "heartbeats", "events": [
                        {"current_time": "2026-01-01 00:00:00 +0000 UTC", "heartbeat_counter": counter}]})
                    counter += 1
                else:
                    await send({"channel": "ticker", "events": [{"type": "update", "tickers": [
                        {"type": "ticker", "product_id": "BTC-USD", "price": str(100 + i),
                         "best_bid": "99", "best_ask": "101"}]}]})
                await asyncio.sleep(script.interval_s)
            match script.ending:
                case "close_1000" | "close_1001" | "close_1011":
                    await ws.close(int(script.ending[-4:]))
                case "drop":
                    ws.transport.abort()
                case _:  # "none" and "stall": stay open and silent until the client goes away
                    await ws.wait_closed()
        except ConnectionClosed:
            pass  # the client went away mid-script: that is what several tests do
        finally:
            read_task.cancel()


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

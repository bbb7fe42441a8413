"""Other WebSocket channels and user-snapshot batching, with a raw websockets client."""

from __future__ import annotations

import asyncio
import copy
import json
import ssl
from typing import Any

import websockets
from coinbase import jwt_generator
from coinbase.websocket.types.websocket_response import WebsocketResponse

from simulator.app import RunningSimulator
from simulator.keys import TestKey
from tests.unit.simulator.helpers import D, limit


async def _recv_until(conn: Any, predicate: Any, timeout: float = 5.0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not predicate(out):
            out.append(json.loads(await conn.recv()))
    return out


def _count(channel: str, n: int = 1) -> Any:
    return lambda ms: sum(1 for m in ms if m.get("channel") == channel) >= n


async def test_candles_trades_status_ticker_batch(sim: RunningSimulator) -> None:
    async with websockets.connect(sim.ws_market_url) as conn:
        for channel in ("candles", "market_trades", "status", "ticker_batch"):
            await conn.send(json.dumps({"type": "subscribe", "channel": channel, "product_ids": ["ETH-USD"]}))
        msgs = await _recv_until(conn, lambda ms: all(_count(c)(ms) for c in (
            "candles", "market_trades", "status", "ticker_batch")))
        await sim.step(3)
        msgs += await _recv_until(conn, _count("market_trades", 2))
        await conn.send(json.dumps({"type": "unsubscribe", "channel": "candles", "product_ids": ["ETH-USD"]}))
        msgs += await _recv_until(conn, lambda ms: any(
            m.get("channel") == "subscriptions" and "candles" not in m["events"][0]["subscriptions"] for m in ms))
    for m in msgs:
        WebsocketResponse(copy.deepcopy(m))  # the SDK's parser (which pops keys) accepts every frame
    by = {m["channel"]: m for m in reversed(msgs)}
    candle = next(m for m in msgs if m["channel"] == "candles")["events"][0]["candles"][0]
    assert int(candle["start"]) % 300 == 0 and candle["product_id"] == "ETH-USD"
    status = by["status"]["events"][0]["products"][0]
    assert status["id"] == "ETH-USD" and status["status"] == "online" and status["display_name"] == "ETH/USD"
    batch = next(m for m in msgs if m["channel"] == "ticker_batch")["events"][0]
    assert batch["type"] == "snapshot" and batch["tickers"][0]["product_id"] == "ETH-USD"
    update = [m for m in msgs if m["channel"] == "market_trades" and m["events"][0]["type"] == "update"]
    assert update and {"trade_id", "price", "size", "side", "time"} <= set(update[0]["events"][0]["trades"][0])


async def test_errors_for_unknown_channel_and_product(sim: RunningSimulator) -> None:
    async with websockets.connect(sim.ws_market_url) as conn:
        await conn.send(json.dumps({"type": "subscribe", "channel": "nope", "product_ids": ["BTC-USD"]}))
        assert json.loads(await conn.recv())["type"] == "error"
        await conn.send(json.dumps({"type": "subscribe", "channel": "ticker", "product_ids": ["XYZ-USD"]}))
        assert json.loads(await conn.recv())["type"] == "error"
        await conn.send("not json")
        assert json.loads(await conn.recv())["type"] == "error"
    async with websockets.connect(sim.ws_user_url) as conn:
        await conn.send(json.dumps({"type": "subscribe", "channel": "ticker", "product_ids": ["BTC-USD"]}))
        assert json.loads(await conn.recv())["type"] == "error"  # the user endpoint has no market data


async def _user_snapshot_sizes(sim: RunningSimulator, key: TestKey, product: str) -> list[int]:
    async with websockets.connect(sim.ws_user_url) as conn:
        await conn.send(json.dumps({"type": "subscribe", "channel": "user", "product_ids": [product],
                                    "jwt": jwt_generator.build_ws_jwt(key.name, key.private_pem)}))
        msgs = await _recv_until(conn, lambda ms: any(
            m.get("channel") == "user" and len(m["events"][0]["orders"]) < 50 for m in ms))
    return [len(m["events"][0]["orders"]) for m in msgs if m["channel"] == "user"]


async def test_user_snapshot_batches_of_50(sim: RunningSimulator, key: TestKey) -> None:
    engine, now = sim.engine, sim.ctx.now()
    engine.deposit("USD", D("100000"))
    for i in range(55):
        assert engine.create_order(f"snap-doge-{i}", "DOGE-USD", "BUY", limit("10", "0.10000"), now).success
    for i in range(50):
        assert engine.create_order(f"snap-ltc-{i}", "LTC-USD", "BUY", limit("0.1", "50.00"), now).success
    sim.ctx.pump()
    assert await _user_snapshot_sizes(sim, key, "DOGE-USD") == [50, 5]
    assert await _user_snapshot_sizes(sim, key, "LTC-USD") == [50, 0]  # exactly 50: a trailing empty batch
    ids = [o.order_id for o in engine.open_orders() if o.client_order_id.startswith("snap-")]
    engine.cancel_orders(ids, now)
    sim.ctx.pump()


async def test_wss_on_the_rest_port(sim: RunningSimulator) -> None:
    ctx = ssl.create_default_context(cafile=str(sim.ca_file))
    async with websockets.connect(sim.wss_market_url, ssl=ctx) as conn:
        await conn.send(json.dumps({"type": "subscribe", "channel": "heartbeats", "product_ids": []}))
        first = json.loads(await asyncio.wait_for(conn.recv(), 3))
    assert first["channel"] == "subscriptions" and first["events"][0]["subscriptions"] == {"heartbeats": ["heartbeats"]}

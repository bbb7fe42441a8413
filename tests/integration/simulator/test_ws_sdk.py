"""The SDK's WSClient / WSUserClient against the simulator: ticker, heartbeats, level2, user updates."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import websockets
from coinbase.rest import RESTClient
from coinbase.websocket import WSClient, WSUserClient
from coinbase.websocket.types.websocket_response import WebsocketResponse

from simulator.app import RunningSimulator, start_simulator
from simulator.keys import TestKey
from tests.integration.simulator.conftest import Inbox, call, sim_config

D = Decimal


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(sim_config(tmp_path_factory.mktemp("sim"),
                                               maker_fill_notional_per_tick=D("500")))
    try:
        yield running
    finally:
        await running.stop()


def has(channel: str, n: int = 1):  # type: ignore[no-untyped-def]
    return lambda msgs: sum(1 for m in msgs if m.get("channel") == channel) >= n


async def test_ticker_heartbeats_level2_parse_in_sdk(sim: RunningSimulator, key: TestKey) -> None:
    inbox = Inbox()
    ws = WSClient(api_key=key.name, api_secret=key.private_pem, base_url=sim.ws_market_url, on_message=inbox,
                  retry=False)
    await call(ws.open)
    try:
        await call(ws.subscribe, ["BTC-USD", "ETH-USD"], ["ticker", "heartbeats", "level2"])
        await inbox.wait_for(has("l2_data", 2))
        sim.set_price("BTC-USD", D("61234.56"))
        await inbox.wait_for(lambda ms: any(
            m["channel"] == "ticker" and m["events"][0]["tickers"][0]["price"] == "61234.56" for m in ms))
        await inbox.wait_for(has("heartbeats", 1), timeout=3)
        await sim.step(2)
        await inbox.wait_for(has("ticker", 5))
    finally:
        await call(ws.close)
    msgs = inbox.messages()
    for raw in inbox.frames:
        WebsocketResponse(json.loads(raw))  # every frame parses with the SDK's strict envelope parser
    assert [m["sequence_num"] for m in msgs] == list(range(len(msgs)))
    acks = inbox.channel("subscriptions")
    assert acks[-1]["events"][0]["subscriptions"] == {
        "ticker": ["BTC-USD", "ETH-USD"], "heartbeats": ["heartbeats"], "level2": ["BTC-USD", "ETH-USD"]}
    ticker = inbox.channel("ticker")
    assert ticker[0]["events"][0]["type"] == "snapshot" and ticker[-1]["events"][0]["type"] == "update"
    t = ticker[0]["events"][0]["tickers"][0]
    assert {"best_bid", "best_ask", "volume_24_h", "price_percent_chg_24_h", "low_52_w"} <= set(t)
    l2 = inbox.channel("l2_data")
    snapshot = l2[0]["events"][0]
    assert snapshot["type"] == "snapshot" and {u["side"] for u in snapshot["updates"]} == {"bid", "offer"}
    updates = [m for m in l2 if m["events"][0]["type"] == "update"]
    assert updates and all("new_quantity" in u for m in updates for u in m["events"][0]["updates"])
    beat = inbox.channel("heartbeats")[0]["events"][0]
    assert isinstance(beat["heartbeat_counter"], int) and " +0000 UTC m=+" in beat["current_time"]


async def test_user_channel_snapshot_then_cumulative_updates(sim: RunningSimulator, key: TestKey,
                                                             client: RESTClient) -> None:
    resting = await call(client.limit_order_gtc_buy, uuid.uuid4().hex, "ETH-USD", base_size="0.01",
                         limit_price="2000.00")
    inbox = Inbox()
    ws = WSUserClient(api_key=key.name, api_secret=key.private_pem, base_url=sim.ws_user_url, on_message=inbox,
                      retry=False)
    await call(ws.open)
    try:
        await call(ws.subscribe, [], ["heartbeats", "user"])
        await inbox.wait_for(has("user", 1))
        snapshot = inbox.channel("user")[0]["events"][0]
        assert snapshot["type"] == "snapshot" and len(snapshot["orders"]) < 50
        assert resting.success_response["order_id"] in [o["order_id"] for o in snapshot["orders"]]
        assert snapshot["positions"] == {"perpetual_futures_positions": [], "expiring_futures_positions": []}
        created = await call(client.market_order_buy, uuid.uuid4().hex, "ETH-USD", quote_size="30")
        oid = created.success_response["order_id"]

        def states(ms):  # type: ignore[no-untyped-def]
            return [o["status"] for m in ms if m["channel"] == "user" for e in m["events"] if e["type"] == "update"
                    for o in e["orders"] if o["order_id"] == oid]

        await inbox.wait_for(lambda ms: "FILLED" in states(ms))
        assert states(inbox.messages()) == ["PENDING", "FILLED"]
        final = [o for m in inbox.channel("user") for e in m["events"] for o in e["orders"]
                 if o["order_id"] == oid][-1]
        assert final["order_type"] == "Market" and final["order_side"] == "BUY" and final["leaves_quantity"] == "0"
        assert D(final["cumulative_quantity"]) > 0 and D(final["total_value_after_fees"]) == D("30")
        assert final["post_only"] == "false" and final["end_time"] == "0001-01-01T00:00:00Z"
        # A partial fill of the resting order shows as an OPEN update with growing cumulative_quantity.
        await call(client.cancel_orders, [resting.success_response["order_id"]])
        await inbox.wait_for(lambda ms: any(o.get("status") == "CANCELLED" for m in ms if m["channel"] == "user"
                                            for e in m["events"] for o in e["orders"]))
    finally:
        await call(ws.close)
    assert all(m["channel"] in ("user", "subscriptions", "heartbeats") for m in inbox.messages())
    for raw in inbox.frames:
        WebsocketResponse(json.loads(raw))


async def test_user_channel_needs_a_valid_jwt(sim: RunningSimulator) -> None:
    async with websockets.connect(sim.ws_user_url) as conn:
        await conn.send(json.dumps({"type": "subscribe", "channel": "user", "product_ids": []}))
        assert json.loads(await conn.recv()) == {"type": "error", "message": "authentication failure"}
        await conn.send(json.dumps({"type": "subscribe", "channel": "user", "product_ids": [], "jwt": "x.y.z"}))
        assert json.loads(await conn.recv()) == {"type": "error", "message": "authentication failure"}


async def test_resting_limit_partial_fills_on_user_channel(sim: RunningSimulator, key: TestKey,
                                                           client: RESTClient) -> None:
    sim.set_price("SOL-USD", D("150.00"))
    inbox = Inbox()
    ws = WSUserClient(api_key=key.name, api_secret=key.private_pem, base_url=sim.ws_user_url, on_message=inbox,
                      retry=False)
    await call(ws.open)
    try:
        await call(ws.user, ["SOL-USD"])
        await inbox.wait_for(has("user", 1))
        # 10 SOL at 149 = 1,490 USD; this module's market supplies 500 USD of maker liquidity per move.
        big = await call(client.limit_order_gtc_buy, uuid.uuid4().hex, "SOL-USD", base_size="10", limit_price="149.00")
        oid = big.success_response["order_id"]
        for price in ("148.00", "147.50", "148.50"):
            sim.set_price("SOL-USD", D(price))

        def updates(ms):  # type: ignore[no-untyped-def]
            return [o for m in ms if m["channel"] == "user" for e in m["events"] if e["type"] == "update"
                    for o in e["orders"] if o["order_id"] == oid]

        await inbox.wait_for(lambda ms: any(o["status"] == "FILLED" for o in updates(ms)))
    finally:
        await call(ws.close)
    seen = [(o["status"], o["cumulative_quantity"], o["leaves_quantity"]) for o in updates(inbox.messages())]
    assert seen == [("PENDING", "0", "10"), ("OPEN", "0", "10"), ("OPEN", "3.35570469", "6.64429531"),
                    ("OPEN", "6.71140938", "3.28859062"), ("FILLED", "10", "0")]
    fills = await call(client.get_fills, order_ids=[oid])
    assert len(fills.fills) == 3 and all(f.liquidity_indicator == "MAKER" for f in fills.fills)
    assert all(D(f.commission) == D(f.price) * D(f.size) * D("0.006") for f in fills.fills)

"""Injected faults, as the SDK (and a raw websockets client) see them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests
import websockets
from coinbase.rest import RESTClient
from coinbase.websocket import WSClient, WSClientException

from simulator.app import RunningSimulator
from simulator.keys import TestKey
from tests.integration.simulator.conftest import Inbox, call, rest_client

D = Decimal


@pytest.fixture(autouse=True)
def no_faults_left(sim: RunningSimulator) -> Iterator[None]:
    yield
    sim.faults.clear()


async def test_429_json_and_html_with_rate_headers(sim: RunningSimulator, client: RESTClient) -> None:
    sim.faults.add("http_429", count=1, body="html")
    sim.faults.add("http_429", count=1)
    with pytest.raises(requests.HTTPError) as html:
        await call(client.get_accounts)
    assert html.value.response.status_code == 429 and "<html>" in html.value.response.text
    assert html.value.response.headers["x-ratelimit-remaining"] == "0"
    with pytest.raises(requests.HTTPError) as js:
        await call(client.get_accounts)
    assert js.value.response.json()["error"] == "RESOURCE_EXHAUSTED"
    assert (await call(client.get_accounts)).accounts  # both rules used up


async def test_5xx_and_random_401(sim: RunningSimulator, client: RESTClient) -> None:
    sim.faults.add("http_5xx", count=1, status=503, body="html", path="/products/*")
    with pytest.raises(requests.HTTPError) as err:
        await call(client.get_product, "BTC-USD")
    assert err.value.response.status_code == 503
    sim.faults.add("http_401", count=1)
    with pytest.raises(requests.HTTPError) as unauth:
        await call(client.get_accounts)
    assert unauth.value.response.status_code == 401 and unauth.value.response.text == "Unauthorized\n"
    assert (await call(client.get_accounts)).accounts


async def test_slow_create_that_was_processed_is_idempotent_on_retry(sim: RunningSimulator, key: TestKey) -> None:
    impatient = rest_client(sim, key, timeout=0.5)
    coid = uuid.uuid4().hex
    sim.faults.add("slow", count=1, path="/orders", method="POST", delay_s=1.5, process=True)
    with pytest.raises(requests.exceptions.Timeout):
        await call(impatient.market_order_buy, coid, "BTC-USD", quote_size="10")
    existing = sim.engine.order_by_client_id(coid)
    assert existing is not None and existing.status == "FILLED"
    retry = await call(impatient.market_order_buy, coid, "BTC-USD", quote_size="10")
    assert retry.success and retry.success_response["order_id"] == existing.order_id
    assert sum(1 for o in sim.engine.orders.values() if o.client_order_id == coid) == 1


async def test_slow_create_that_was_not_processed(sim: RunningSimulator, key: TestKey) -> None:
    impatient = rest_client(sim, key, timeout=0.5)
    coid = uuid.uuid4().hex
    sim.faults.add("slow", count=1, path="/orders", method="POST", delay_s=1.0, process=False)
    with pytest.raises(requests.exceptions.Timeout):
        await call(impatient.market_order_buy, coid, "BTC-USD", quote_size="10")
    assert sim.engine.order_by_client_id(coid) is None
    retry = await call(impatient.market_order_buy, coid, "BTC-USD", quote_size="10")
    assert retry.success and sim.engine.order_by_client_id(coid) is not None


async def test_connection_reset_after_processing(sim: RunningSimulator, client: RESTClient) -> None:
    coid = uuid.uuid4().hex
    sim.faults.add("reset", count=1, path="/orders", method="POST", process=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        await call(client.market_order_buy, coid, "BTC-USD", quote_size="10")
    assert sim.engine.order_by_client_id(coid) is not None


async def test_fills_lag_behind_order_status(sim: RunningSimulator, client: RESTClient) -> None:
    sim.faults.add("fills_lag", count=1, lag_s=30)
    created = await call(client.market_order_buy, uuid.uuid4().hex, "ETH-USD", quote_size="10")
    oid = created.success_response["order_id"]
    assert (await call(client.get_order, oid)).order.status == "FILLED"
    assert (await call(client.get_fills, order_ids=[oid])).fills == []
    sim.clock.advance(31)
    assert len((await call(client.get_fills, order_ids=[oid])).fills) == 1


async def test_forced_rejection_and_failed_order(sim: RunningSimulator, client: RESTClient) -> None:
    sim.faults.add("create_reject", count=1, error="UNKNOWN_FAILURE_REASON",
                   preview_failure_reason="PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY")
    resp = await call(client.limit_order_gtc_buy, uuid.uuid4().hex, "BTC-USD", base_size="0.001",
                      limit_price="1000.00", post_only=True)
    assert resp.success is False and resp.error_response["error"] == "UNKNOWN_FAILURE_REASON"
    assert resp.error_response["preview_failure_reason"] == "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY"
    sim.faults.add("create_fail", count=1)
    failed = await call(client.limit_order_gtc_buy, uuid.uuid4().hex, "BTC-USD", base_size="0.001",
                        limit_price="1000.00")
    order = (await call(client.get_order, failed.success_response["order_id"])).order
    assert order.status == "FAILED" and order.reject_reason == "HOLD_FAILURE"
    sim.faults.add("create_stuck_pending", count=1)
    stuck = await call(client.limit_order_gtc_buy, uuid.uuid4().hex, "BTC-USD", base_size="0.001",
                       limit_price="1000.00")
    oid = stuck.success_response["order_id"]
    assert (await call(client.get_order, oid)).order.status == "PENDING"
    open_listing = await call(client.list_orders, order_status=["OPEN"])
    assert oid not in [o.order_id for o in open_listing.orders]  # OPEN excludes PENDING
    pending_listing = await call(client.list_orders, order_status=["PENDING"])
    assert oid in [o.order_id for o in pending_listing.orders]
    await call(client.cancel_orders, [oid])


async def test_sdk_reconnects_after_1011_but_not_after_1000(sim: RunningSimulator, key: TestKey) -> None:
    inbox = Inbox()
    ws = WSClient(api_key=key.name, api_secret=key.private_pem, base_url=sim.ws_market_url, on_message=inbox)
    await call(ws.open)
    try:
        await call(ws.subscribe, ["BTC-USD"], ["heartbeats"])
        await inbox.wait_for(lambda ms: len(ms) >= 1)
        sim.faults.add("ws_close", count=1, code=1011, reason="internal error")
        sim.set_price("BTC-USD", D("60100"))  # no ticker subscription: heartbeats drive the next send
        await inbox.wait_for(lambda ms: sum(1 for m in ms if m["channel"] == "subscriptions") >= 2, timeout=8)
        resubscribed = [m for m in inbox.messages() if m["channel"] == "subscriptions"][-1]
        assert resubscribed["sequence_num"] == 0  # a new connection: sequence restarts
        sim.faults.add("ws_close", count=1, code=1000)
        await asyncio.sleep(2.5)
        count = len(inbox.frames)
        await asyncio.sleep(1.5)
        assert len(inbox.frames) == count  # 1000: the SDK's stream ended silently, no reconnect
    finally:
        with contextlib.suppress(WSClientException):  # already closed by the server
            await call(ws.close)


async def _raw_subscribe(sim: RunningSimulator, channels: list[str],
                         path: str = "") -> websockets.WebSocketClientProtocol:
    conn = await websockets.connect(sim.ws_market_url + path)
    for ch in channels:
        await conn.send(json.dumps({"type": "subscribe", "channel": ch, "product_ids": ["BTC-USD"]}))
    return conn


async def _collect(conn: websockets.WebSocketClientProtocol, seconds: float) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            out.append(json.loads(await asyncio.wait_for(conn.recv(), left)))
        except TimeoutError:
            break
    return out


async def test_heartbeat_stall_skip_seq_and_error_frames(sim: RunningSimulator) -> None:
    conn = await _raw_subscribe(sim, ["heartbeats", "ticker"])
    try:
        before = [m for m in await _collect(conn, 0.3) if "channel" in m]
        sim.faults.add("ws_stall_heartbeats", for_s=2.5)
        sim.faults.add("ws_skip_seq", count=1, skip=3)
        sim.faults.add("ws_error_frame", count=1)
        sim.set_price("BTC-USD", D("60200"))
        msgs = await _collect(conn, 2.0)
        assert {"type": "error", "message": "authentication failure"} in msgs
        enveloped = [m for m in msgs if "channel" in m]
        assert not [m for m in enveloped if m["channel"] == "heartbeats"]  # stalled, socket open
        assert [m for m in enveloped if m["channel"] == "ticker"]
        sim.faults.clear()
        sim.set_price("BTC-USD", D("60300"))
        more = [m for m in await _collect(conn, 1.5) if "channel" in m]
        seqs = [int(m["sequence_num"]) for m in before + enveloped + more]  # type: ignore[call-overload]
        gaps = [b - a for a, b in itertools.pairwise(seqs)]
        assert 4 in gaps and all(g >= 1 for g in gaps)
        assert any(m["channel"] == "heartbeats" for m in more)
    finally:
        await conn.close()


async def test_no_subscribe_within_deadline_closes(sim: RunningSimulator) -> None:
    sim.ctx.config.ws_subscribe_deadline_s = 0.3
    try:
        conn = await websockets.connect(sim.ws_market_url)
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(conn.recv(), 3)
    finally:
        sim.ctx.config.ws_subscribe_deadline_s = 5.0


async def test_abrupt_drop_and_omitted_client_id(sim: RunningSimulator) -> None:
    conn = await _raw_subscribe(sim, ["ticker"])
    try:
        await _collect(conn, 0.2)
        sim.faults.add("ws_omit_client_id", count=1)
        sim.set_price("BTC-USD", D("60400"))
        msgs = await _collect(conn, 0.5)
        assert msgs and "client_id" not in msgs[0]
        sim.faults.add("ws_drop", count=1)
        sim.set_price("BTC-USD", D("60500"))
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            await asyncio.wait_for(conn.recv(), 3)
        assert closed.value.rcvd is None  # no close frame: an abrupt drop
    finally:
        await conn.close()


async def test_admin_endpoints(sim: RunningSimulator, client: RESTClient) -> None:
    admin = requests.Session()
    admin.trust_env = False
    admin.verify = str(sim.ca_file)
    resp = await call(admin.post, f"{sim.admin_url}/faults", json={"kind": "http_5xx", "count": 1,
                                                                      "params": {"status": 502}}, timeout=5)
    assert resp.status_code == 200 and resp.json()["rule"]["kind"] == "http_5xx"
    listing = await call(admin.get, f"{sim.admin_url}/faults", timeout=5)
    assert listing.json()["rules"][0]["count"] == 1 and "ws_close" in listing.json()["kinds"]
    with pytest.raises(requests.HTTPError) as err:
        await call(client.get_accounts)
    assert err.value.response.status_code == 502
    bad = await call(admin.post, f"{sim.admin_url}/faults", json={"kind": "nope"}, timeout=5)
    assert bad.status_code == 400
    moved = await call(admin.post, f"{sim.admin_url}/price", json={"product_id": "ETH-USD", "price": "3210.50"},
                       timeout=5)
    assert moved.json()["price"] == "3210.50" and sim.engine.markets["ETH-USD"].price == D("3210.50")
    flags = await call(admin.post, f"{sim.admin_url}/product", json={"product_id": "ETH-USD", "limit_only": True},
                       timeout=5)
    assert flags.json()["flags"]["limit_only"] is True
    refused = await call(client.market_order_buy, uuid.uuid4().hex, "ETH-USD", quote_size="10")
    assert refused.success is False and refused.error_response["error"] == "ORDER_ENTRY_DISABLED"
    sim.set_product_flags("ETH-USD", limit_only=False)
    stepped = await call(admin.post, f"{sim.admin_url}/step", json={"n": 3}, timeout=5)
    assert stepped.json()["ticks"] >= 3
    cleared = await call(admin.delete, f"{sim.admin_url}/faults", timeout=5)
    assert cleared.status_code == 200


async def test_cancel_queued_can_still_fill_and_corrections(sim: RunningSimulator, client: RESTClient) -> None:
    sim.set_price("DOGE-USD", D("0.15000"))
    created = await call(client.limit_order_gtc_buy, uuid.uuid4().hex, "DOGE-USD", base_size="100",
                         limit_price="0.14900")
    oid = created.success_response["order_id"]
    sim.faults.add("cancel_delay", count=1, delay_s=60)
    requested = await call(client.cancel_orders, [oid])
    assert requested.results[0].success is True
    order = (await call(client.get_order, oid)).order
    assert order.status == "CANCEL_QUEUED" and order.pending_cancel is True
    sim.set_price("DOGE-USD", D("0.14800"))  # trades through while the cancel is queued
    order = (await call(client.get_order, oid)).order
    assert order.status == "FILLED" and order.pending_cancel is False
    trade_id = (await call(client.get_fills, order_ids=[oid])).fills[0].trade_id
    correction = sim.add_fill_correction(trade_id, "REVERSAL")
    fills = (await call(client.get_fills, order_ids=[oid])).fills
    assert {f.trade_type for f in fills} == {"FILL", "REVERSAL"} and correction["order_id"] == oid


async def test_odd_but_valid_create_payload(sim: RunningSimulator, client: RESTClient) -> None:
    sim.faults.add("create_odd_payload", count=1)
    resp = await call(client.market_order_buy, uuid.uuid4().hex, "BTC-USD", quote_size="5")
    assert resp.success is True and resp.success_response["order_id"]
    assert resp["order_id"] is None and resp["failure_reason"] is None


async def test_replayed_minimal_user_updates_heartbeat_gap_and_unknown_messages(
        sim: RunningSimulator, key: TestKey, client: RESTClient) -> None:
    from coinbase import jwt_generator

    async with websockets.connect(sim.ws_user_url) as conn:
        for channel in ("heartbeats", "user"):
            await conn.send(json.dumps({"type": "subscribe", "channel": channel, "product_ids": [],
                                        "jwt": jwt_generator.build_ws_jwt(key.name, key.private_pem)}))
        first = await _collect(conn, 1.3)
        sim.faults.add("ws_replay", count=1, path="/ws/user")
        sim.faults.add("ws_minimal_user", for_s=5)
        sim.faults.add("ws_heartbeat_gap", count=1, skip=2)
        sim.faults.add("ws_unknown_message", count=1)
        created = await call(client.market_order_buy, uuid.uuid4().hex, "ETH-USD", quote_size="10")
        msgs = await _collect(conn, 1.3)
    oid = created.success_response["order_id"]
    updates = [o for m in msgs if m.get("channel") == "user" for e in m["events"]  # type: ignore[attr-defined]
               for o in e["orders"] if o["order_id"] == oid]
    assert [u["status"] for u in updates] == ["PENDING", "PENDING", "FILLED"]  # the first update replayed
    assert all("limit_price" not in u and "reject_Reason" in u for u in updates)
    assert any(m.get("channel") == "futures_news" for m in msgs)
    beats = [m["events"][0]["heartbeat_counter"] for m in first + msgs  # type: ignore[index]
             if m.get("channel") == "heartbeats"]
    assert any(b - a == 3 for a, b in itertools.pairwise(beats))


async def test_refused_handshakes_stall_all_and_idle_close(sim: RunningSimulator) -> None:
    sim.faults.add("ws_refuse", count=1)
    with pytest.raises(websockets.InvalidStatusCode) as refused:
        await websockets.connect(sim.ws_market_url)
    assert refused.value.status_code == 429
    conn = await _raw_subscribe(sim, ["ticker"])
    try:
        await _collect(conn, 0.2)
        sim.faults.add("ws_stall_all", for_s=1.0)
        sim.set_price("BTC-USD", D("60600"))
        assert await _collect(conn, 0.5) == []  # nothing at all while stalled, socket open
        sim.ctx.config.ws_idle_close_s = 0.5
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(conn.recv(), 4)  # no heartbeats subscription → idle close
    finally:
        sim.ctx.config.ws_idle_close_s = None
        await conn.close()

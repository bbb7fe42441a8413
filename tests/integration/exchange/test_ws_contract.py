"""WsFeed (via build_feed) against the simulator's WebSocket, with each WebSocket fault it can inject:
no crash, reconnect + resubscribe, and the reconcile signal after every reconnect and gap."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any, Literal

import pytest

from core.enums import OrderStatus, Side
from exchange.coinbase.clients import build_feed
from exchange.coinbase.config import CoinbaseConfig
from exchange.coinbase.rest import CoinbaseRestAdapter
from exchange.coinbase.ws_feed import WsFeed
from exchange.coinbase.ws_protocol import (
    Heartbeat,
    Subscriptions,
    Ticker,
    UserOrderUpdate,
    UserSnapshotBatch,
    WsEvent,
)
from exchange.models import OrderKind, OrderRequest
from simulator.app import RunningSimulator
from tests.integration.exchange.helpers import metric, wait_until


class Recorder:
    def __init__(self) -> None:
        self.events: list[WsEvent] = []
        self.reconciles: list[str] = []
        self.outages: list[float] = []

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def acks(rec: Recorder, channel: str) -> int:
    return sum(1 for s in rec.of(Subscriptions) if channel in s.subscriptions)


@contextlib.asynccontextmanager
async def running_feed(config: CoinbaseConfig, feed: Literal["market", "user"],
                       channels: list[str], products: list[str]) -> AsyncIterator[tuple[WsFeed, Recorder]]:
    rec = Recorder()
    stop = asyncio.Event()
    ws = build_feed(config, feed, channels, products, rec.events.append, stop,
                    on_reconcile=rec.reconciles.append, on_outage=rec.outages.append)
    task = asyncio.create_task(ws.run())
    try:
        await wait_until(lambda: acks(rec, channels[0]) >= 1)  # subscribed (faster than the first heartbeat)
        yield ws, rec
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def pump_until(sim: RunningSimulator, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Move BTC-USD back and forth (each move is a ticker message) until predicate holds: faults
    fire on the next message, so this makes them fire without waiting for a heartbeat."""

    async def pump() -> None:
        step = 0
        while not predicate():
            step += 1
            sim.set_price("BTC-USD", Decimal(60000 + step % 7))
            await asyncio.sleep(0.03)

    await asyncio.wait_for(pump(), timeout)


def limit_buy(price: str) -> OrderRequest:
    return OrderRequest(f"ws-{uuid.uuid4().hex}", "BTC-USD", Side.BUY, OrderKind.LIMIT_GTC,
                        base_size=Decimal("0.001"), limit_price=Decimal(price), post_only=True)


async def test_market_feed_streams_heartbeats_and_tickers(cb_config: CoinbaseConfig, sim: RunningSimulator) -> None:
    async with running_feed(cb_config, "market", ["ticker"], ["BTC-USD"]) as (feed, rec):
        assert rec.reconciles == ["connect"] and feed.reconcile_needed.is_set()
        sim.set_price("BTC-USD", Decimal("60100"))
        await wait_until(lambda: any(t.price == Decimal("60100") for t in rec.of(Ticker)))
        await wait_until(lambda: len(rec.of(Heartbeat)) >= 2)
        ticker = next(t for t in rec.of(Ticker) if t.price == Decimal("60100"))
        assert ticker.product_id == "BTC-USD" and ticker.time is not None
        assert feed.last_message_at is not None and feed.handler_errors == 0 and feed.gaps == 0
        assert metric("bt_ws_connected", feed="market") == 1
    assert metric("bt_ws_connected", feed="market") == 0


async def test_user_feed_snapshot_and_order_updates(cb_config: CoinbaseConfig, sim: RunningSimulator,
                                                    adapter: CoinbaseRestAdapter) -> None:
    async with running_feed(cb_config, "user", ["user"], []) as (feed, rec):
        await wait_until(lambda: any(b.complete for b in rec.of(UserSnapshotBatch)))
        result = await adapter.create_order(limit_buy("50500"))
        assert result.order_id
        await wait_until(lambda: any(u.order_id == result.order_id and u.status is OrderStatus.OPEN
                                     for u in rec.of(UserOrderUpdate)))
        update = next(u for u in rec.of(UserOrderUpdate) if u.order_id == result.order_id)
        assert update.client_order_id == result.client_order_id and update.side is Side.BUY
        assert update.order_type == "LIMIT" and update.product_id == "BTC-USD"
        await adapter.cancel_orders([result.order_id])
        await wait_until(lambda: any(u.order_id == result.order_id and u.status is OrderStatus.CANCELLED
                                     for u in rec.of(UserOrderUpdate)))
        assert feed.handler_errors == 0


@pytest.mark.parametrize(("code", "cause"), [(1000, "close_1000"), (1001, "close_1001"), (1011, "close_1011")])
async def test_server_close_codes_reconnect_and_reconcile(code: int, cause: str, cb_config: CoinbaseConfig,
                                                          sim: RunningSimulator) -> None:
    before = metric("bt_ws_reconnects_total", feed="market", cause=cause)
    async with running_feed(cb_config, "market", ["ticker"], ["BTC-USD"]) as (feed, rec):
        feed.reconcile_needed.clear()
        sim.faults.add("ws_close", count=1, path="/ws", code=code)
        await pump_until(sim, lambda: feed.connects >= 2 and acks(rec, "ticker") >= 2)  # resubscribed
        assert rec.reconciles[-1] == "reconnect" and feed.reconcile_needed.is_set()
        tickers = len(rec.of(Ticker))
        await pump_until(sim, lambda: len(rec.of(Ticker)) > tickers)  # data flows on the new connection
    assert metric("bt_ws_reconnects_total", feed="market", cause=cause) == before + 1


async def test_abrupt_drop_reconnects(cb_config: CoinbaseConfig, sim: RunningSimulator,
                                      adapter: CoinbaseRestAdapter) -> None:
    before = metric("bt_ws_reconnects_total", feed="user", cause="abnormal")
    async with running_feed(cb_config, "user", ["user"], []) as (feed, rec):
        await wait_until(lambda: len(rec.of(UserSnapshotBatch)) >= 1)
        sim.faults.add("ws_drop", count=1, path="/ws/user")
        result = await adapter.create_order(limit_buy("50800"))  # its user update is the dropped message
        assert result.order_id
        await wait_until(lambda: feed.connects >= 2 and len(rec.of(UserSnapshotBatch)) >= 2)  # fresh snapshot
        assert "reconnect" in rec.reconciles
        snapshot = rec.of(UserSnapshotBatch)[-1]
        assert result.order_id in {o.order_id for o in snapshot.orders}  # the missed order shows up there
        await adapter.cancel_orders([result.order_id])
    assert metric("bt_ws_reconnects_total", feed="user", cause="abnormal") == before + 1


@pytest.mark.parametrize("kind", ["ws_stall_heartbeats", "ws_stall_all"])
async def test_stalls_are_torn_down_by_the_watchdog(kind: str, cb_config: CoinbaseConfig,
                                                    sim: RunningSimulator) -> None:
    before = metric("bt_ws_reconnects_total", feed="market", cause="stall")
    quick = dataclasses.replace(cb_config, ws_heartbeat_timeout_s=1.6)  # heartbeats come every 1 s
    async with running_feed(quick, "market", ["ticker"], ["BTC-USD"]) as (feed, rec):
        sim.faults.add(kind, path="/ws")  # until cleared: the socket stays open but goes quiet
        await wait_until(lambda: metric("bt_ws_reconnects_total", feed="market", cause="stall") > before)
        sim.faults.clear()
        # The jittered backoff may reconnect within milliseconds, while the fault still held: under ws_stall_all
        # the server then swallowed that connection's subscription answers (a connection counted now sent its
        # subscribe before the clear). Its heartbeats, which flow only to a subscribed connection, show it then.
        raced = feed.connects >= 2
        await wait_until(lambda: feed.connects >= 2 and feed.connected and (raced or acks(rec, "ticker") >= 2))
        assert rec.reconciles.count("reconnect") >= 1


async def test_skipped_sequence_numbers_signal_a_gap(cb_config: CoinbaseConfig, sim: RunningSimulator) -> None:
    before = metric("bt_ws_sequence_gaps_total", feed="market")
    async with running_feed(cb_config, "market", ["ticker"], ["BTC-USD"]) as (feed, rec):
        feed.reconcile_needed.clear()
        sim.faults.add("ws_skip_seq", count=1, path="/ws", skip=2)
        await pump_until(sim, lambda: feed.gaps >= 1)
        assert "sequence_gap" in rec.reconciles and feed.reconcile_needed.is_set()
        assert feed.connects == 1  # a gap is repaired by reconciling, not by dropping the connection
    assert metric("bt_ws_sequence_gaps_total", feed="market") >= before + 1


async def test_heartbeat_counter_jump_signals_a_gap(cb_config: CoinbaseConfig, sim: RunningSimulator) -> None:
    async with running_feed(cb_config, "market", ["ticker"], ["BTC-USD"]) as (feed, rec):
        await wait_until(lambda: len(rec.of(Heartbeat)) >= 1)
        sim.faults.add("ws_heartbeat_gap", count=1, path="/ws", skip=3)
        await wait_until(lambda: "heartbeat_gap" in rec.reconciles)
        assert feed.gaps >= 1


async def test_replayed_user_updates_are_delivered_once(cb_config: CoinbaseConfig, sim: RunningSimulator,
                                                        adapter: CoinbaseRestAdapter) -> None:
    async with running_feed(cb_config, "user", ["user"], []) as (feed, rec):
        await wait_until(lambda: any(b.complete for b in rec.of(UserSnapshotBatch)))
        sim.faults.add("ws_replay", path="/ws/user")
        result = await adapter.create_order(limit_buy("50600"))
        assert result.order_id
        await adapter.cancel_orders([result.order_id])
        await wait_until(lambda: any(u.order_id == result.order_id and u.status is OrderStatus.CANCELLED
                                     for u in rec.of(UserOrderUpdate)))
        states = [(u.cumulative_quantity, u.status) for u in rec.of(UserOrderUpdate) if u.order_id == result.order_id]
        assert len(states) == len(set(states))
        assert feed.duplicates_dropped >= 1


async def test_odd_frames_do_not_disturb_the_feed(cb_config: CoinbaseConfig, sim: RunningSimulator) -> None:
    async with running_feed(cb_config, "market", ["ticker"], ["BTC-USD"]) as (feed, rec):
        rules = [sim.faults.add(kind, count=2, path="/ws")
                 for kind in ("ws_omit_client_id", "ws_error_frame", "ws_unknown_message")]
        await pump_until(sim, lambda: all(r.fired == 2 for r in rules))
        tickers = len(rec.of(Ticker))
        await pump_until(sim, lambda: len(rec.of(Ticker)) > tickers)  # still alive and delivering
        assert feed.connects == 1 and feed.handler_errors == 0 and feed.gaps == 0


async def test_minimal_user_payloads_parse(cb_config: CoinbaseConfig, sim: RunningSimulator,
                                           adapter: CoinbaseRestAdapter) -> None:
    async with running_feed(cb_config, "user", ["user"], []) as (feed, rec):
        await wait_until(lambda: any(b.complete for b in rec.of(UserSnapshotBatch)))
        sim.faults.add("ws_minimal_user", path="/ws/user")
        result = await adapter.create_order(limit_buy("50700"))
        assert result.order_id
        await wait_until(lambda: any(u.order_id == result.order_id for u in rec.of(UserOrderUpdate)))
        await adapter.cancel_orders([result.order_id])
        assert feed.handler_errors == 0


async def test_refused_handshakes_back_off_and_keep_alerting(cb_config: CoinbaseConfig,
                                                             sim: RunningSimulator) -> None:
    async with running_feed(cb_config, "market", ["ticker"], ["BTC-USD"]) as (feed, rec):
        sim.faults.add("ws_refuse", path="/ws")
        sim.faults.add("ws_close", count=1, path="/ws", code=1001)
        await pump_until(sim, lambda: feed.connects == 1 and feed.reconnects >= 1)
        await wait_until(lambda: len(rec.outages) >= 2)  # one outage, alerted again and again
        assert not feed.connected and rec.outages == sorted(rec.outages)
        sim.faults.clear()
        await wait_until(lambda: feed.connects >= 2)
        assert rec.reconciles[-1] == "reconnect"
    assert metric("bt_ws_reconnects_total", feed="market", cause="connect_error") >= 1


async def test_handler_exceptions_do_not_stop_delivery(cb_config: CoinbaseConfig, sim: RunningSimulator) -> None:
    seen: list[WsEvent] = []

    def explode(event: WsEvent) -> None:
        seen.append(event)
        raise RuntimeError("handler bug")

    stop = asyncio.Event()
    feed = build_feed(cb_config, "market", ["ticker"], ["BTC-USD"], explode, stop)
    task = asyncio.create_task(feed.run())
    try:
        await pump_until(sim, lambda: len([e for e in seen if isinstance(e, Ticker)]) >= 3)
        assert feed.handler_errors >= 3 and feed.connects == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def test_wss_verifies_the_simulator_certificate(cb_config: CoinbaseConfig, sim: RunningSimulator) -> None:
    tls = dataclasses.replace(cb_config, ws_market_url=sim.wss_market_url)
    async with running_feed(tls, "market", ["ticker"], ["BTC-USD"]) as (feed, _rec):
        assert feed.connects == 1
    untrusted = dataclasses.replace(tls, ca_file=None)  # system trust store: the self-signed CA is refused
    rec = Recorder()
    stop = asyncio.Event()
    ws = build_feed(untrusted, "market", ["ticker"], ["BTC-USD"], rec.events.append, stop)
    task = asyncio.create_task(ws.run())
    try:
        await wait_until(lambda: ws.reconnects >= 1)
        assert ws.connects == 0 and not rec.events
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def test_user_snapshot_arrives_in_batches_of_50(cb_config: CoinbaseConfig, sim: RunningSimulator,
                                                      adapter: CoinbaseRestAdapter) -> None:
    ids = []
    for i in range(55):
        r = await adapter.create_order(limit_buy(str(30000 + i)))
        assert r.order_id
        ids.append(r.order_id)
    try:
        async with running_feed(cb_config, "user", ["user"], []) as (_feed, rec):
            await wait_until(lambda: any(b.complete for b in rec.of(UserSnapshotBatch)))
            batches = rec.of(UserSnapshotBatch)
            assert [len(b.orders) for b in batches[:-1]] == [50] * (len(batches) - 1) and len(batches) >= 2
            assert batches[-1].complete and len(batches[-1].orders) < 50
            assert not any(b.complete for b in batches[:-1])
            assert set(ids) <= {o.order_id for b in batches for o in b.orders}
    finally:
        await adapter.cancel_orders(ids)


async def test_a_feed_stopped_while_connecting_ends_at_once(cb_config: CoinbaseConfig, sim: RunningSimulator) -> None:
    # Stopped before its watchdog ever ran (a daemon interrupted right after start): the session that
    # connects afterwards must not read on forever (the daemon then sat out its whole shutdown grace).
    stop = asyncio.Event()
    rec = Recorder()
    feed = build_feed(cb_config, "market", ["ticker"], ["BTC-USD"], rec.events.append, stop)
    task = asyncio.create_task(feed.run())
    await asyncio.sleep(0)  # run() is connecting; its watchdog has not started yet
    stop.set()
    await asyncio.wait_for(task, 10)  # a generous bound: without the fix it never ends
    assert feed.connects == 0 and rec.events == []

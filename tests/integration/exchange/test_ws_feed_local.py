"""WsFeed against a scripted local WebSocket server: reconnects, watchdog, gaps, bad handlers, outages."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from exchange.coinbase.ws_feed import WsFeed
from exchange.coinbase.ws_protocol import Heartbeat, Ticker, WsEvent
from tests.integration.exchange.helpers import metric, wait_until
from tests.integration.exchange.scripted_ws import Script, ScriptedServer, unused_port


class Harness:
    def __init__(self, url: str, **kw: Any) -> None:
        self.events: list[WsEvent] = []
        self.reconciles: list[str] = []
        self.outages: list[float] = []
        self.stop = asyncio.Event()
        self.jwts = 0

        def jwt() -> str:
            self.jwts += 1
            return f"jwt-{self.jwts}"

        opts: dict[str, Any] = {"jwt_factory": jwt, "heartbeat_timeout_s": 0.4, "backoff_base_s": 0.01,
                                "backoff_max_s": 0.05, "open_timeout_s": 2.0, "outage_alert_interval_s": 0.1,
                                "on_reconcile": self.reconciles.append, "on_outage": self.outages.append}
        opts.update(kw)
        handler = opts.pop("handler", self.events.append)
        self.feed = WsFeed("market", url, ["ticker"], ["BTC-USD"], handler, self.stop, **opts)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[WsFeed]:
        task = asyncio.create_task(self.feed.run())
        try:
            yield self.feed
        finally:
            self.stop.set()
            await asyncio.wait_for(task, 10)


def tickers(events: list[WsEvent]) -> list[Ticker]:
    return [e for e in events if isinstance(e, Ticker)]


@pytest.mark.parametrize("ending", ["close_1000", "close_1001", "close_1011", "drop"])
async def test_reconnects_and_resubscribes_after_each_close_kind(ending: str) -> None:
    async with ScriptedServer([Script(frames=6, ending=ending), Script()]) as server:
        h = Harness(server.url)
        async with h.running() as feed:
            await wait_until(lambda: feed.connects >= 2 and len(tickers(h.events)) >= 5)
            assert feed.reconnects >= 1
            assert h.reconciles[:2] == ["connect", "reconnect"]
            await wait_until(lambda: feed.connected)
        # every connection subscribed heartbeats first, then ticker, each with its own fresh JWT
        for subs in server.subscribes[:2]:
            assert [s["channel"] for s in subs[:2]] == ["heartbeats", "ticker"]
            assert subs[0]["product_ids"] == [] and subs[1]["product_ids"] == ["BTC-USD"]
        jwts = [s["jwt"] for subs in server.subscribes[:2] for s in subs[:2]]
        assert len(set(jwts)) == 4
        cause = {"close_1000": "close_1000", "close_1001": "close_1001", "close_1011": "close_1011",
                 "drop": "abnormal"}[ending]
        assert metric("bt_ws_reconnects_total", feed="market", cause=cause) >= 1


async def test_heartbeat_stall_is_torn_down_and_reconnected() -> None:
    async with ScriptedServer([Script(frames=4, ending="stall"), Script()]) as server:
        h = Harness(server.url)
        async with h.running() as feed:
            await wait_until(lambda: feed.connects >= 2)
            assert feed.reconnects >= 1 and "reconnect" in h.reconciles
        assert metric("bt_ws_reconnects_total", feed="market", cause="stall") >= 1


async def test_sequence_gap_signals_reconcile_and_resubscribes() -> None:
    async with ScriptedServer([Script(frames=20, skip_at=5, ending="none")]) as server:
        h = Harness(server.url)
        async with h.running() as feed:
            await wait_until(lambda: feed.gaps >= 1 and len(server.subscribes[0]) >= 3)
            assert "sequence_gap" in h.reconciles
            assert feed.reconcile_needed.is_set()
            assert server.subscribes[0][2]["channel"] == "ticker"  # resubscribed data channel, no heartbeats
            assert feed.connects == 1  # a gap does not drop the connection


async def test_handler_exceptions_never_kill_the_feed() -> None:
    seen: list[WsEvent] = []

    async def bad_handler(event: WsEvent) -> None:
        seen.append(event)
        if isinstance(event, Ticker):
            raise KeyError("boom")

    bad_frames = ["not json", "[]", '{"type":"error","message":"authentication failure"}',
                  '{"channel":"mystery","events":[{}]}', '{"channel":"ticker","events":[{"tickers":[{"x":1}]}]}']
    async with ScriptedServer([Script(frames=30, raw_frames=bad_frames)]) as server:
        h = Harness(server.url, handler=bad_handler)
        async with h.running() as feed:
            await wait_until(lambda: len([e for e in seen if isinstance(e, Ticker)]) >= 10)
            assert feed.handler_errors >= 10 and feed.connects == 1
            assert any(isinstance(e, Heartbeat) for e in seen)


async def test_outage_alerts_repeat_while_nothing_listens() -> None:
    h = Harness(f"ws://127.0.0.1:{unused_port()}")
    async with h.running() as feed:
        await wait_until(lambda: len(h.outages) >= 3)
        assert not feed.connected and feed.outage_alerts >= 3
        assert h.outages == sorted(h.outages)  # durations keep growing: one outage, several alerts


async def test_stop_ends_a_connected_feed() -> None:
    async with ScriptedServer([Script()]) as server:
        h = Harness(server.url)
        task = asyncio.create_task(h.feed.run())
        await wait_until(lambda: h.feed.connected)
        assert h.feed.last_message_at is not None
        h.stop.set()
        await asyncio.wait_for(task, 10)
        assert not h.feed.connected

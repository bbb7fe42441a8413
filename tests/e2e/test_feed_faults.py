"""While the daemon trades, the simulator injects each WebSocket/fill fault in turn.

Afterwards every exchange fill is recorded exactly once, the feeds reconnected within a bound after
every disconnecting fault, and the sentinel refused to act while its quotes were stale.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.metrics import STALE_QUOTES
from shared_data.models import Fill as FillRow
from shared_data.models import TradeRecord
from simulator.app import RunningSimulator
from tests.e2e.harness import Daemon, buy_alert, e2e_settings, eventually, running_daemon, start_test_simulator

PRODUCTS = ["BTC-USD", "ETH-USD", "SOL-USD"]
RECONNECT_BOUND_S = 15.0
# (fault kind, params, which feeds must reconnect). A heartbeat stall tears down only the user feed:
# the market feed keeps receiving tickers, which prove the connection alive and its data fresh.
FAULTS: list[tuple[str, dict[str, object], tuple[str, ...]]] = [
    ("ws_close", {"code": 1000}, ("market", "user")),
    ("ws_close", {"code": 1001}, ("market", "user")),
    ("ws_close", {"code": 1011}, ("market", "user")),
    ("ws_drop", {}, ("market", "user")),
    ("ws_stall_heartbeats", {"for_s": 4.0}, ("user",)),
    ("ws_skip_seq", {"skip": 2}, ()),
    ("ws_heartbeat_gap", {"skip": 3}, ()),
    ("ws_replay", {"count": 5}, ()),
    ("ws_omit_client_id", {"count": 5}, ()),
    ("ws_error_frame", {"count": 1}, ()),
    ("ws_unknown_message", {"count": 1}, ()),
    ("fills_lag", {"lag_s": 3.0, "count": 1}, ()),
]


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_test_simulator(Path(tmp_path_factory.mktemp("sim")), PRODUCTS, auto_tick=True,
                                         tick_interval_s=0.25, volatility=D("0.0002"))
    try:
        yield running
    finally:
        await running.stop()


def _rule_args(params: dict[str, object]) -> tuple[dict[str, object], dict[str, object]]:
    schedule = {k: params[k] for k in ("count", "for_s", "probability") if k in params}
    rest = {k: v for k, v in params.items() if k not in schedule}
    if not schedule:
        schedule = {"count": 1}
    return schedule, rest


async def _recorded_trade_ids(d: Daemon) -> set[str]:
    async with d.sessions() as session:
        return set((await session.execute(select(FillRow.trade_id))).scalars())


@pytest.mark.slow
async def test_every_fill_recorded_through_feed_faults(db_url: str, sim: RunningSimulator) -> None:
    settings = e2e_settings(ws_heartbeat_timeout_s=2.0, quote_max_age_s=1.5, fills_lag_retry_s=8.0)
    async with running_daemon(db_url, sim, settings) as d:
        market, user = d.parts["market_feed"], d.parts["user_feed"]
        feeds = {"market": market, "user": user}
        for i, (kind, params, must_reconnect) in enumerate(FAULTS):
            schedule, extra = _rule_args(params)
            before = {name: feed.reconnects for name, feed in feeds.items()}
            for path in ("/ws", "/ws/user"):  # both feeds get the fault
                sim.faults.add(kind, path=path, **schedule, **extra)  # type: ignore[arg-type]
            symbol = PRODUCTS[i % len(PRODUCTS)]
            status, body = await d.post_alert(buy_alert(symbol, notional="50", id=f"fault-{i}-{kind}"))
            assert status == 200, (kind, body)
            if must_reconnect:
                started = asyncio.get_running_loop().time()
                # `reconnects` counts disconnections; `connected` says the new session is up.
                await eventually(lambda b=before, m=must_reconnect: all(
                    feeds[n].reconnects > b[n] and feeds[n].connected for n in m),
                    timeout=RECONNECT_BOUND_S, what=f"{must_reconnect} reconnected after {kind}")
                took = asyncio.get_running_loop().time() - started
                assert took <= RECONNECT_BOUND_S
            marks = {name: _last_heartbeat(feed) for name, feed in feeds.items()}
            sim.faults.clear()
            # Each session sees a heartbeat, so one fault's backoff does not carry into the next (a session
            # that had one resets the backoff).
            await eventually(lambda m=marks: all(_last_heartbeat(f) not in (None, m[n]) for n, f in feeds.items()),
                             timeout=RECONNECT_BOUND_S, interval=0.05, what=f"a heartbeat on each feed after {kind}")

        # Staleness: with every message stalled, quotes age past QUOTE_MAX_AGE_S and the sentinel refuses.
        stale_before = STALE_QUOTES._value.get()
        orders_before = len(sim.engine.orders)
        for path in ("/ws", "/ws/user"):
            sim.faults.add("ws_stall_all", path=path, for_s=3.0)
        await eventually(lambda: STALE_QUOTES._value.get() > stale_before, timeout=10,
                         what="stale quotes refused")
        assert len(sim.engine.orders) == orders_before  # nothing was ordered on stale data
        sim.faults.clear()

        # Every exchange fill is recorded, once (fills.trade_id is the primary key).
        exchange_ids = {f["trade_id"] for f in sim.all_fills()}
        assert len(exchange_ids) >= len(FAULTS)
        await eventually(lambda: _covers(d, exchange_ids), timeout=40, what="all exchange fills recorded")
        async with d.sessions() as session:
            open_rows = (await session.execute(select(TradeRecord).where(
                TradeRecord.status.in_(["NEW", "PENDING", "OPEN"])))).scalars().all()
        assert [r.order_id for r in open_rows] == []
        await eventually(lambda: market.connected and user.connected, timeout=RECONNECT_BOUND_S,
                         what="feeds healthy at the end")


def _last_heartbeat(feed: Any) -> float | None:
    """When the feed last received a heartbeat (its monotonic clock); None on a session that has had none."""
    heartbeat: float | None = feed._last_heartbeat_mono
    return heartbeat


async def _covers(d: Daemon, exchange_ids: set[str]) -> bool:
    recorded = await _recorded_trade_ids(d)
    return exchange_ids <= recorded and len(recorded - exchange_ids) == 0

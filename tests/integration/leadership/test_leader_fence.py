"""Two gates on one real PostgreSQL: one leads, the other waits; the lock follows the connection;
a stale epoch fences the order manager inside the order-row transaction (nothing recorded or sent)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import SystemClock
from core.enums import OrderSource, Side
from core.settings import load_settings
from shared_data.db import to_plain_url
from shared_data.models import TradeRecord
from simulator.app import RunningSimulator, start_simulator
from tests.e2e.harness import eventually
from tests.integration.webhook.conftest import PRODUCT, adapter_config, sim_config
from webhook.leadership import LeadershipGate, NotLeader
from webhook.order_intent import IntentKind, OrderIntent
from webhook.order_manager import OrderManager


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(sim_config(Path(tmp_path_factory.mktemp("sim"))))
    try:
        yield running
    finally:
        await running.stop()


def _gate(db_url: str, name: str, lost: list[str], lease_s: float = 3.0) -> LeadershipGate:
    return LeadershipGate(db_url, SystemClock(), lease_s=lease_s, retry_interval_s=0.2, holder=name,
                          on_lost=lost.append)


def _buy(key: str, symbol: str = "BTC-USD") -> OrderIntent:
    return OrderIntent(symbol, Side.BUY, IntentKind.MARKET, OrderSource.WEBHOOK, key, quote_size=D("20"))


async def _events(db_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(to_plain_url(db_url))
    try:
        return await conn.fetch("SELECT epoch, event, holder, previous_holder FROM leadership_events ORDER BY id")
    finally:
        await conn.close()


async def _rows(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(TradeRecord))).scalar_one())


async def test_one_leader_then_takeover_fences_the_old_one(db_url: str, db_sessions: async_sessionmaker[AsyncSession],
                                                         sim: RunningSimulator) -> None:
    from exchange.coinbase.rest import CoinbaseRestAdapter

    lost_a: list[str] = []
    lost_b: list[str] = []
    a, b = _gate(db_url, "A", lost_a), _gate(db_url, "B", lost_b)
    try:
        assert await a.start() is True
        assert await b.start() is False
        assert a.is_leader and not b.is_leader and a.fence.epoch is not None
        epoch_a = a.fence.epoch

        adapter = CoinbaseRestAdapter(adapter_config(sim, sim.create_api_key()))
        settings = load_settings()
        orders_a = OrderManager(adapter, db_sessions, settings, SystemClock(), fence=a.fence)
        orders_b = OrderManager(adapter, db_sessions, settings, SystemClock(), fence=b.fence)
        placed = await orders_a.place(_buy("fence:a-1", PRODUCT))
        assert placed.ok and placed.order_id, placed
        sim_orders = len(sim.engine.orders)

        # A standby never sends: NOT_LEADER, no row, no exchange order.
        rows = await _rows(db_sessions)
        refused = await orders_b.place(_buy("fence:b-standby"))
        assert (refused.ok, refused.error) == (False, "NOT_LEADER")
        assert await _rows(db_sessions) == rows and len(sim.engine.orders) == sim_orders

        # A's lock connection dies (process gone): B takes the lock at its next attempt, epoch + 1.
        assert a.lock.conn is not None
        a.lock.conn.terminate()
        stop = asyncio.Event()
        b_run = asyncio.create_task(b.run(stop))
        try:
            await eventually(lambda: b.is_leader, timeout=10, what="B leads")
            assert b.fence.epoch == epoch_a + 1
            # A still believes it leads (a zombie): its next placement is refused inside the
            # transaction, and it is told to step down.
            assert a.fence.epoch == epoch_a
            zombie = await orders_a.place(_buy("fence:a-zombie"))
            assert (zombie.ok, zombie.error) == (False, "NOT_LEADER")
            assert lost_a and "another process has taken over" in lost_a[0]
            assert await _rows(db_sessions) == rows and len(sim.engine.orders) == sim_orders
            # The new leader places normally.
            ok = await orders_b.place(_buy("fence:b-1"))
            assert ok.ok, ok
            assert len(sim.engine.orders) == sim_orders + 1
            with pytest.raises(NotLeader):
                await a.fence.check_alone(db_sessions)
        finally:
            stop.set()
            await asyncio.wait_for(b_run, 10)
        events = await _events(db_url)
        assert [(e["event"], e["holder"]) for e in events] == [("takeover", "A"), ("takeover", "B"), ("resigned", "B")]
        assert events[1]["previous_holder"] == "A" and events[1]["epoch"] == epoch_a + 1
        assert not lost_b
    finally:
        await a.lock.close()
        await b.lock.close()


async def test_paused_leader_loses_the_lock_by_itself(db_url: str) -> None:
    """The server ends a silent lock session after the lease (idle_session_timeout): nobody has to
    kill a paused leader for a standby to take over."""
    lost: list[str] = []
    a, b = _gate(db_url, "P", lost, lease_s=1.0), _gate(db_url, "Q", lost, lease_s=1.0)
    try:
        assert await a.start() is True
        assert await b.start() is False
        # A sends no heartbeat (as if SIGSTOPped); B keeps trying.
        await eventually(b.lock.try_acquire, timeout=15, interval=0.2, what="B takes the lock")
    finally:
        await a.lock.close()
        await b.lock.close()



async def test_a_single_leader_that_loses_its_session_takes_the_lock_back(db_url: str) -> None:
    """Nobody else took over (epoch unchanged): the lone leader regains the lock and carries on."""
    lost: list[str] = []
    a = _gate(db_url, "solo", lost, lease_s=1.5)
    stop = asyncio.Event()
    try:
        assert await a.start() is True
        epoch = a.fence.epoch
        task = asyncio.create_task(a.run(stop))
        conn = await asyncpg.connect(to_plain_url(db_url))
        try:
            assert await conn.fetchval(
                # this database only: a concurrent run on the same server has its own "solo" session
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name LIKE 'bottrader-webhook-lock:solo%'")
            await eventually(lambda: conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name LIKE 'bottrader-webhook-lock:solo%'"),
                timeout=15, what="lock session re-opened")
            held = await eventually(lambda: conn.fetchval(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' "
                "AND a.datname = current_database() AND a.application_name LIKE 'bottrader-webhook-lock:solo%'"),
                timeout=15, what="lock held again")
            assert held == 1
        finally:
            await conn.close()
        assert a.is_leader and a.fence.epoch == epoch and not lost
        stop.set()
        await asyncio.wait_for(task, 10)
    finally:
        await a.lock.close()


async def test_an_alert_stored_by_a_standby_wakes_the_leaders_worker(
        db_url: str, db_sessions: async_sessionmaker[AsyncSession]) -> None:
    from webhook.leadership.alert_wake import CHANNEL, AlertWake

    lost: list[str] = []
    a, b = _gate(db_url, "wake-a", lost), _gate(db_url, "wake-b", lost)
    woken: list[str] = []
    stop = asyncio.Event()
    try:
        assert await a.start() is True
        assert await b.start() is False
        a_wake = AlertWake(a, lambda: woken.append("leader"), db_sessions)
        b_wake = AlertWake(b, lambda: woken.append("standby-local"), db_sessions)
        a.listen(CHANNEL, a_wake.on_notify)
        task = asyncio.create_task(a.run(stop))  # registers the listener on the lock connection
        await asyncio.sleep(0.3)
        b_wake()  # the standby's alert endpoint after its commit
        await eventually(lambda: woken, timeout=10, what="leader's worker woken")
        assert woken == ["leader"]
        a_wake()  # on the leader itself: its own worker, directly
        assert woken == ["leader", "leader"]
        stop.set()
        await asyncio.wait_for(task, 10)
    finally:
        await a.lock.close()
        await b.lock.close()
